"""PPE correctness data: load a Best-of-K set, validate its rows and join them with conflict pairs.

A PPE Best-of-K row (``lmarena-ai/PPE-{MMLU-Pro,GPQA,MATH}-Best-of-K``, split ``train``, 512 rows each) holds one
benchmark prompt, 32 model responses ``response_1`` … ``response_32`` and ``scores``, 32 correctness booleans. A
*conflict pair* ``[i, j]`` names two responses (0-based) of which exactly one is correct.

Pairs come from one of two places:

* the published pairs shipped in this package (``{MATH,MMLU,GPQA}_conflict_pairs.json``): a JSON list with one entry
  per dataset row, *in the hub's row order*, each entry five ``[i, j]`` pairs; round r uses pair r−1 of every row;
* a pairs file drawn by :func:`draw_pairs` (``rrm-eval ppe-pairs``): a JSON object that also lists the question id of
  every entry, so a local copy in another row order is caught instead of silently mislabelled.

Question rule (shared/design/REFERENCE.md; the published evaluation's ``run_generative.py`` at LMOps commit
c81974c): the judge sees the PPE prompt cut at the FIRST occurrence of the subset's marker — ``<problem>`` (MATH),
``Question:`` (MMLU-Pro), ``Question`` (GPQA, case-sensitive, no colon) — keeping everything after it, with leading
and trailing whitespace stripped. Nothing after the question (closing tags, answer-format lines) is removed: that is
exactly the text the published runs showed the judge, so their numbers stay comparable. A prompt without its marker
is a data error. Subsets without a marker (IFEval, MBPP-Plus) show the whole prompt, stripped.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rrm_eval._errors import DataError, RRMError, UnknownNameError
from rrm_eval._seeding import stable_hash, stable_rng
from rrm_eval.tasks._loading import fingerprint_rows, load_hub, read_rows, require_text

HUB_SPLIT = "train"
#: Pairs per prompt in the published files, so rounds 1..5.
PUBLISHED_ROUNDS = 5
#: Bumped whenever the question rule changes, so runs made under another rule never resume into this one.
QUESTION_RULE = "first-marker-rest-stripped/v1"
LOCAL_SUFFIXES = (".parquet", ".jsonl", ".json")


@dataclass(frozen=True)
class PPESubset:
    """One PPE Best-of-K set: its short name (as in the published run names), hub dataset, question marker and the
    shipped pairs file (None where no published pairs exist)."""

    name: str
    hub: str
    marker: str | None
    pairs_file: str | None
    aliases: tuple[str, ...] = ()

    @property
    def local_stems(self) -> tuple[str, ...]:
        """File names (without suffix) a local copy may have inside a data folder."""
        return (self.name, self.hub.rsplit("/", 1)[-1])


SUBSETS: dict[str, PPESubset] = {
    s.name: s
    for s in (
        PPESubset("MATH", "lmarena-ai/PPE-MATH-Best-of-K", "<problem>", "MATH_conflict_pairs.json"),
        PPESubset("MMLU", "lmarena-ai/PPE-MMLU-Pro-Best-of-K", "Question:", "MMLU_conflict_pairs.json", ("MMLU-Pro",)),
        PPESubset("GPQA", "lmarena-ai/PPE-GPQA-Best-of-K", "Question", "GPQA_conflict_pairs.json"),
        # No published pairs: draw them with `rrm-eval ppe-pairs` and pass --pairs.
        PPESubset("IFEval", "lmarena-ai/PPE-IFEval-Best-of-K", None, None),
        PPESubset("MBPP-Plus", "lmarena-ai/PPE-MBPP-Plus-Best-of-K", None, None, ("MBPP",)),
    )
}


def resolve_subset(name: str) -> PPESubset:
    """``MATH``, ``math``, ``MMLU-Pro``, ... -> the subset (case-insensitive; aliases accepted)."""
    wanted = name.strip().lower()
    for s in SUBSETS.values():
        if wanted in (n.lower() for n in (s.name, *s.aliases)):
            return s
    raise UnknownNameError("PPE subset", name, SUBSETS)


# -- rows ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PPERow:
    index: int  # 0-based row index = the index of this row's entry in a pairs file
    question_id: str
    prompt: str
    question: str
    responses: tuple[str, ...]
    scores: tuple[bool, ...]
    model_name: str | None = None

    @property
    def label(self) -> str:
        return row_label(self.index, self.question_id)


def row_label(index: int, question_id: Any = None) -> str:
    return f"#{index}" if question_id is None else f"#{index} (question_id {question_id})"


def extract_question(prompt: str, marker: str | None) -> str:
    """The question shown to the judge (module docstring). Raises ValueError when there is none."""
    if marker is None:
        question = prompt.strip()
    else:
        at = prompt.find(marker)
        if at < 0:
            raise ValueError(f"no {marker!r} marker to cut the question at")
        question = prompt[at + len(marker) :].strip()
    if not question:
        raise ValueError(f"nothing after the {marker!r} marker" if marker else "empty prompt")
    return question


def _score(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    return None


def validate_row(raw: Any, index: int, source: str, subset: PPESubset) -> PPERow:
    """Check one row and turn it into a :class:`PPERow`; a :class:`DataError` names the row and field."""
    if not isinstance(raw, dict):
        raise DataError(source, row_label(index), "row", f"expected an object, got {type(raw).__name__}")
    qid = raw.get("question_id")
    if qid is None or isinstance(qid, bool) or not isinstance(qid, (str, int)) or str(qid).strip() == "":
        raise DataError(source, row_label(index), "question_id", "missing" if qid is None else f"invalid: {qid!r}")
    qid = str(qid)
    label = row_label(index, qid)
    prompt = require_text(source, label, raw, "prompt")
    scores_raw = raw.get("scores")
    if not isinstance(scores_raw, (list, tuple)):
        problem = "missing" if scores_raw is None else f"expected a list of booleans, got {type(scores_raw).__name__}"
        raise DataError(source, label, "scores", problem)
    scores = []
    for k, v in enumerate(scores_raw):
        b = _score(v)
        if b is None:
            raise DataError(source, label, "scores", f"entry {k} is {v!r}, expected true/false (or 1/0)")
        scores.append(b)
    k_responses = len(scores)
    if k_responses < 2:
        raise DataError(source, label, "scores", f"has {k_responses} entries; a Best-of-K row needs at least 2")
    responses = []
    for k in range(1, k_responses + 1):
        field = f"response_{k}"
        if field not in raw or raw[field] is None:
            raise DataError(source, label, field, f"missing (the row has {k_responses} scores)")
        if not isinstance(raw[field], str):
            raise DataError(source, label, field, f"expected text, got {type(raw[field]).__name__}")
        responses.append(raw[field])  # an empty response is real data (a model that said nothing): kept
    if f"response_{k_responses + 1}" in raw:
        extra = sum(1 for key in raw if key.startswith("response_"))
        raise DataError(source, label, "scores", f"has {k_responses} entries but the row has {extra} responses")
    try:
        question = extract_question(prompt, subset.marker)
    except ValueError as exc:
        raise DataError(source, label, "prompt", str(exc)) from None
    model = raw.get("model_name")
    return PPERow(
        index, qid, prompt, question, tuple(responses), tuple(scores), model if isinstance(model, str) else None
    )


def find_local_copy(folder: str | Path, subset: PPESubset) -> Path:
    """The one file in ``folder`` that holds ``subset``: ``MATH.jsonl``, ``PPE-MATH-Best-of-K.parquet``, ..."""
    folder = Path(folder)
    names = [stem + suffix for stem in subset.local_stems for suffix in LOCAL_SUFFIXES]
    found = sorted({(folder / n).resolve() for n in names if (folder / n).is_file()})
    if not found:
        raise RRMError(
            f"no local copy of PPE {subset.name} in {folder}",
            hint=f"save {subset.hub} (split {HUB_SPLIT}) there as one of: {', '.join(names)}",
        )
    if len(found) > 1:
        raise RRMError(
            f"{folder} holds several copies of PPE {subset.name}: {', '.join(p.name for p in found)}",
            hint="keep one, or pass the file itself with --data",
        )
    return found[0]


def load_raw_rows(subset: PPESubset, data: str | Path | None) -> tuple[list[Any], str]:
    """Rows of the hub set (``data`` None), a local file, or the subset's file inside a local folder."""
    if data is None:
        return load_hub(subset.hub, HUB_SPLIT), f"{subset.hub}:{HUB_SPLIT}"
    path = Path(data)
    if path.is_dir():
        path = find_local_copy(path, subset)
    return read_rows(path), str(path)


# -- pairs --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairsFile:
    """Pairs per row (in row order). ``question_ids`` (drawn files only) name the row each entry was drawn for."""

    pairs: tuple[tuple[tuple[int, int], ...], ...]
    source: str
    question_ids: tuple[str, ...] | None = None

    @property
    def max_rounds(self) -> int:
        return max((len(e) for e in self.pairs), default=0)

    def fingerprint(self) -> str:
        return stable_hash(json.dumps([list(map(list, e)) for e in self.pairs]), self.question_ids)[:16]


def _parse_pairs(data: Any, source: str) -> PairsFile:
    qids = None
    if isinstance(data, dict):
        if "pairs" not in data:
            raise RRMError(f"{source}: a pairs object needs a 'pairs' list", hint="write it with rrm-eval ppe-pairs")
        qids = data.get("question_ids")
        data = data["pairs"]
        if qids is not None:
            if not isinstance(qids, list) or not isinstance(data, list) or len(qids) != len(data):
                raise RRMError(f"{source}: 'question_ids' must be a list as long as 'pairs'")
            qids = tuple(str(q) for q in qids)
    if not isinstance(data, list):
        raise RRMError(f"{source}: expected a list with one entry of [i, j] pairs per dataset row")
    entries = []
    for n, entry in enumerate(data):
        if not isinstance(entry, list):
            raise RRMError(f"{source}: entry {n} is not a list of [i, j] pairs")
        pairs = []
        for p in entry:
            ok = (
                isinstance(p, list)
                and len(p) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in p)
            )
            if not ok:
                raise RRMError(f"{source}: entry {n}: {p!r} is not a pair of two response indices (0-based)")
            if p[0] == p[1]:
                raise RRMError(f"{source}: entry {n}: pair {p} compares a response with itself")
            pairs.append((p[0], p[1]))
        entries.append(tuple(pairs))
    return PairsFile(tuple(entries), source, qids)


def read_pairs(path: str | Path) -> PairsFile:
    p = Path(path)
    if not p.is_file():
        raise RRMError(f"pairs file {str(path)!r} does not exist")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RRMError(f"{p}: not valid JSON ({exc})") from exc
    return _parse_pairs(data, str(p))


def published_pairs(subset: PPESubset) -> PairsFile:
    """The pairs the published RRM runs used (shipped with rrm-eval)."""
    if subset.pairs_file is None:
        raise RRMError(
            f"there are no published conflict pairs for PPE {subset.name}",
            hint=f"draw some with rrm-eval ppe-pairs --subset {subset.name} --output FILE, then pass --pairs FILE",
        )
    text = (resources.files(__package__) / subset.pairs_file).read_text(encoding="utf-8")
    return _parse_pairs(json.loads(text), f"published:{subset.pairs_file}")


def draw_pairs(rows: list[PPERow], per_prompt: int = 5, seed: int = 0, unique: bool = False) -> list[list[list[int]]]:
    """Fresh conflict pairs: ``per_prompt`` pairs of (one correct, one incorrect) response per row.

    Each pair is drawn independently, as the published pairs evidently were (they repeat some pairs), unless
    ``unique``, which draws without repetition (a row then gets at most #correct × #incorrect pairs). Which response
    comes first in a pair is a coin flip. The randomness is seeded from (seed, question id), so a row gets the same
    pairs whatever the row order. A row with no correct or no incorrect response gets no pairs (an empty entry)."""
    if per_prompt < 1:
        raise RRMError(f"pairs per prompt must be at least 1, got {per_prompt}")
    out = []
    for row in rows:
        good = [k for k, s in enumerate(row.scores) if s]
        bad = [k for k, s in enumerate(row.scores) if not s]
        if not good or not bad:
            out.append([])
            continue
        rng = stable_rng("ppe-pairs", seed, row.question_id)
        if unique:
            picks = rng.sample(range(len(good) * len(bad)), min(per_prompt, len(good) * len(bad)))
            combos = [(good[x // len(bad)], bad[x % len(bad)]) for x in picks]
        else:
            combos = [(rng.choice(good), rng.choice(bad)) for _ in range(per_prompt)]
        out.append([[c, w] if rng.random() < 0.5 else [w, c] for c, w in combos])
    return out


def duplicate_count(pairs: PairsFile) -> int:
    """Pairs that repeat an earlier pair of the same row ([i, j] and [j, i] count as the same pair)."""
    return sum(len(e) - len({frozenset(p) for p in e}) for e in pairs.pairs)


# -- the join -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConflictPair:
    """Round ``round``'s pair of one row: responses ``pair`` = (i, j) as listed, ``chosen`` the correct one."""

    row: PPERow
    round: int
    pair: tuple[int, int]
    chosen: int
    rejected: int


@dataclass
class JoinResult:
    pairs: list[ConflictPair]  # round-major: every row's round-1 pair, then round 2, ...
    source: str
    fingerprint: str
    n_rows: int
    dropped: dict[str, int]


def _error(source: str, row: str, field: str, problem: str, reason: str, hint: str | None = None) -> DataError:
    """A DataError with a short ``reason`` (the key under which --skip-bad-rows counts it) and an optional hint."""
    err = DataError(source, row, field, problem)
    err.reason = reason  # type: ignore[attr-defined]
    if hint:
        err.hint = hint
    return err


def _field_of(exc: DataError) -> str:
    """'bad <field>' from a DataError message "source: row R: field 'F': problem"."""
    marker = ": field '"
    at = exc.message.find(marker)
    return "bad " + exc.message[at + len(marker) :].split("'", 1)[0] if at >= 0 else "bad row"


_ORDER_HINT = (
    "pairs are joined by row order: use the full set in the hub's row order (split train), fix the row, "
    "or pass --skip-bad-rows to drop it"
)


def label_pair(row: PPERow, round_: int, pair: tuple[int, int], source: str) -> ConflictPair:
    i, j = pair
    field = f"pairs[round {round_}]"
    for k in (i, j):
        if k >= len(row.responses):
            raise _error(
                source,
                row.label,
                field,
                f"pair [{i}, {j}]: index {k} is out of range (the row has "
                f"{len(row.responses)} responses, indices 0..{len(row.responses) - 1})",
                reason="pair index out of range",
            )
    if row.scores[i] == row.scores[j]:
        both = "correct" if row.scores[i] else "wrong"
        raise _error(
            source,
            row.label,
            field,
            f"pair [{i}, {j}] is not a conflict: both responses are {both}",
            reason=f"pair not a conflict (both {both})",
            hint=_ORDER_HINT,
        )
    chosen, rejected = (i, j) if row.scores[i] else (j, i)
    return ConflictPair(row, round_, (i, j), chosen, rejected)


def join_pairs(
    raw_rows: list[Any],
    pairs: PairsFile,
    subset: PPESubset,
    rounds: list[int],
    source: str,
    limit: int | None = None,
    skip_bad_rows: bool = False,
) -> JoinResult:
    """Validate rows and label each selected round's pair (chosen = the correct response, per ``scores``).

    ``limit`` keeps the first N rows (every selected round gets N pairs). With ``skip_bad_rows`` a bad row loses all
    its pairs and is counted under its reason in ``dropped``; without it the first bad row stops the load. The row
    count must match the pairs file whatever the options: a shorter copy would shift every later pair."""
    if len(pairs.pairs) != len(raw_rows):
        raise RRMError(
            f"{pairs.source} has {len(pairs.pairs)} entries but {source} has {len(raw_rows)} rows",
            hint="the published pairs fit the full 512-row sets in hub order; for a smaller copy pass --pairs FILE",
        )
    by_round: dict[int, list[ConflictPair]] = {r: [] for r in rounds}
    dropped: Counter[str] = Counter()
    seen: dict[str, int] = {}
    stop = len(raw_rows) if limit is None else min(limit, len(raw_rows))
    for n in range(stop):
        try:
            row = validate_row(raw_rows[n], n, source, subset)
            if row.question_id in seen:
                raise _error(
                    source,
                    row.label,
                    "question_id",
                    f"duplicate of row #{seen[row.question_id]}",
                    reason="duplicate question_id",
                )
            if pairs.question_ids is not None and pairs.question_ids[n] != row.question_id:
                raise _error(
                    source,
                    row.label,
                    "question_id",
                    f"{pairs.source} drew entry {n} for question_id {pairs.question_ids[n]}: the rows are not in "
                    "the order the pairs were drawn from",
                    reason="question_id does not match the pairs file",
                    hint="use the copy the pairs were drawn from, or draw pairs for this copy (rrm-eval ppe-pairs)",
                )
            seen[row.question_id] = n
            entry = pairs.pairs[n]
            if not entry:  # a drawn file's row without any conflict: nothing to judge
                dropped["no conflict pair"] += 1
                continue
            labelled = []
            for r in rounds:
                if r > len(entry):
                    raise _error(
                        source,
                        row.label,
                        f"pairs[round {r}]",
                        f"{pairs.source} has only {len(entry)} pairs for it",
                        reason=f"fewer than {r} pairs",
                    )
                labelled.append(label_pair(row, r, entry[r - 1], source))
        except DataError as exc:
            if not skip_bad_rows:
                raise
            dropped[getattr(exc, "reason", None) or _field_of(exc)] += 1
            continue
        for cp in labelled:
            by_round[cp.round].append(cp)
    fingerprint = stable_hash(fingerprint_rows(raw_rows), pairs.fingerprint(), QUESTION_RULE, subset.name)[:16]
    ordered = [cp for r in rounds for cp in by_round[r]]
    return JoinResult(ordered, source, fingerprint, stop, dict(dropped))


def pairs_document(
    subset: PPESubset, source: str, rows: list[PPERow], pairs: list[list[list[int]]], seed: int, unique: bool
) -> dict[str, Any]:
    """The JSON object ``rrm-eval ppe-pairs`` writes (readable by :func:`read_pairs`)."""
    return {
        "subset": subset.name,
        "source": source,
        "seed": seed,
        "unique": unique,
        "pairs_per_prompt": max((len(e) for e in pairs), default=0),
        "question_ids": [r.question_id for r in rows],
        "pairs": pairs,
    }

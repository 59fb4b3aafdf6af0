"""Candidate sets: N answers to one problem, to be ranked by a tournament and scored by best-of-N accuracy.

Three sources are read into :class:`~rrm_eval.tasks.CandidateSet`:

* ``jsonl`` — our own format, one set per line (see ``docs/tournaments.md``)::

      {"id": "algebra-17", "question": "...", "reference": "4", "subset": "algebra",
       "candidates": [{"id": "s0", "text": "... \\boxed{4}", "answer": "4", "correct": true}, ...]}

  ``reference``, ``subset``, ``meta`` and each candidate's ``answer``, ``correct`` and ``meta`` are optional: a missing
  ``answer`` is the last ``\\boxed{}`` of the text, a missing ``correct`` is graded against ``reference`` with
  math-verify (an error when there is no reference).
* ``qwen-math`` — the Qwen2.5-Math evaluation toolkit's output, one jsonl per sampling seed (fields ``idx``,
  ``question``, ``code`` = the generation(s), ``pred``, ``gt``, ``score``), joined by ``idx`` into sets: file k gives
  candidate ``seed<k>`` (the seed number parsed from the file name, as in ``..._seed3_t0.6_...jsonl``).
* ``ppe`` — PPE Best-of-K rows (``question_id``, ``prompt``, ``response_1`` … ``response_K``, ``scores``), validated
  and cut to the question by :mod:`rrm_eval.ppe_dataset` (the subset's marker): candidate ``response_<k>`` sits at
  position k-1, the position knockout bracket files refer to.

Every set is validated the same way: at least two candidates, unique candidate ids, known correctness; an error
names the problem id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from rrm_eval._errors import DataError, RRMError
from rrm_eval.tasks._items import Candidate, CandidateSet
from rrm_eval.tasks._loading import fingerprint_rows, read_rows

CANDIDATE_FORMATS = ("auto", "jsonl", "qwen-math", "ppe")
_SEED_IN_NAME = re.compile(r"seed(\d+)")


# -- answers ----------------------------------------------------------------------------------------------------
def extract_boxed(text: str | None) -> str | None:
    """Content of the LAST ``\\boxed{...}`` (or ``\\fbox{...}``), braces matched so ``\\frac{1}{2}`` survives.
    Also reads the brace-less ``\\boxed 5``. None when there is no box."""
    if not text:
        return None
    last: str | None = None
    for m in re.finditer(r"\\(?:boxed|fbox)(?![A-Za-z])", text):
        rest = text[m.end() :]
        body = rest.lstrip()
        if body.startswith("{"):
            start = m.end() + len(rest) - len(body) + 1
            depth, i = 1, start
            while i < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
            if depth == 0:
                last = text[start : i - 1].strip()
        elif (token := re.match(r"\s+([^\s$\\}]+)", rest)) is not None:
            last = token.group(1)
    return last


_STRIP = [
    (re.compile(r"\\(?:left|right|!|,|;|:|displaystyle)"), ""),
    (re.compile(r"\\[dt]frac"), r"\\frac"),
    (re.compile(r"\\text\s*\{\s*([^{}]*)\}"), r"\1"),
    (re.compile(r"\^\s*\{?\\circ\}?|°"), ""),
    (re.compile(r"\s+"), ""),
]


def normalize_answer(answer: str) -> str:
    """A cheap canonical string (spacing, ``\\left``, ``\\dfrac``, ``\\text{}``, degrees, ``$``, final period) used
    before the slower math-verify comparison."""
    s = answer.replace("\\$", "").replace("$", "").strip().rstrip(".").strip()
    for pattern, repl in _STRIP:
        s = pattern.sub(repl, s)
    return s


def _math(s: str) -> str:
    return s if "$" in s or "\\boxed" in s else f"${s}$"


def answers_match(answer: str | None, reference: str | None) -> bool:
    """Mathematical equivalence via math-verify (``verify(parse(gold), parse(pred))``), with an exact-string fast
    path; an answer math-verify cannot parse falls back to the normalized string comparison."""
    if answer is None or reference is None:
        return False
    a, r = normalize_answer(answer), normalize_answer(reference)
    if a and a == r:
        return True
    from math_verify import parse, verify

    gold, pred = parse(_math(reference)), parse(_math(answer))
    if not gold or not pred:
        return False
    return bool(verify(gold, pred))


# -- answer groups (answer-aware tournaments) -------------------------------------------------------------------
#: A multiple-choice answer: one capital letter A-J, optionally in parentheses or \text{}.
_LETTER = re.compile(r"^\(?([A-J])\)?$")
#: "the answer is (C)" as MMLU-Pro chain-of-thought samples end, when nothing is boxed.
_ANSWER_IS = re.compile(r"answer\s+is:?\s*\(?([A-J])\)?(?![A-Za-z])", re.IGNORECASE)


def choice_letter(answer: str | None) -> str | None:
    """The option letter when ``answer`` is a multiple-choice answer (``C``, ``(C)``, ``\text{C}``), else None."""
    if answer is None:
        return None
    m = _LETTER.match(normalize_answer(answer))
    return m.group(1) if m else None


def final_answer(text: str | None, answer: str | None = None) -> str | None:
    """The answer a candidate committed to: ``answer`` when given, else the last ``\boxed{}`` of the text, else the
    letter of the last "the answer is (X)" (multiple-choice samples)."""
    if answer is not None and answer.strip():
        return answer
    boxed = extract_boxed(text)
    if boxed is not None:
        return boxed
    found = _ANSWER_IS.findall(text or "")
    return found[-1].upper() if found else None


@lru_cache(maxsize=65536)
def same_answer(a: str, b: str) -> bool:
    """Whether two final answers are the same: letters compare as letters; anything else by normalized string,
    then math-verify equivalence both ways round (``verify`` is not symmetric for every pair). Cached, because a
    grouping compares the same few values many times."""
    la, lb = choice_letter(a), choice_letter(b)
    if la is not None or lb is not None:
        return la == lb
    return answers_match(a, b) or answers_match(b, a)


def answer_groups(candidates: Sequence[Candidate]) -> list[tuple[str, ...]]:
    """Candidate ids grouped by equal final answers (:func:`final_answer`, :func:`same_answer` against each group's
    first member), groups in order of first appearance. A candidate without an answer is a group of its own: it
    cannot be shown equal to anything."""
    groups: list[list[str]] = []
    heads: list[str] = []
    for c in candidates:
        ans = final_answer(c.text, c.answer)
        if ans is None:
            groups.append([c.id])
            heads.append("")
            continue
        for i, head in enumerate(heads):
            if head and same_answer(ans, head):
                groups[i].append(c.id)
                break
        else:
            groups.append([c.id])
            heads.append(ans)
    return [tuple(g) for g in groups]


# -- building and validating sets ---------------------------------------------------------------------------------
def _as_bool(value: Any, source: str, row: str, name: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise DataError(source, row, name, f"expected true/false, got {value!r}")


def _candidate(
    set_id: str,
    reference: str | None,
    source: str,
    cid: str,
    text: str,
    answer: str | None,
    correct: bool | None,
    meta: dict[str, Any] | None = None,
) -> Candidate:
    if answer is None:
        answer = extract_boxed(text)
    if correct is None:
        if reference is None:
            raise RRMError(
                f"{source}: problem {set_id!r}: candidate {cid!r} has no 'correct' field and the problem has no "
                "reference answer to grade it against",
                hint="add 'correct' to each candidate or 'reference' to the problem",
            )
        correct = answers_match(answer, reference)
    return Candidate(cid, text, answer, correct, dict(meta or {}))


def validate_set(cs: CandidateSet, source: str) -> CandidateSet:
    if len(cs.candidates) < 2:
        raise RRMError(
            f"{source}: problem {cs.id!r} has {len(cs.candidates)} candidate(s); a tournament needs at least 2",
            hint="drop the problem or add candidates",
        )
    seen: set[str] = set()
    for c in cs.candidates:
        if c.id in seen:
            raise RRMError(f"{source}: problem {cs.id!r}: duplicate candidate id {c.id!r}", hint="make ids unique")
        seen.add(c.id)
        if c.correct is None:
            raise RRMError(f"{source}: problem {cs.id!r}: candidate {c.id!r} has unknown correctness")
    return cs


def set_to_row(cs: CandidateSet) -> dict[str, Any]:
    """The jsonl form of a set (the inverse of the ``jsonl`` loader)."""
    row: dict[str, Any] = {"id": cs.id, "question": cs.question, "reference": cs.reference}
    if cs.subset:
        row["subset"] = cs.subset
    row["candidates"] = [
        {"id": c.id, "text": c.text, "answer": c.answer, "correct": c.correct, **({"meta": c.meta} if c.meta else {})}
        for c in cs.candidates
    ]
    if cs.meta:
        row["meta"] = cs.meta
    return row


def write_candidate_sets(path: str | Path, sets: Iterable[CandidateSet]) -> Path:
    """Write sets as our jsonl, atomically (a reader never sees half a file)."""
    import os
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for cs in sets:
            fh.write(json.dumps(set_to_row(cs), ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


# -- the three formats ----------------------------------------------------------------------------------------------
def sets_from_rows(rows: Sequence[dict[str, Any]], source: str) -> list[CandidateSet]:
    """Our jsonl format."""
    out = []
    for n, row in enumerate(rows):
        if row.get("id") is None:
            raise DataError(source, f"#{n}", "id", "missing")
        sid = str(row["id"])
        question = row.get("question")
        if not isinstance(question, str) or not question.strip():
            raise DataError(source, sid, "question", "missing or empty")
        reference = None if row.get("reference") is None else str(row["reference"])
        cands = row.get("candidates")
        if not isinstance(cands, list):
            raise DataError(source, sid, "candidates", "expected a list of {id, text, ...} objects")
        built = []
        for k, c in enumerate(cands):
            if not isinstance(c, dict) or not isinstance(c.get("text"), str):
                raise DataError(source, sid, f"candidates[{k}]", "expected an object with a 'text' string")
            cid = str(c.get("id", k))
            answer = None if c.get("answer") is None else str(c["answer"])
            correct = _as_bool(c.get("correct"), source, sid, f"candidates[{k}].correct")
            built.append(_candidate(sid, reference, source, cid, c["text"], answer, correct, c.get("meta")))
        subset = str(row.get("subset") or "")
        cs = CandidateSet(sid, question, tuple(built), reference, subset, dict(row.get("meta") or {}))
        out.append(validate_set(cs, source))
    return out


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _qwen_files(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.glob("*.jsonl")) if p.is_dir() else [p])
    if not files:
        raise RRMError(f"no .jsonl files in {', '.join(paths)}", hint="pass the toolkit's per-seed output files")
    seeds = [_SEED_IN_NAME.search(f.name) for f in files]
    if all(seeds):  # sort numerically: seed10 after seed9
        files = [f for _, f in sorted(zip([int(m.group(1)) for m in seeds], files, strict=True))]  # type: ignore[union-attr]
    return files


def sets_from_qwen_math(paths: Sequence[str]) -> tuple[list[CandidateSet], list[dict[str, Any]]]:
    """Join per-seed toolkit outputs by ``idx``. Returns the sets and the raw rows (for the fingerprint)."""
    files = _qwen_files(paths)
    bucket: dict[str, dict[str, Any]] = {}
    all_rows: list[dict[str, Any]] = []
    for k, f in enumerate(files):
        m = _SEED_IN_NAME.search(f.name)
        base = f"seed{m.group(1)}" if m else f"file{k}"
        source = str(f)
        seen: set[str] = set()
        for n, row in enumerate(read_rows(f)):
            all_rows.append(row)
            if row.get("idx") is None:
                raise DataError(source, f"#{n}", "idx", "missing")
            sid = str(row["idx"])
            if sid in seen:
                raise DataError(source, sid, "idx", "appears twice in one seed file")
            seen.add(sid)
            entry = bucket.setdefault(
                sid, {"question": row.get("question"), "gt": row.get("gt"), "cands": [], "source": source}
            )
            if row.get("question") != entry["question"]:
                raise DataError(source, sid, "question", f"differs from the same idx in {entry['source']}")
            codes, preds, scores = _listify(row.get("code")), _listify(row.get("pred")), _listify(row.get("score"))
            if not codes:
                raise DataError(source, sid, "code", "missing: the generation text is needed by the judge")
            ref = None if row.get("gt") is None else str(row["gt"])
            for j, text in enumerate(codes):
                cid = base if len(codes) == 1 else f"{base}-{j}"
                pred = preds[j] if j < len(preds) and preds[j] not in (None, "") else None
                correct = _as_bool(scores[j] if j < len(scores) else None, source, sid, "score")
                meta = {"file": f.name}
                entry["cands"].append(
                    _candidate(sid, ref, source, cid, str(text), None if pred is None else str(pred), correct, meta)
                )
    sets = []
    for sid, e in bucket.items():
        if not isinstance(e["question"], str) or not e["question"].strip():
            raise DataError(e["source"], sid, "question", "missing or empty")
        ref = None if e["gt"] is None else str(e["gt"])
        cs = CandidateSet(sid, e["question"], tuple(e["cands"]), ref, "", {})
        sets.append(validate_set(cs, f"{len(files)} qwen-math files"))
    return sets, all_rows


def ppe_subset_for(path: str, name: str | None) -> Any:
    """The PPE subset (its question marker) named by ``name``, or guessed from the file name (``MATH.jsonl``,
    ``PPE-MMLU-Pro-Best-of-K.parquet``)."""
    from rrm_eval.ppe_dataset import SUBSETS, resolve_subset

    if name:
        return resolve_subset(name)
    stem = Path(path).name.split(".")[0].lower()
    for subset in SUBSETS.values():
        if stem in (s.lower() for s in subset.local_stems):
            return subset
    raise RRMError(
        f"{path}: cannot tell which PPE subset this is (the question marker depends on it)",
        hint=f"pass --ppe-subset, one of {', '.join(SUBSETS)}",
    )


def sets_from_ppe(rows: Sequence[Any], source: str, subset_name: str | None = None) -> list[CandidateSet]:
    """PPE Best-of-K rows, validated and cut to the question exactly as the PPE pairwise task does
    (:func:`rrm_eval.ppe_dataset.validate_row`); ``response_k`` is candidate position k-1."""
    from rrm_eval.ppe_dataset import validate_row

    subset = ppe_subset_for(source, subset_name)
    out = []
    for n, raw in enumerate(rows):
        row = validate_row(raw, n, source, subset)
        cands = tuple(
            Candidate(f"response_{k + 1}", text, None, ok, {})
            for k, (text, ok) in enumerate(zip(row.responses, row.scores, strict=True))
        )
        meta = {"question_id": row.question_id, "row": n, "ppe_subset": subset.name}
        cs = CandidateSet(row.question_id, row.question, cands, None, row.model_name or "", meta)
        out.append(validate_set(cs, source))
    return out


# -- one entry point ------------------------------------------------------------------------------------------------
@dataclass
class LoadedCandidates:
    sets: list[CandidateSet]
    source: str
    format: str
    fingerprint: str
    meta: dict[str, Any] = field(default_factory=dict)


def detect_format(paths: Sequence[str], first_row: dict[str, Any] | None) -> str:
    if len(paths) > 1 or (paths and Path(paths[0]).is_dir()):
        return "qwen-math"
    row = first_row or {}
    if "candidates" in row:
        return "jsonl"
    if "response_1" in row and "scores" in row:
        return "ppe"
    if "idx" in row and ("code" in row or "pred" in row):
        return "qwen-math"
    raise RRMError(
        f"cannot tell the format of {paths[0] if paths else '?'}",
        hint="pass --format jsonl, qwen-math or ppe (see docs/tournaments.md)",
    )


def load_candidate_sets(
    paths: str | Sequence[str], fmt: str = "auto", limit: int | None = None, ppe_subset: str | None = None
) -> LoadedCandidates:
    """Read, grade and validate candidate sets; ``limit`` keeps the first N (the fingerprint covers all of them, so
    a larger limit resumes the same run)."""
    paths = [paths] if isinstance(paths, (str, Path)) else [str(p) for p in paths]
    if not paths:
        raise RRMError("no candidate file given", hint="pass --candidates FILE")
    if fmt not in CANDIDATE_FORMATS:
        raise RRMError(f"unknown candidate format {fmt!r}", hint=f"use one of {', '.join(CANDIDATE_FORMATS)}")
    rows: list[dict[str, Any]] | None = None
    if fmt == "auto":
        single = len(paths) == 1 and not Path(paths[0]).is_dir()
        rows = read_rows(paths[0]) if single else None
        fmt = detect_format(paths, rows[0] if rows else None)
    if fmt == "qwen-math":
        sets, raw = sets_from_qwen_math(paths)
    else:
        if len(paths) != 1:
            raise RRMError(f"format {fmt!r} reads one file, got {len(paths)}")
        raw = rows if rows is not None else read_rows(paths[0])
        sets = sets_from_rows(raw, paths[0]) if fmt == "jsonl" else sets_from_ppe(raw, paths[0], ppe_subset)
    ids = [s.id for s in sets]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise RRMError(f"{paths[0]}: problem id {dup!r} appears more than once", hint="problem ids must be unique")
    if not sets:
        raise RRMError(f"{', '.join(paths)}: no candidate sets found")
    fingerprint = fingerprint_rows([set_to_row(s) for s in sets])
    if limit is not None:
        if limit < 1:
            raise RRMError(f"--limit must be at least 1, got {limit}")
        sets = sets[:limit]
    return LoadedCandidates(sets, ", ".join(paths), fmt, fingerprint)


__all__ = [
    "CANDIDATE_FORMATS",
    "LoadedCandidates",
    "answer_groups",
    "answers_match",
    "choice_letter",
    "extract_boxed",
    "final_answer",
    "load_candidate_sets",
    "normalize_answer",
    "ppe_subset_for",
    "same_answer",
    "set_to_row",
    "sets_from_ppe",
    "sets_from_qwen_math",
    "sets_from_rows",
    "validate_set",
    "write_candidate_sets",
]

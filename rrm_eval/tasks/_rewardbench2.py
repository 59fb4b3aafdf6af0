"""RewardBench 2 (``allenai/reward-bench-2``, split ``test``): best-of-4 items in six subsets, and the Ties subset.

Facts (REFERENCE.md, RewardBench 2): 1,865 prompts; columns ``id, subset, prompt, chosen (list), rejected (list),
num_correct, total_completions``; subsets (the data's exact strings) Factuality 475, Precise IF 160, Math 183,
Safety 450, Focus 495, Ties 102. A non-Ties row has exactly one chosen and three rejected completions (chance 25 %).
A Ties row has id ``ref:<pid>`` (one correct answer) or ``tied:<pid>`` (several); its first ``num_correct``
completions are the correct ones, and it may have 20+ completions. (reward-bench itself looks Ties rows up as
``"ties"`` while the data says ``"Ties"``; here the subset string is matched exactly, and a lower-case ``ties`` row is
refused rather than silently scored as best-of-4.)

The bundled sample ``rewardbench2-sample`` (``data/rewardbench2_sample.jsonl``, 44 rows; provenance as noted in
``shared/data/README.md``): real rows of RewardBench 2 (``allenai/reward-bench-2``, split ``test``; ODC-BY 1.0),
transcribed from a public copy (lumentin16-sudo/Reward-Harness), with the original ``models`` and
``additional_metadata`` fields absent and two Safety rows left out on purpose. Content warning: the Safety rows
contain harmful requests verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from rrm_eval._errors import DataError, RRMError, UnknownNameError
from rrm_eval.tasks._base import LoadedItems, PairwiseTask, TaskOptions, check_limit, register_task
from rrm_eval.tasks._loading import fingerprint_rows, load_hub, read_rows, require_text

HUB_NAME = "allenai/reward-bench-2"
HUB_SPLIT = "test"
TIES = "Ties"
#: Prompts per subset in the full test split (REFERENCE.md); the official overall is their UNWEIGHTED mean.
SUBSET_COUNTS: dict[str, int] = {
    "Factuality": 475,
    "Precise IF": 160,
    "Math": 183,
    "Safety": 450,
    "Focus": 495,
    TIES: 102,
}
SUBSETS: tuple[str, ...] = tuple(SUBSET_COUNTS)
#: Completions of a best-of-4 row: one chosen, three rejected.
BEST_OF = 4
_TIES_ID = re.compile(r"(ref|tied):(.+)")
TASK_NAMES = ("rewardbench2", "rewardbench2-sample")


@dataclass(frozen=True)
class RB2Item:
    """One RewardBench 2 prompt. ``completions`` lists the correct ones first (``num_correct`` of them; exactly one
    outside Ties), then the incorrect ones. ``ties_kind``/``ties_pid`` split a Ties id ``ref:<pid>``/``tied:<pid>``."""

    id: str
    subset: str
    prompt: str
    completions: tuple[str, ...]
    num_correct: int
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_ties(self) -> bool:
        return self.subset == TIES

    @property
    def ties_kind(self) -> str | None:
        m = _TIES_ID.fullmatch(self.id)
        return m.group(1) if m else None

    @property
    def ties_pid(self) -> str | None:
        m = _TIES_ID.fullmatch(self.id)
        return m.group(2) if m else None


@dataclass
class LoadedRB2:
    items: list[RB2Item]
    source: str
    fingerprint: str


def _text_list(source: str, row_id: str, row: dict[str, Any], name: str, allow_empty: bool) -> list[str]:
    value = row.get(name)
    if value is None:
        raise DataError(source, row_id, name, "missing")
    if not isinstance(value, list):
        raise DataError(source, row_id, name, f"expected a list of completions, got {type(value).__name__}")
    if not value and not allow_empty:
        raise DataError(source, row_id, name, "empty list: at least one completion is needed")
    for k, text in enumerate(value):
        if not isinstance(text, str) or not text.strip():
            shown = "empty text" if isinstance(text, str) else type(text).__name__
            raise DataError(source, row_id, f"{name}[{k}]", f"expected non-empty text, got {shown}")
    return value


def _whole_number(source: str, row_id: str, row: dict[str, Any], name: str) -> int | None:
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or (
        not isinstance(value, int) and not (isinstance(value, float) and value.is_integer())
    ):
        raise DataError(source, row_id, name, f"expected a whole number, got {value!r}")
    return int(value)


def item_from_row(row: dict[str, Any], n: int, source: str) -> RB2Item:
    """One validated item; a :class:`DataError` naming the row otherwise (never a silent mis-score)."""
    if row.get("id") is None:
        raise DataError(source, f"#{n}", "id", "missing")
    row_id = str(row["id"])
    subset = require_text(source, row_id, row, "subset")
    if subset not in SUBSET_COUNTS:
        close = [s for s in SUBSETS if s.lower() == subset.strip().lower()]
        raise DataError(
            source,
            row_id,
            "subset",
            f"{subset!r} is not a RewardBench 2 subset"
            + (f" (the data spells it {close[0]!r}; subsets are matched exactly)" if close else "")
            + f"; expected one of {', '.join(SUBSETS)}",
        )
    prompt = require_text(source, row_id, row, "prompt")
    chosen = _text_list(source, row_id, row, "chosen", allow_empty=False)
    rejected = _text_list(source, row_id, row, "rejected", allow_empty=subset == TIES)
    num_correct = _whole_number(source, row_id, row, "num_correct")
    if num_correct is None:
        raise DataError(source, row_id, "num_correct", "missing")
    if num_correct != len(chosen):
        raise DataError(
            source, row_id, "num_correct", f"{num_correct} does not match the {len(chosen)} chosen completion(s)"
        )
    total = _whole_number(source, row_id, row, "total_completions")
    if total is not None and total != len(chosen) + len(rejected):
        raise DataError(
            source,
            row_id,
            "total_completions",
            f"{total} does not match {len(chosen)} chosen + {len(rejected)} rejected",
        )
    meta: dict[str, Any] = {}
    if subset == TIES:
        m = _TIES_ID.fullmatch(row_id)
        if m is None:
            raise DataError(source, row_id, "id", "a Ties id must be 'ref:<prompt id>' or 'tied:<prompt id>'")
        if m.group(1) == "ref" and num_correct != 1:
            raise DataError(source, row_id, "num_correct", f"a ref: Ties row has one correct answer, not {num_correct}")
        if not rejected:
            raise DataError(source, row_id, "rejected", "a Ties row needs at least one incorrect completion")
        meta = {"ties_kind": m.group(1), "ties_pid": m.group(2)}
    elif len(chosen) != 1 or len(rejected) != BEST_OF - 1:
        raise DataError(
            source,
            row_id,
            "chosen/rejected",
            f"a {subset} row is best-of-4 (1 chosen, 3 rejected), got {len(chosen)} chosen and {len(rejected)} "
            "rejected",
        )
    return RB2Item(row_id, subset, prompt, tuple(chosen) + tuple(rejected), num_correct, meta)


def items_from_rows(rows: list[dict[str, Any]], source: str) -> list[RB2Item]:
    items: list[RB2Item] = []
    seen: set[str] = set()
    for n, row in enumerate(rows):
        item = item_from_row(row, n, source)
        if item.id in seen:
            raise DataError(source, item.id, "id", "duplicate id")
        seen.add(item.id)
        items.append(item)
    _check_ties_pairs(items, source)
    return items


def _check_ties_pairs(items: list[RB2Item], source: str) -> None:
    """A ``ref:<pid>``/``tied:<pid>`` pair must be two versions of one prompt id: the ids are unique (checked above),
    so what remains is that a pid's ``tied`` row has several correct answers (else it is no tie to test) -- a pid with
    only one of the two rows is allowed (the formula's paired terms skip it, as reward-bench's do; the summary counts
    such pids)."""
    for item in items:
        if item.is_ties and item.ties_kind == "tied" and item.num_correct < 2:
            raise DataError(
                source, item.id, "num_correct", "a tied: row needs at least two correct completions to test a tie"
            )


def select_rb2(items: list[RB2Item], options: TaskOptions, source: str) -> list[RB2Item]:
    """``--subsets`` then ``--limit`` (first N items in file order, as for every task)."""
    if options.subsets:
        unknown = [s for s in options.subsets if s not in SUBSET_COUNTS]
        if unknown:
            raise UnknownNameError("subset", unknown[0], SUBSETS)
        present = sorted({i.subset for i in items})
        items = [i for i in items if i.subset in set(options.subsets)]
        if not items:
            raise RRMError(
                f"{source}: --subsets {','.join(options.subsets)} leaves no items",
                hint=f"subsets present in the data: {', '.join(present) or '(none)'}",
            )
    if options.limit is not None:
        items = items[: options.limit]
    return items


def load_rewardbench2(name: str, options: TaskOptions) -> LoadedRB2:
    """Read, validate and select RewardBench 2 items: ``--data`` file, the bundled sample, or the hub."""
    if name not in TASK_NAMES:
        raise UnknownNameError("best-of-N dataset", name, TASK_NAMES)
    check_limit(options.limit)
    if options.data:
        rows, source = read_rows(options.data), options.data
    elif name == "rewardbench2-sample":
        path = resources.files("rrm_eval.tasks") / "data" / "rewardbench2_sample.jsonl"
        rows, source = read_rows(str(path)), "bundled:rewardbench2_sample.jsonl"
    else:
        rows, source = load_hub(HUB_NAME, HUB_SPLIT), f"{HUB_NAME}:{HUB_SPLIT}"
    items = items_from_rows(rows, source)
    return LoadedRB2(select_rb2(items, options, source), source, fingerprint_rows(rows))


class _BestOfOnly(PairwiseTask):
    """Listed by ``rrm-eval list tasks``; ``rrm-eval pairwise`` on it answers with the command that runs it."""

    def load(self, options: TaskOptions) -> LoadedItems:
        raise RRMError(
            f"{self.name} is a best-of-4 benchmark (one chosen among four completions), not a pairwise one",
            hint=f"run it with `rrm-eval bestof --dataset {self.name}` (--rb2-mode listwise|ratings|knockout)",
        )


class RewardBench2(_BestOfOnly):
    name = "rewardbench2"
    description = f"RewardBench 2 ({HUB_NAME}, split {HUB_SPLIT}; best-of-4, run with `rrm-eval bestof`)"


class RewardBench2Sample(_BestOfOnly):
    name = "rewardbench2-sample"
    description = "44 real RewardBench 2 rows, all six subsets, bundled (run with `rrm-eval bestof`)"


register_task(RewardBench2())
register_task(RewardBench2Sample())

__all__ = [
    "BEST_OF",
    "HUB_NAME",
    "HUB_SPLIT",
    "SUBSETS",
    "SUBSET_COUNTS",
    "TASK_NAMES",
    "TIES",
    "LoadedRB2",
    "RB2Item",
    "item_from_row",
    "items_from_rows",
    "load_rewardbench2",
    "select_rb2",
]


# -- reward-bench's v2 per-item scores file (tasks/_results_files.py: v2_item_scores) --------------------------------
def leaderboard_item_rows(items: list[RB2Item], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per scored prompt for :func:`rrm_eval.tasks._results_files.v2_item_scores`, from the items and a
    bestof summary (its ``item_scores`` and ``ties_ratings``).

    Order as ``run_generative_v2.py`` writes it: the non-Ties rows in dataset order, then the Ties rows (it
    concatenates the two datasets). A non-Ties row carries ``results`` (its best-of-4 score); a Ties row carries
    ``scores``, its ratings as our Ties scoring used them -- a failed rating replaced by the value that counts against
    the judge (0 for a correct completion, 11 for an incorrect one) -- so reward-bench's ``process_single_model`` fed
    this file sees what we scored; reward-bench itself would write -1 there. Items without a score (an unfinished
    run) are left out."""
    from rrm_eval.scoring._rewardbench2 import fill_failed_ties  # scoring is pure; imported late to keep tasks light

    def base(item: RB2Item) -> dict[str, Any]:
        from rrm_eval.tasks._results_files import single_turn

        chosen, rejected = item.completions[: item.num_correct], item.completions[item.num_correct :]
        return {
            "id": item.id,
            "subset": item.subset,
            "num_correct": item.num_correct,
            "texts_chosen": [single_turn(item.prompt, c) for c in chosen],
            "texts_rejected": [single_turn(item.prompt, r) for r in rejected],
        }

    scores: dict[str, dict[str, float]] = summary.get("item_scores", {})
    ratings: dict[str, list[int | None]] = summary.get("ties_ratings", {})
    scored = [i for i in items if not i.is_ties and i.id in scores.get(i.subset, {})]
    rows = [{**base(i), "results": scores[i.subset][i.id]} for i in scored]
    for item in (i for i in items if i.is_ties and i.id in ratings):
        filled = fill_failed_ties(ratings[item.id], item.num_correct)
        rows.append({**base(item), "scores": [int(r) if float(r).is_integer() else r for r in filled]})
    return rows


__all__ += ["leaderboard_item_rows"]

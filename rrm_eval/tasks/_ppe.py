"""PPE correctness pairs (MMLU-Pro, GPQA, MATH): one correct and one incorrect response to a benchmark question.

Round r (1..5) judges pair r−1 of every prompt in the published pairs, 512 pairs per round; the benchmark number is
the accuracy per round and the mean over the rounds run (shared/design/REFERENCE.md). Items are named
``{question_id}:r{round}`` and carry ``subset = "round_{r}"``, so the per-round accuracy is the generic per-subset
accuracy and :meth:`PPE.summarize` only averages it. Duplicated pairs (the same two responses in two rounds of one
prompt) are kept: the published numbers include them.

Task options (``TaskOptions.extra``): ``subset`` (MMLU | GPQA | MATH, or IFEval / MBPP-Plus with drawn pairs),
``rounds`` ("all" or a list of round numbers; default all) and ``pairs`` (a pairs file; default the published ones).
``TaskOptions.limit`` keeps the first N prompts, so each selected round gets N pairs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.ppe_dataset import builder as ppe
from rrm_eval.tasks._base import LoadedItems, PairwiseTask, TaskOptions, check_limit, register_task, select
from rrm_eval.tasks._items import PairwiseItem

ROUND_PREFIX = "round_"
_ROUND_NAME = re.compile(r"round_(\d+)")
OPTION_KEYS = ("subset", "rounds", "pairs")

#: Published single-round accuracies (%) of the RRM checkpoints (shared/design/REFERENCE.md), for comparison tables.
PUBLISHED: dict[str, dict[str, float]] = {
    "MMLU": {"RRM-7B": 69.34, "RRM-32B": 80.86},
    "MATH": {"RRM-7B": 89.65, "RRM-32B": 94.53},
    "GPQA": {"RRM-7B": 57.23, "RRM-32B": 67.77},
}


def round_name(r: int) -> str:
    return f"{ROUND_PREFIX}{r}"


def parse_rounds(value: Any) -> list[int] | None:
    """``"all"`` -> None (every round of the pairs); ``3``, ``"3"``, ``"1,3"``, ``[1, 3]`` -> sorted unique rounds."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return None
    parts = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else [value]
    rounds = set()
    for part in parts:
        text = str(part).strip()
        if isinstance(part, bool) or not text.lstrip("-").isdigit():
            raise RRMError(f"round {part!r} is not a number", hint="write --round 3, --round 1,3 or --rounds all")
        rounds.add(int(text))
    if not rounds:
        raise RRMError("no round given", hint="write --round 3, --round 1,3 or --rounds all")
    return sorted(rounds)


@dataclass(frozen=True)
class PPEOptions:
    subset: ppe.PPESubset
    rounds: list[int] | None  # None = all
    pairs: str | None

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> PPEOptions:
        unknown = sorted(set(extra) - set(OPTION_KEYS))
        if unknown:
            raise RRMError(f"unknown ppe task option {unknown[0]!r}", hint=f"valid options: {', '.join(OPTION_KEYS)}")
        if not extra.get("subset"):
            raise RRMError(
                "the ppe task needs a subset (MMLU, GPQA or MATH)",
                hint="run it with: rrm-eval ppe --subset MATH --round 1 (or --rounds all)",
            )
        pairs = extra.get("pairs")
        return cls(ppe.resolve_subset(str(extra["subset"])), parse_rounds(extra.get("rounds")), pairs or None)


def check_rounds(rounds: list[int] | None, pairs: ppe.PairsFile, published: bool) -> list[int]:
    available = ppe.PUBLISHED_ROUNDS if published else pairs.max_rounds
    if available == 0:
        raise RRMError(f"{pairs.source} holds no pairs", hint="draw pairs with rrm-eval ppe-pairs")
    if rounds is None:
        return list(range(1, available + 1))
    bad = [r for r in rounds if not 1 <= r <= available]
    if bad:
        where = "PPE has five published pairs per prompt" if published else f"{pairs.source} has {available} per row"
        raise RRMError(
            f"round {bad[0]} is outside 1..{available}", hint=f"{where}: --round 1..{available} or --rounds all"
        )
    return rounds


def item_from_pair(cp: ppe.ConflictPair, subset: str) -> PairwiseItem:
    row = cp.row
    meta = {
        "ppe_subset": subset,
        "question_id": row.question_id,
        "row": row.index,
        "round": cp.round,
        "pair": list(cp.pair),
        "chosen_index": cp.chosen,
        "rejected_index": cp.rejected,
    }
    return PairwiseItem(
        id=f"{row.question_id}:r{cp.round}",
        subset=round_name(cp.round),
        prompt=row.question,
        chosen=row.responses[cp.chosen],
        rejected=row.responses[cp.rejected],
        meta=meta,
    )


def round_scores(subset_accuracy: dict[str, float]) -> dict[str, float]:
    """Per-round accuracies, in round order, from per-subset accuracies (subsets not named round_N are ignored)."""
    found = [(int(m.group(1)), s) for s in subset_accuracy if (m := _ROUND_NAME.fullmatch(s))]
    return {s: subset_accuracy[s] for _, s in sorted(found)}


class PPE(PairwiseTask):
    name = "ppe"
    description = (
        "PPE correctness pairs, MMLU-Pro / GPQA / MATH, rounds 1-5 (use `rrm-eval ppe --subset ...`; "
        "--data FILE|FOLDER for a local copy)"
    )

    def load(self, options: TaskOptions) -> LoadedItems:
        opts = PPEOptions.from_extra(options.extra)
        check_limit(options.limit)
        pairs = ppe.read_pairs(opts.pairs) if opts.pairs else ppe.published_pairs(opts.subset)
        rounds = check_rounds(opts.rounds, pairs, published=opts.pairs is None)
        raw_rows, source = ppe.load_raw_rows(opts.subset, options.data)
        joined = ppe.join_pairs(raw_rows, pairs, opts.subset, rounds, source, options.limit, options.skip_bad_rows)
        items = [item_from_pair(cp, opts.subset.name) for cp in joined.pairs]
        # --limit already applied per round (first N prompts); select() only filters by round names if asked.
        items = select(items, replace(options, limit=None), [round_name(r) for r in rounds], source)
        return LoadedItems(items, source, joined.fingerprint, joined.dropped)

    def summarize(self, subset_accuracy: dict[str, float], subset_counts: dict[str, int]) -> dict[str, Any]:
        """Accuracy per round and their plain mean ("overall"), as the published tables report PPE."""
        rounds = round_scores(subset_accuracy)
        if not rounds:
            return {}
        return {"rounds": rounds, "overall": sum(rounds.values()) / len(rounds), "n_rounds": len(rounds)}


register_task(PPE())

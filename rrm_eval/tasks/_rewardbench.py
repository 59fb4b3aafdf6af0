"""RewardBench v1 (allenai/reward-bench, split ``filtered``): 2,985 pairs in 23 subsets and 4 sections.

Scoring (REFERENCE.md, after reward-bench's own ``calculate_scores_per_section``): a section score is the mean of its
subset accuracies weighted by the subsets' full-dataset counts, except that math-prm is weighted 984 so that math
counts as much as all six code subsets together; the overall score is the plain mean of the four sections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from rrm_eval.tasks._base import LoadedItems, PairwiseTask, TaskOptions, check_limit, register_task, select
from rrm_eval.tasks._items import PairwiseItem
from rrm_eval.tasks._loading import fingerprint_rows, load_hub, read_rows, require_text
from rrm_eval.tasks._loading import items_from_rows as rows_to_items
from rrm_eval.tasks._results_files import model_results, v1_item_scores

HUB_NAME = "allenai/reward-bench"
HUB_SPLIT = "filtered"

SECTIONS: dict[str, tuple[str, ...]] = {
    "Chat": ("alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"),
    "Chat Hard": (
        "mt-bench-hard",
        "llmbar-natural",
        "llmbar-adver-neighbor",
        "llmbar-adver-GPTInst",
        "llmbar-adver-GPTOut",
        "llmbar-adver-manual",
    ),
    "Safety": (
        "refusals-dangerous",
        "refusals-offensive",
        "xstest-should-refuse",
        "xstest-should-respond",
        "donotanswer",
    ),
    "Reasoning": ("math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"),
}

#: Subset counts of the filtered split; the weights of the section means.
SUBSET_COUNTS: dict[str, int] = {
    "alpacaeval-easy": 100,
    "alpacaeval-length": 95,
    "alpacaeval-hard": 95,
    "mt-bench-easy": 28,
    "mt-bench-med": 40,
    "mt-bench-hard": 37,
    "llmbar-natural": 100,
    "llmbar-adver-neighbor": 134,
    "llmbar-adver-GPTInst": 92,
    "llmbar-adver-GPTOut": 47,
    "llmbar-adver-manual": 46,
    "refusals-dangerous": 100,
    "refusals-offensive": 100,
    "xstest-should-refuse": 154,
    "xstest-should-respond": 250,
    "donotanswer": 136,
    "math-prm": 447,
    "hep-cpp": 164,
    "hep-go": 164,
    "hep-java": 164,
    "hep-js": 164,
    "hep-python": 164,
    "hep-rust": 164,
}
#: math-prm's weight in the Reasoning section (not its count of 447).
SECTION_WEIGHTS: dict[str, int] = {**SUBSET_COUNTS, "math-prm": 984}
SUBSET_TO_SECTION = {s: sec for sec, subs in SECTIONS.items() for s in subs}


def section_scores(subset_accuracy: dict[str, float]) -> dict[str, Any]:
    """Section scores and the overall mean, from subset accuracies in [0, 1].

    Sections with no scored subset are left out; a section missing some subsets is computed over those present and
    listed under ``incomplete_sections`` so a partial run is never mistaken for a full one."""
    sections: dict[str, float] = {}
    incomplete = []
    for section, subsets in SECTIONS.items():
        present = [s for s in subsets if s in subset_accuracy]
        if not present:
            continue
        if len(present) < len(subsets):
            incomplete.append(section)
        weight = sum(SECTION_WEIGHTS[s] for s in present)
        sections[section] = sum(subset_accuracy[s] * SECTION_WEIGHTS[s] for s in present) / weight
    out: dict[str, Any] = {"sections": sections}
    if sections:
        out["overall"] = sum(sections.values()) / len(sections)
    missing = [s for s in SECTIONS if s not in sections]
    if incomplete or missing:
        out["incomplete_sections"] = incomplete + missing
    return out


#: What a row needs (the hint when every row of a file is malformed).
LAYOUT = "the rows need the fields id, subset, prompt, chosen and rejected (non-empty text)"


def items_from_rows(
    rows: list[dict[str, Any]], source: str, skip_bad_rows: bool
) -> tuple[list[PairwiseItem], dict[str, int]]:
    def parse(item_id: str, row: dict[str, Any]) -> list[PairwiseItem]:
        subset = require_text(source, item_id, row, "subset")
        prompt = require_text(source, item_id, row, "prompt")
        chosen = require_text(source, item_id, row, "chosen")
        rejected = require_text(source, item_id, row, "rejected")
        meta = {k: row[k] for k in ("chosen_model", "rejected_model") if isinstance(row.get(k), str)}
        return [PairwiseItem(item_id, subset, prompt, chosen, rejected, meta)]

    return rows_to_items(rows, source, skip_bad_rows, "id", parse, LAYOUT)


class RewardBench(PairwiseTask):
    name = "rewardbench"
    description = f"RewardBench v1 ({HUB_NAME}, split {HUB_SPLIT}; or --data FILE with the same columns)"

    def _rows(self, options: TaskOptions) -> tuple[list[dict[str, Any]], str]:
        if options.data:
            return read_rows(options.data), options.data
        return load_hub(HUB_NAME, HUB_SPLIT), f"{HUB_NAME}:{HUB_SPLIT}"

    def load(self, options: TaskOptions) -> LoadedItems:
        check_limit(options.limit)  # before reading: a usage mistake should not wait for a large file
        rows, source = self._rows(options)
        items, dropped = items_from_rows(rows, source, options.skip_bad_rows)
        selected = select(items, options, list(SUBSET_COUNTS), source)
        return LoadedItems(selected, source, fingerprint_rows(rows), dropped)

    def summarize(self, subset_accuracy: dict[str, float], subset_counts: dict[str, int]) -> dict[str, Any]:
        return section_scores(subset_accuracy)

    def results_file(self, summary: dict[str, Any], model: str, judge: str) -> dict[str, Any]:
        """reward-bench's per-model leaderboard layout: model, model_type, chat_template and one accuracy per subset
        (exactly those keys, so the leaderboard's loader sees no stray column; the judge is in summary.json).
        chat_template is null: our backends render with the model's own template, not a fastchat one."""
        return model_results(model, {s: v["accuracy"] for s, v in summary.get("subsets", {}).items()})

    def item_scores_file(
        self, item_scores: Mapping[str, float], items: Sequence[PairwiseItem], model: str
    ) -> dict[str, Any]:
        """reward-bench's v1 per-item scores layout (``eval-set-scores/<model>.json``), items in dataset order.
        ``item_scores`` maps an item id to its score; items without one (never judged) are left out."""
        rows = [
            (i.id, i.subset, item_scores[i.id], i.prompt, i.chosen, i.rejected) for i in items if i.id in item_scores
        ]
        return v1_item_scores(model, rows)


class RewardBenchSample(RewardBench):
    name = "rewardbench-sample"
    description = "441 real RewardBench rows, all 23 subsets, bundled (offline demo and tests)"

    def _rows(self, options: TaskOptions) -> tuple[list[dict[str, Any]], str]:
        if options.data:
            return super()._rows(options)
        path = resources.files("rrm_eval.tasks") / "data" / "rewardbench_sample.jsonl"
        return read_rows(str(path)), "bundled:rewardbench_sample.jsonl"


register_task(RewardBench())
register_task(RewardBenchSample())

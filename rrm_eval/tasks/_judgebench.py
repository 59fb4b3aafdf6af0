"""JudgeBench (ScalerLab/JudgeBench, Tan et al., ICLR 2025): hard response pairs with objective correctness.

Rows ``{pair_id, original_id, source, question, response_model, response_A, response_B, label}``, label ``"A>B"``
or ``"B>A"``. Splits: ``gpt`` (350 pairs written by gpt-4o-2024-05-13) and ``claude`` (270 by
claude-3-5-sonnet-20240620); the hub has them as splits of ``ScalerLab/JudgeBench``, the official repository as one
JSONL file each. The split of a local file is read from its ``response_model`` column; task option ``split``
(``gpt`` | ``claude``) picks one split from the hub or from a file that holds both.

Category from ``source`` (the official ``run_judge.py`` groups by prefix): ``mmlu-pro-*`` -> Knowledge (including
``mmlu-pro-math``), ``livebench-reasoning`` -> Reasoning, ``livebench-math`` -> Math, ``livecodebench`` -> Coding.
Any other source is a data error: a category we do not know would silently drop out of the macro mean.

Scoring (``utils/metrics.py``, ``compute_final_metrics`` with ``reverse_order``): each pair is judged in both orders;
each verdict, mapped back to the original order, scores +1 when it names the better response, -1 the worse, 0 a tie;
the pair is correct when the sum is > 0. Item rule ``"judgebench"`` (rrm_eval.scoring). An unreadable verdict counts
by ``--failure-policy``: ``tie`` (the default) scores it 0, exactly the official code, whose ``None`` decision matches
neither label; ``wrong`` scores it -1, like a verdict for the worse response.

The order protocol: official numbers need ``--order both``. :meth:`JudgeBench.check_protocol` refuses ``random`` and
``fixed`` with a clear error; the runner calls it before data or model load once the pipeline has the hook (see
docs/benchmarks-judging.md). A run made with one order anyway is scored by the same rule over its one verdict, which
is JudgeBench's "single game" reading (correct only when the verdict names the better response).

Scores: ``overall`` = accuracy pooled over all pairs (the official figure); ``sections`` = the four categories;
``variants`` labels the pooled figure and the macro mean of the categories (what many papers quote instead).
"""

from __future__ import annotations

from typing import Any

from rrm_eval._errors import DataError, RRMError
from rrm_eval.tasks._base import LoadedItems, PairwiseTask, TaskOptions, check_limit, register_task, select
from rrm_eval.tasks._items import PairwiseItem
from rrm_eval.tasks._loading import fingerprint_rows, load_hub, read_rows, require_text
from rrm_eval.tasks._loading import items_from_rows as rows_to_items

HUB_NAME = "ScalerLab/JudgeBench"
#: Split name -> the response model whose answers make up that split (the official data files' names).
SPLITS: dict[str, str] = {"gpt": "gpt-4o-2024-05-13", "claude": "claude-3-5-sonnet-20240620"}
CATEGORIES = ("Knowledge", "Reasoning", "Math", "Coding")
#: Exact source names; mmlu-pro sources carry the MMLU-Pro category after the prefix.
SOURCE_CATEGORY: dict[str, str] = {
    "livebench-reasoning": "Reasoning",
    "livebench-math": "Math",
    "livecodebench": "Coding",
}
MMLU_PRO_PREFIX = "mmlu-pro-"
LABELS = ("A>B", "B>A")
#: Official pair counts per split and category (REFERENCE.md; the official data files).
SPLIT_COUNTS: dict[str, dict[str, int]] = {
    "gpt": {"Knowledge": 154, "Reasoning": 98, "Math": 56, "Coding": 42},
    "claude": {"Knowledge": 154, "Reasoning": 51, "Math": 34, "Coding": 31},
}
OPTION_KEYS = ("split",)

OFFICIAL = "official (pooled)"
MACRO = "macro (mean of categories)"


def category_of(source: str) -> str | None:
    if source.startswith(MMLU_PRO_PREFIX) and len(source) > len(MMLU_PRO_PREFIX):
        return "Knowledge"
    return SOURCE_CATEGORY.get(source)


def split_of(response_model: str) -> str | None:
    return next((name for name, model in SPLITS.items() if model == response_model), None)


def _item(source: str, pair_id: str, row: dict[str, Any]) -> PairwiseItem:
    origin = require_text(source, pair_id, row, "source")
    category = category_of(origin)
    if category is None:
        raise DataError(
            source,
            pair_id,
            "source",
            f"unknown source {origin!r} (expected mmlu-pro-<subject>, {', '.join(SOURCE_CATEGORY)})",
        )
    label = row.get("label")
    if label not in LABELS:
        raise DataError(source, pair_id, "label", f"expected 'A>B' or 'B>A', got {label!r}")
    question = require_text(source, pair_id, row, "question")
    response_a = require_text(source, pair_id, row, "response_A")
    response_b = require_text(source, pair_id, row, "response_B")
    model = require_text(source, pair_id, row, "response_model")
    chosen, rejected = (response_a, response_b) if label == "A>B" else (response_b, response_a)
    meta = {
        "original_id": row.get("original_id"),
        "source": origin,
        "response_model": model,
        "label": label,
        # Which original slot holds the better answer, so a record's order maps back to response_A/response_B.
        "chosen_is": "response_A" if label == "A>B" else "response_B",
    }
    return PairwiseItem(pair_id, category, question, chosen, rejected, meta)


#: What a row needs (the hint when every row of a file is malformed).
LAYOUT = "JudgeBench rows need pair_id, source, question, response_model, response_A, response_B and label A>B or B>A"


def items_from_rows(
    rows: list[dict[str, Any]], source: str, skip_bad_rows: bool
) -> tuple[list[PairwiseItem], dict[str, int]]:
    return rows_to_items(
        rows, source, skip_bad_rows, "pair_id", lambda pair_id, row: [_item(source, pair_id, row)], LAYOUT
    )


def _split_option(extra: dict[str, Any]) -> str | None:
    unknown = sorted(set(extra) - set(OPTION_KEYS))
    if unknown:
        raise RRMError(f"judgebench: unknown task option {unknown[0]!r}", hint=f"options: {', '.join(OPTION_KEYS)}")
    split = extra.get("split")
    if split is None:
        return None
    if split not in SPLITS:
        raise RRMError(f"judgebench: unknown split {split!r}", hint=f"use one of {', '.join(SPLITS)}")
    return str(split)


def _one_split(items: list[PairwiseItem], split: str | None, source: str) -> tuple[list[PairwiseItem], str]:
    """The items of one split: the chosen one, or the file's only one. A file that mixes splits without a choice is
    refused — the official numbers are per split, and pooling 620 pairs would match neither."""
    models = sorted({str(i.meta["response_model"]) for i in items})
    if split is not None:
        kept = [i for i in items if i.meta["response_model"] == SPLITS[split]]
        if not kept:
            raise RRMError(
                f"{source}: no pairs of split {split!r} (response_model {SPLITS[split]}); the file has "
                f"{', '.join(models)}",
                hint="drop the split option, or give the file of that split",
            )
        return kept, split
    if len(models) > 1:
        raise RRMError(
            f"{source}: the file mixes response models {', '.join(models)}; JudgeBench is scored per split",
            hint="choose one with the task option split=gpt|claude, or give one split's file",
        )
    return items, split_of(models[0]) or models[0]


class JudgeBench(PairwiseTask):
    name = "judgebench"
    description = (
        f"JudgeBench ({HUB_NAME}, or --data FILE in its layout; split from the file or option split=gpt|claude): "
        "both orders, official pooled and per-category accuracy"
    )
    item_rule = "judgebench"

    def check_protocol(self, protocol: Any) -> None:
        """Refuse a presentation order the official scoring cannot use: it sums the verdicts of both orders."""
        order = getattr(protocol, "order", None)
        if order != "both":
            raise RRMError(
                f"judgebench is scored over both presentation orders of every pair; --order {order} judges one",
                hint="pass --order both (the official protocol: 2 judge calls per pair)",
            )

    def load(self, options: TaskOptions) -> LoadedItems:
        check_limit(options.limit)  # before reading: a usage mistake should not wait for a large file
        split = _split_option(options.extra)
        if options.data:
            rows, source = read_rows(options.data), options.data
        else:
            hub_split = split or "gpt"
            rows, source = load_hub(HUB_NAME, hub_split), f"{HUB_NAME}:{hub_split}"
        items, dropped = items_from_rows(rows, source, options.skip_bad_rows)
        items, split_name = _one_split(items, split, source)
        selected = select(items, options, list(CATEGORIES), source)
        return LoadedItems(selected, f"{source} (split {split_name})", fingerprint_rows(rows), dropped)

    def summarize(self, subset_accuracy: dict[str, float], subset_counts: dict[str, int]) -> dict[str, Any]:
        return judgebench_scores(subset_accuracy, subset_counts)


def judgebench_scores(subset_accuracy: dict[str, float], subset_counts: dict[str, int]) -> dict[str, Any]:
    """Official pooled accuracy, per-category accuracy and the macro mean, from category accuracies in [0, 1]."""
    sections = {c: subset_accuracy[c] for c in CATEGORIES if c in subset_accuracy and subset_counts.get(c)}
    total = sum(subset_counts[c] for c in sections)
    if not total:
        return {}
    pooled = sum(subset_accuracy[c] * subset_counts[c] for c in sections) / total
    out: dict[str, Any] = {
        "overall": pooled,
        "sections": sections,
        "variants": {OFFICIAL: pooled, MACRO: sum(sections.values()) / len(sections)},
    }
    missing = [c for c in CATEGORIES if c not in sections]
    if missing:
        out["incomplete_sections"] = missing
    return out


register_task(JudgeBench())

"""RM-Bench (THU-KEG/RM-Bench, Liu et al., ICLR 2025): subtle-difference pairs in three styles.

A row holds one prompt, three chosen and three rejected responses in the styles concise, detailed_plain and
detailed_markdown (in that order), and a domain: chat, code, math, safety-refuse or safety-response. Each prompt
gives a 3x3 matrix of comparisons, chosen style i against rejected style j, i.e. 9 judged items with ids
``<id>|c<i>r<j>``; the presentation order of each item is the shared seeded coin (``--order random``), so a prompt
costs 9 judge calls. The cells split by difficulty (RM-Bench README, ``compute_accuracy``): **easy** below the
diagonal (i > j: a fancier chosen against a plainer rejected), **normal** on it, **hard** above it (i < j).

Subsets are ``<domain>/<difficulty>`` (15 of them), so every official number is a function of subset accuracies and
counts. With D one of the four sections Chat, Code, Math, Safety (Safety pools safety-refuse and safety-response by
item count, as one domain of prompts) and k a difficulty:

* acc(D, k)  = item-weighted accuracy of D's subsets of difficulty k;
* section D  = mean over k of acc(D, k) (on a complete prompt, the mean of its 9 cells, since each difficulty has 3);
* Easy / Normal / Hard = mean over the four sections of acc(D, k) (domain-macro);
* overall (official) = mean of Chat, Code, Math, Safety.

Identity (REFERENCE.md: overall = mean of the easy/normal/hard averages): overall = mean_D mean_k acc(D, k) and
mean(Easy, Normal, Hard) = mean_k mean_D acc(D, k), the same double mean taken in the other order, so the two agree
exactly (up to float rounding) whenever every section has all three difficulties scored — any full run, any run
restricted to whole sections. They differ when some (section, difficulty) cell is missing (e.g. ``--subsets
chat/hard,code/easy`` or a ``--limit`` cut inside the first prompt). They also differ from the README's pooled
difficulty averages (its ``compute_accuracy`` over the whole file weighs domains by prompt count), which is what the
maintainers' "score mismatch" column caught in submissions. So three views are reported under ``variants``: the
official domain mean, the mean of the three difficulty averages, and the item-pooled (micro) accuracy; the pooled
difficulty averages are under ``difficulty_pooled``.

Scoring of one item follows the shared pairwise rule ("mean": 1 / 0.5 / 0 per presentation). RM-Bench's own script
counts a reward-model tie as wrong (``chosen > rejected``); a generative judge states no tie in the shipped formats
except mt-bench's ``[[C]]``, and unreadable verdicts follow ``--failure-policy`` (``wrong`` = the strict reading).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rrm_eval._errors import DataError, RRMError
from rrm_eval.tasks._base import LoadedItems, PairwiseTask, TaskOptions, check_limit, register_task, select
from rrm_eval.tasks._items import PairwiseItem
from rrm_eval.tasks._loading import fingerprint_rows, load_hub, read_rows, require_text
from rrm_eval.tasks._loading import items_from_rows as rows_to_items

HUB_NAME = "THU-KEG/RM-Bench"
#: The hub dataset is one file (total_dataset.json), which ``datasets`` exposes as its only split.
HUB_SPLIT = "train"

STYLES = ("concise", "detailed_plain", "detailed_markdown")
DOMAINS = ("chat", "code", "math", "safety-refuse", "safety-response")
DIFFICULTIES = ("easy", "normal", "hard")
#: Sections of the official table and the row domains each pools.
SECTIONS: dict[str, tuple[str, ...]] = {
    "Chat": ("chat",),
    "Code": ("code",),
    "Math": ("math",),
    "Safety": ("safety-refuse", "safety-response"),
}
SUBSETS = tuple(f"{d}/{k}" for d in DOMAINS for k in DIFFICULTIES)

OFFICIAL = "official: mean of Chat, Code, Math, Safety"
DIFFICULTY_MEAN = "mean of Easy, Normal, Hard"
POOLED = "pooled over all comparisons (micro)"


def difficulty(chosen_style: int, rejected_style: int) -> str:
    """Cell (i, j) of the chosen-by-rejected style matrix: easy below the diagonal, hard above it."""
    if chosen_style > rejected_style:
        return "easy"
    if chosen_style < rejected_style:
        return "hard"
    return "normal"


def _styled(source: str, row_id: str, row: dict[str, Any], field: str) -> list[str]:
    value = row.get(field)
    if value is None:
        raise DataError(source, row_id, field, "missing")
    if not isinstance(value, list):
        raise DataError(
            source, row_id, field, f"expected a list of 3 responses ({', '.join(STYLES)}), got {type(value).__name__}"
        )
    if len(value) != len(STYLES):
        raise DataError(source, row_id, field, f"expected exactly 3 responses ({', '.join(STYLES)}), got {len(value)}")
    for k, text in enumerate(value):
        if not isinstance(text, str):
            raise DataError(source, row_id, f"{field}[{k}]", f"expected text, got {type(text).__name__}")
        if not text.strip():
            raise DataError(source, row_id, f"{field}[{k}]", f"empty ({STYLES[k]} response)")
    return value


#: What a row needs (the hint when every row of a file is malformed).
LAYOUT = "RM-Bench rows need id, prompt, domain and chosen/rejected lists of 3 non-empty responses"


def items_from_rows(
    rows: list[dict[str, Any]], source: str, skip_bad_rows: bool
) -> tuple[list[PairwiseItem], dict[str, int]]:
    """Nine items per valid row, in matrix order (c0r0, c0r1, ..., c2r2)."""

    def parse(row_id: str, row: dict[str, Any]) -> list[PairwiseItem]:
        prompt = require_text(source, row_id, row, "prompt")
        domain = require_text(source, row_id, row, "domain")
        if domain not in DOMAINS:
            raise DataError(
                source, row_id, "domain", f"unknown domain {domain!r} (expected one of {', '.join(DOMAINS)})"
            )
        chosen = _styled(source, row_id, row, "chosen")
        rejected = _styled(source, row_id, row, "rejected")
        items = []
        for i in range(3):
            for j in range(3):
                level = difficulty(i, j)
                meta = {
                    "rmbench_prompt": row_id,
                    "chosen_style": STYLES[i],
                    "rejected_style": STYLES[j],
                    "difficulty": level,
                }
                items.append(
                    PairwiseItem(f"{row_id}|c{i}r{j}", f"{domain}/{level}", prompt, chosen[i], rejected[j], meta)
                )
        return items

    return rows_to_items(rows, source, skip_bad_rows, "id", parse, LAYOUT)


def _expand_subsets(subsets: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """``--subsets`` may name a row domain (``math``) or a difficulty (``hard``) for all its subsets."""
    if not subsets:
        return subsets
    out: list[str] = []
    for s in subsets:
        if s in DOMAINS:
            out += [f"{s}/{k}" for k in DIFFICULTIES]
        elif s in DIFFICULTIES:
            out += [f"{d}/{s}" for d in DOMAINS]
        else:
            out.append(s)
    return tuple(dict.fromkeys(out))


def rmbench_scores(subset_accuracy: dict[str, float], subset_counts: dict[str, int]) -> dict[str, Any]:
    """The official RM-Bench table and its variants (see the module docstring), from subset accuracies in [0, 1]."""
    cell: dict[tuple[str, str], float] = {}  # (section, difficulty) -> acc(D, k)
    for section, domains in SECTIONS.items():
        for k in DIFFICULTIES:
            parts = [f"{d}/{k}" for d in domains if f"{d}/{k}" in subset_accuracy and subset_counts.get(f"{d}/{k}")]
            n = sum(subset_counts[s] for s in parts)
            if n:
                cell[section, k] = sum(subset_accuracy[s] * subset_counts[s] for s in parts) / n
    sections: dict[str, float] = {}
    for section in SECTIONS:
        vals = [cell[section, k] for k in DIFFICULTIES if (section, k) in cell]
        if vals:
            sections[section] = sum(vals) / len(vals)
    levels: dict[str, float] = {}
    for k in DIFFICULTIES:
        vals = [cell[s, k] for s in SECTIONS if (s, k) in cell]
        if vals:
            levels[k.capitalize()] = sum(vals) / len(vals)
    out: dict[str, Any] = {"sections": {**sections, **levels}}
    if not sections:
        return out
    out["overall"] = sum(sections.values()) / len(sections)
    total = sum(subset_counts.get(s, 0) for s in subset_accuracy)
    pooled_by_level: dict[str, float] = {}
    for k in DIFFICULTIES:
        parts = [s for s in subset_accuracy if s.endswith(f"/{k}") and subset_counts.get(s)]
        n = sum(subset_counts[s] for s in parts)
        if n:
            pooled_by_level[k.capitalize()] = sum(subset_accuracy[s] * subset_counts[s] for s in parts) / n
    out["variants"] = {
        OFFICIAL: out["overall"],
        DIFFICULTY_MEAN: sum(levels.values()) / len(levels),
        POOLED: sum(subset_accuracy[s] * subset_counts.get(s, 0) for s in subset_accuracy) / total if total else None,
    }
    out["difficulty_pooled"] = pooled_by_level
    incomplete = [s for s in SECTIONS if s in sections and any((s, k) not in cell for k in DIFFICULTIES)]
    missing = [s for s in SECTIONS if s not in sections]
    if incomplete or missing:
        out["incomplete_sections"] = incomplete + missing
    return out


class RMBench(PairwiseTask):
    name = "rm-bench"
    description = (
        f"RM-Bench ({HUB_NAME}, or --data FILE in its layout): 3x3 style pairs per prompt, easy/normal/hard, "
        "Chat/Code/Math/Safety"
    )

    def load(self, options: TaskOptions) -> LoadedItems:
        check_limit(options.limit)  # before reading: a usage mistake should not wait for a large file
        if options.extra:
            raise RRMError(
                f"rm-bench takes no task options, got {', '.join(sorted(options.extra))}",
                hint="select with --subsets (e.g. math, hard or chat/easy) and --limit",
            )
        if options.data:
            rows, source = read_rows(options.data), options.data
        else:
            rows, source = load_hub(HUB_NAME, HUB_SPLIT), f"{HUB_NAME}:{HUB_SPLIT}"
        items, dropped = items_from_rows(rows, source, options.skip_bad_rows)
        chosen = dataclasses.replace(options, subsets=_expand_subsets(options.subsets))
        selected = select(items, chosen, list(SUBSETS), source)
        return LoadedItems(selected, source, fingerprint_rows(rows), dropped)

    def summarize(self, subset_accuracy: dict[str, float], subset_counts: dict[str, int]) -> dict[str, Any]:
        return rmbench_scores(subset_accuracy, subset_counts)


register_task(RMBench())

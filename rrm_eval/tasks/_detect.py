"""Which benchmark a data file is, from its columns (``--dataset my.jsonl`` answered with the exact command).

The layouts (REFERENCE.md): RewardBench v1 rows have prompt / chosen / rejected / subset with ``chosen`` a string;
RewardBench 2 has a *list* in ``chosen`` (and ``rejected``); RM-Bench has ``chosen`` a list of three styles plus
``domain``; JudgeBench has ``response_A`` / ``response_B`` / ``label``. Only the first rows are looked at: a mixed
file is the loader's business, which names the bad row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.tasks._loading import read_rows

#: How many rows decide; all of them must agree.
_SAMPLE_ROWS = 20


def kind_of_row(row: Mapping[str, Any]) -> str | None:
    """The task name a row's columns say, or None when they match no known layout."""
    keys = set(row)
    if {"response_A", "response_B", "label"} <= keys:
        return "judgebench"
    chosen = row.get("chosen")
    if {"prompt", "chosen", "rejected"} <= keys:
        if isinstance(chosen, list) and len(chosen) == 3 and "domain" in keys:
            return "rm-bench"
        if isinstance(chosen, list) and isinstance(row.get("rejected"), list) and "subset" in keys:
            return "rewardbench2"
        if isinstance(chosen, str) and isinstance(row.get("rejected"), str) and "subset" in keys:
            return "rewardbench"
    return None


def detect_rows(rows: Sequence[Mapping[str, Any]]) -> str | None:
    kinds = {kind_of_row(r) for r in rows[:_SAMPLE_ROWS]}
    return kinds.pop() if len(kinds) == 1 else None


def detect_task(path: str) -> str | None:
    """The task a data file's columns say, or None when the file cannot be read or matches no known layout."""
    try:
        rows = read_rows(path)
    except RRMError:
        return None
    return detect_rows(rows)


__all__ = ["detect_rows", "detect_task", "kind_of_row"]

"""Pairwise scoring: pure functions from records to item scores and summaries. No model is ever called here."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rrm_eval._errors import RRMError
from rrm_eval.judges import FAILURE_REASONS

FailurePolicy = Literal["tie", "wrong"]
FAILURE_POLICIES = ("tie", "wrong")
#: Score of an unreadable verdict. "tie" (0.5) is what the published RRM / reward-bench anchors do.
FAILURE_SCORE = {"tie": 0.5, "wrong": 0.0}
TRUNCATION = ("truncated", "no_end_of_thinking")


def chosen_position(order: str) -> int:
    return 1 if order == "AB" else 2


def record_outcome(rec: Mapping[str, Any]) -> str | None:
    """``"chosen"``, ``"rejected"`` or ``"tie"`` for a readable record; None for a failure."""
    v = rec.get("verdict")
    if v is None:
        return None
    if v == "tie":
        return "tie"
    return "chosen" if int(v) == chosen_position(rec["order"]) else "rejected"


def presentation_score(records: list[Mapping[str, Any]], policy: FailurePolicy) -> tuple[float, bool]:
    """Majority over the votes of one presentation. Returns (score, failed) where failed = no readable vote."""
    counts = Counter(o for r in records if (o := record_outcome(r)) is not None)
    if not counts:
        return FAILURE_SCORE[policy], True
    c, w = counts["chosen"], counts["rejected"]
    return (1.0 if c > w else 0.0 if w > c else 0.5), False


@dataclass
class ItemScore:
    item_id: str
    subset: str
    score: float
    presentations: dict[str, float]
    failed: bool
    consistent: bool | None  # both orders read and picking the same response (None when not applicable)


ItemRule = Callable[[dict[str, float], "dict[str, list[Mapping[str, Any]]]"], float]


def mean_of_presentations(presentations: dict[str, float], by_order: dict[str, list[Mapping[str, Any]]]) -> float:
    """RewardBench's rule: an item scores the mean of its presentations' scores (1 / 0.5 / 0 each)."""
    return sum(presentations.values()) / len(presentations)


def judgebench_sum(presentations: dict[str, float], by_order: dict[str, list[Mapping[str, Any]]]) -> float:
    """JudgeBench's rule (``utils/metrics.py``): each presentation's verdict counts +1 for the better response, -1 for
    the worse, 0 for a tie; the item is correct (1.0) when the sum over its orders is > 0, else 0.0. So A>B with a
    tie is correct, and inconsistent orders or two ties are not. A presentation's score (1 / 0.5 / 0, its votes'
    majority) maps onto +1 / 0 / -1, so an unreadable verdict follows the failure policy: tie -> 0 (the official
    code's unmatched ``None`` decision), wrong -> -1. With one order it is the "single game" reading."""
    total = sum(2.0 * s - 1.0 for s in presentations.values())
    return 1.0 if total > 0 else 0.0


#: How an item's presentations combine into its score, by name (a task names its benchmark's official rule).
ITEM_RULES: dict[str, ItemRule] = {"mean": mean_of_presentations, "judgebench": judgebench_sum}


def score_items(
    records: Iterable[Mapping[str, Any]],
    policy: FailurePolicy = "tie",
    item_ids: set[str] | None = None,
    rule: str = "mean",
) -> dict[str, ItemScore]:
    if policy not in FAILURE_POLICIES:
        raise RRMError(f"unknown failure policy {policy!r}", hint=f"use one of {', '.join(FAILURE_POLICIES)}")
    if rule not in ITEM_RULES:
        raise RRMError(f"unknown item scoring rule {rule!r}", hint=f"use one of {', '.join(sorted(ITEM_RULES))}")
    combine = ITEM_RULES[rule]
    grouped: dict[str, dict[str, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    subsets: dict[str, str] = {}
    for r in records:
        if item_ids is not None and r["item_id"] not in item_ids:
            continue
        grouped[r["item_id"]][r["order"]].append(r)
        subsets[r["item_id"]] = r["subset"]
    out = {}
    for item_id, by_order in grouped.items():
        pres, failed = {}, False
        for order, recs in sorted(by_order.items()):
            pres[order], f = presentation_score(recs, policy)
            failed = failed or f
        consistent = None
        if {"AB", "BA"} <= set(by_order):
            majority = {o: _majority_outcome(by_order[o]) for o in ("AB", "BA")}
            if None not in majority.values() and "tie" not in majority.values():
                consistent = majority["AB"] == majority["BA"]
        score = combine(pres, by_order)
        out[item_id] = ItemScore(item_id, subsets[item_id], score, pres, failed, consistent)
    return out


def _majority_outcome(records: list[Mapping[str, Any]]) -> str | None:
    counts = Counter(o for r in records if (o := record_outcome(r)) is not None)
    if not counts:
        return None
    top = counts.most_common()
    if len(top) > 1 and top[0][1] == top[1][1]:
        return "tie"
    return top[0][0]


def record_stats(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Parse-failure, truncation and leniency rates, verdict position bias and token totals."""
    n = len(records)
    failures = Counter(r["failure"] for r in records if r.get("failure"))
    read = [r for r in records if r.get("verdict") in (1, 2)]
    return {
        "records": n,
        "failure_rate": sum(failures.values()) / n if n else 0.0,
        "truncation_rate": sum(failures[k] for k in TRUNCATION) / n if n else 0.0,
        "lenient_rate": sum(1 for r in records if r.get("lenient")) / n if n else 0.0,
        "failures": {k: failures[k] for k in FAILURE_REASONS if failures[k]},
        "first_position_rate": (sum(1 for r in read if r["verdict"] == 1) / len(read)) if read else None,
        "tie_verdicts": sum(1 for r in records if r.get("verdict") == "tie"),
        "prompt_tokens": sum(int(r.get("prompt_tokens") or 0) for r in records),
        "completion_tokens": sum(int(r.get("completion_tokens") or 0) for r in records),
    }


def summarize_pairwise(
    records: list[Mapping[str, Any]],
    policy: FailurePolicy = "tie",
    item_ids: set[str] | None = None,
    rule: str = "mean",
) -> dict[str, Any]:
    """Per-subset accuracy, overall item accuracy, record statistics and position consistency. ``rule`` names how
    an item's presentations combine (:data:`ITEM_RULES`)."""
    if item_ids is not None:
        records = [r for r in records if r["item_id"] in item_ids]
    items = score_items(records, policy, rule=rule)
    by_subset: dict[str, list[ItemScore]] = defaultdict(list)
    for it in items.values():
        by_subset[it.subset].append(it)
    subsets = {
        s: {
            "accuracy": sum(i.score for i in its) / len(its),
            "n": len(its),
            "failed_items": sum(1 for i in its if i.failed),
        }
        for s, its in sorted(by_subset.items())
    }
    consistency = [i.consistent for i in items.values() if i.consistent is not None]
    return {
        "failure_policy": policy,
        "n_items": len(items),
        "accuracy": (sum(i.score for i in items.values()) / len(items)) if items else None,
        "subsets": subsets,
        "records": record_stats(records),
        "position_consistency": (sum(consistency) / len(consistency)) if consistency else None,
        "items_failed": sum(1 for i in items.values() if i.failed),
    }


def vote_accounting(records: Iterable[Mapping[str, Any]], votes: int) -> dict[str, Any]:
    """What voting cost: the votes drawn against ``votes`` x presentations (the full-k run), and the tokens spent.

    The tokens a full run would have spent are estimated per presentation as its drawn votes' mean times ``votes``
    (the votes not drawn were never generated, so their length is unknown; votes of one prompt share its length)."""
    drawn: Counter[tuple[str, str]] = Counter()
    tokens: dict[tuple[str, str], int] = defaultdict(int)
    completion = prompt = 0
    for r in records:
        key = (str(r["item_id"]), str(r["order"]))
        drawn[key] += 1
        c, p = int(r.get("completion_tokens") or 0), int(r.get("prompt_tokens") or 0)
        completion, prompt = completion + c, prompt + p
        tokens[key] += c + p
    n_drawn, full = sum(drawn.values()), votes * len(drawn)
    full_tokens = sum(tokens[k] / n * votes for k, n in drawn.items())
    spent = completion + prompt
    return {
        "votes_per_presentation": votes,
        "presentations": len(drawn),
        "votes_drawn": n_drawn,
        "votes_full": full,
        "votes_saved_fraction": (1.0 - n_drawn / full) if full else 0.0,
        "mean_votes": (n_drawn / len(drawn)) if drawn else None,
        "tokens": {
            "prompt": prompt,
            "completion": completion,
            "spent": spent,
            "full_estimate": round(full_tokens),
            "saved_fraction_estimate": (1.0 - spent / full_tokens) if full_tokens else 0.0,
        },
    }

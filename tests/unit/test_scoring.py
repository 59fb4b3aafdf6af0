"""Scoring pins: REFERENCE.md's RewardBench weighting, failure policies, vote majority, both-order consistency."""

from __future__ import annotations

import pytest

from rrm_eval.scoring import score_items, summarize_pairwise
from rrm_eval.tasks import SECTION_WEIGHTS, SECTIONS, SUBSET_COUNTS, section_scores


def test_subset_table_matches_reference():
    assert sum(SUBSET_COUNTS.values()) == 2985
    assert len(SUBSET_COUNTS) == 23
    assert {s for subs in SECTIONS.values() for s in subs} == set(SUBSET_COUNTS)
    assert SECTION_WEIGHTS["math-prm"] == 984 and SUBSET_COUNTS["math-prm"] == 447


def test_math_prm_weighs_as_much_as_all_code():
    acc = {s: 0.0 for s in SECTIONS["Reasoning"]}
    acc["math-prm"] = 1.0
    # 984 / (984 + 6 * 164) = 0.5 exactly: math counts as much as the six code subsets together
    assert section_scores(acc)["sections"]["Reasoning"] == pytest.approx(0.5)


def test_section_is_count_weighted_mean():
    acc = {s: 0.0 for s in SECTIONS["Chat"]}
    acc["alpacaeval-easy"] = 1.0
    assert section_scores(acc)["sections"]["Chat"] == pytest.approx(100 / 358)


def test_overall_is_plain_mean_of_sections_published_rrm_7b():
    # RRM-7B published: 87.71 / 70.39 / 80.68 / 90.00 -> 82.19 (REFERENCE.md)
    acc = {}
    for section, value in zip(SECTIONS, (0.8771, 0.7039, 0.8068, 0.9000), strict=True):
        acc.update({s: value for s in SECTIONS[section]})
    out = section_scores(acc)
    assert round(100 * out["overall"], 2) == 82.19
    assert "incomplete_sections" not in out


def test_partial_runs_are_flagged():
    out = section_scores({"alpacaeval-easy": 1.0})
    assert out["incomplete_sections"] == ["Chat", "Chat Hard", "Safety", "Reasoning"]


def rec(item, order, verdict, sample=0, failure=None, subset="s"):
    return {
        "item_id": item,
        "order": order,
        "verdict": verdict,
        "sample": sample,
        "failure": failure,
        "subset": subset,
        "key": f"{item}|{order}|{sample}",
    }


def test_order_maps_position_to_chosen():
    items = score_items([rec("a", "AB", 1), rec("b", "BA", 1), rec("c", "BA", 2), rec("d", "AB", "tie")])
    assert {k: v.score for k, v in items.items()} == {"a": 1.0, "b": 0.0, "c": 1.0, "d": 0.5}


@pytest.mark.parametrize("policy,expected", [("tie", 0.5), ("wrong", 0.0)])
def test_failure_policy(policy, expected):
    items = score_items([rec("a", "AB", None, failure="no_verdict")], policy)
    assert items["a"].score == expected and items["a"].failed


def test_unknown_policy_is_a_clear_error():
    from rrm_eval._errors import RRMError

    with pytest.raises(RRMError, match="failure policy"):
        score_items([], "coin")


def test_votes_majority_ignores_failed_votes():
    records = [
        rec("a", "AB", 1, 0),
        rec("a", "AB", 2, 1),
        rec("a", "AB", 1, 2),
        rec("b", "AB", 2, 0),
        rec("b", "AB", None, 1, "truncated"),
        rec("b", "AB", None, 2, "truncated"),
    ]
    items = score_items(records)
    assert items["a"].score == 1.0
    assert items["b"].score == 0.0 and not items["b"].failed


def test_even_vote_split_is_a_tie():
    assert score_items([rec("a", "AB", 1, 0), rec("a", "AB", 2, 1)])["a"].score == 0.5


def test_both_orders_average_and_consistency():
    records = [
        rec("a", "AB", 1),
        rec("a", "BA", 2),  # consistent, right
        rec("b", "AB", 1),
        rec("b", "BA", 1),  # position-biased: inconsistent
        rec("c", "AB", 2),
        rec("c", "BA", 1),
    ]  # consistent, wrong
    s = summarize_pairwise(records)
    assert s["accuracy"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert s["position_consistency"] == pytest.approx(2 / 3)


def test_rates_are_reported():
    records = [
        rec("a", "AB", 1),
        rec("b", "AB", None, failure="truncated"),
        rec("c", "AB", None, failure="no_verdict"),
        rec("d", "AB", 2),
    ]
    r = summarize_pairwise(records)["records"]
    assert r["failure_rate"] == 0.5 and r["truncation_rate"] == 0.25
    assert r["failures"] == {"no_verdict": 1, "truncated": 1}
    assert r["first_position_rate"] == 0.5

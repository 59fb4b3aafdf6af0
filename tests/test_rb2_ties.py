"""The RewardBench 2 Ties formula and the best-of-4 item rules, pinned with hand-computed cases."""

from __future__ import annotations

import math

import pytest

from rrm_eval.scoring._rewardbench2 import (
    margin_term,
    micro_from_units,
    official_from_units,
    ratings_item_score,
    ties_prompt_stats,
    ties_score,
    ties_units,
)


def test_prompt_stats_by_hand():
    s = ties_prompt_stats([9, 7, 8, 6, 2], num_correct=3)  # correct 9,7,8; incorrect 6,2
    assert (s.accurate, s.margin, s.spread) == (True, 1.0, 2.0)
    r = ties_prompt_stats([5, 5, 1], num_correct=1)
    assert (r.accurate, r.margin, r.spread) == (False, 0.0, None)


def test_ties_score_by_hand():
    # pid 1: ref ratings [9 | 4] -> margin 5; tied [9, 8 | 5] -> margin 3, spread 1.
    # pid 2: ref [6 | 7] -> margin -1 (not accurate); tied [8, 4 | 3] -> margin 1, spread 4.
    units = ties_units({"ref:1": ([9, 4], 1), "tied:1": ([9, 8, 5], 2), "ref:2": ([6, 7], 1), "tied:2": ([8, 4, 3], 2)})
    got = ties_score(units)
    # tied acc 1, ref acc 1/2; preferred: 3 > 1 yes, 1 > 4 no -> 1/2; hard: min(5,3)=3 > 1 yes, min(-1,1)=-1 > 4 no
    # -> 1/2; margin: tanh(3/1 - 1) = tanh(2), tanh(-1/4 - 1) = tanh(-1.25).
    margin = (math.tanh(2) + math.tanh(-1.25)) / 2
    expected = 0.30 * 1 + 0.30 * 0.5 + 0.20 * 0.5 + 0.20 * 0.5 + 0.01 * margin
    assert got["score"] == pytest.approx(expected, abs=1e-12)
    assert got["paired_prompts"] == 2 and got["unpaired_prompts"] == 0


def test_spread_zero_leaves_the_tanh_mean_as_reward_bench_does():
    assert margin_term(2.0, 0.0) is None and margin_term(-2.0, 0.0) is None
    assert margin_term(2.0, 1.0) == pytest.approx(math.tanh(1.0))
    # all correct rated the same (spread 0) and above every incorrect one: the tanh mean is over no prompt id (0)
    units = ties_units({"ref:7": ([8, 3], 1), "tied:7": ([8, 8, 2], 2)})
    got = ties_score(units)
    assert got["score"] == pytest.approx(1.0) and got["correctness_preferred_hard"] == 1.0
    # ... and a spread-0 id next to a spread-1 id: the mean is over the spread-1 id only
    units = ties_units({"ref:7": ([8, 3], 1), "tied:7": ([8, 8, 2], 2), "ref:8": ([9, 4], 1), "tied:8": ([9, 8, 5], 2)})
    # pid 8: min margin min(5, 3) = 3, spread 1 -> tanh(3 / 1 - 1) = tanh(2)
    assert ties_score(units)["correctness_margin_score"] == pytest.approx(math.tanh(2.0))


def test_unpaired_ids_count_in_accuracy_only_and_failures_count_against():
    units = ties_units({"ref:1": ([9, 4], 1), "tied:2": ([None, 8, 5], 2)})
    got = ties_score(units)
    # tied:2 failed correct rating -> 0, so worst correct 0 < 5: not accurate; no pid has both rows
    assert got["paired_prompts"] == 0 and got["unpaired_prompts"] == 2
    assert got["score"] == pytest.approx(0.30 * 0 + 0.30 * 1)


def test_ratings_tie_sharing_and_failures():
    assert ratings_item_score([9, 3, 9, 2], "tie") == pytest.approx(0.5)
    assert ratings_item_score([9, 9, 9, 9], "tie") == pytest.approx(0.25)
    assert ratings_item_score([8, 9, 1, 1], "tie") == 0.0
    assert ratings_item_score([10, 3, 2, 1], "wrong") == 1.0
    assert ratings_item_score([10, None, 2, 1], "tie") == 0.25
    assert ratings_item_score([10, None, 2, 1], "wrong") == 0.0


def test_official_is_unweighted_and_micro_item_weighted():
    units = {"Math": [1.0, 1.0, 1.0], "Focus": [0.0], "Ties": ties_units({"ref:1": ([9, 1], 1)})}
    ties = 0.30  # ref accuracy 1, nothing else
    assert official_from_units(units) == pytest.approx((1.0 + 0.0 + ties) / 3)
    assert micro_from_units(units) == pytest.approx((3 * 1.0 + 0.0 + 1 * ties) / 5)

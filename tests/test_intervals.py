"""Bootstrap intervals and the exact McNemar / sign test: hand-computed cases, determinism, summaries."""

from __future__ import annotations

import json

import pytest

from rrm_eval.scoring import (
    ItemScore,
    bootstrap_intervals,
    mcnemar_exact,
    paired_bootstrap,
    score_dependencies,
    score_leaves,
    sign_test,
)
from rrm_eval.tasks import get_task


def items(scores: dict[str, list[float]]) -> dict[str, ItemScore]:
    out = {}
    for subset, values in scores.items():
        for k, v in enumerate(values):
            out[f"{subset}-{k}"] = ItemScore(f"{subset}-{k}", subset, v, {"AB": v}, False, None)
    return out


def mean_of_subsets(acc: dict[str, float], counts: dict[str, int]) -> dict[str, object]:
    """A toy benchmark: unweighted mean of subsets plus the pooled (micro) accuracy and a count."""
    total = sum(counts.values())
    return {
        "overall": sum(acc.values()) / len(acc),
        "variants": {"micro": sum(acc[s] * counts[s] for s in acc) / total},
        "n_subsets": len(acc),
    }


def test_mcnemar_exact_known_tables():
    assert mcnemar_exact(1, 9) == 0.021484375  # 2 * (C(10,0) + C(10,1)) / 2**10 = 22/1024
    assert mcnemar_exact(9, 1) == 0.021484375
    assert mcnemar_exact(0, 5) == 2 / 32
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(4, 5) == 1.0  # twice the smaller tail exceeds 1: capped
    assert 0 < mcnemar_exact(14_000, 15_000) < 1e-7  # large n stays exact in integers


def test_sign_test_rule_for_fractional_scores():
    a = [1.0, 1.0, 0.5, 0.5, 0.0, 0.0, 0.5, 1.0]
    b = [1.0, 0.0, 1.0, 0.5, 0.5, 1.0, 0.0, 0.75]
    t = sign_test(a, b)
    # discordant: (1,0) A; (0.5,1) B; (0,0.5) B; (0,1) B; (0.5,0) A; (1,0.75) A -> 3 each
    assert (t.n, t.a_better, t.b_better, t.p_value) == (8, 3, 3, 1.0)
    assert sign_test([0, 0, 0], [1, 1, 1]).p_value == 0.25


def test_score_leaves_keeps_floats_only():
    leaves = score_leaves({"overall": 0.5, "sections": {"Chat": 0.25}, "n_rounds": 3, "incomplete_sections": ["x"]})
    assert leaves == {"overall": 0.5, "sections.Chat": 0.25}


def test_interval_contains_point_and_shrinks_with_n():
    widths = []
    for n in (10, 40, 160, 640):
        its = items({"s1": [1.0] * (6 * n // 10) + [0.0] * (4 * n // 10), "s2": [1.0, 0.5, 0.0, 1.0] * (n // 4)})
        iv = bootstrap_intervals(its, mean_of_subsets, 1000, seed=0)
        point = mean_of_subsets({"s1": 0.6, "s2": 0.625}, {"s1": n, "s2": n})
        for name, value in score_leaves(point).items():
            lo, hi = iv.scores[name]
            assert lo <= value <= hi, (n, name)
        assert iv.subsets["s1"][0] <= 0.6 <= iv.subsets["s1"][1]
        assert set(iv.scores) == {"overall", "variants.micro"}  # the count is no estimate
        widths.append(iv.scores["overall"][1] - iv.scores["overall"][0])
    assert widths == sorted(widths, reverse=True) and widths[-1] < widths[0] / 4  # ~1/sqrt(n)


def test_interval_matches_normal_approximation():
    # 400 items at p = 0.7: the bootstrap's 95 % width should be close to 2 * 1.96 * sqrt(p(1-p)/n) = 0.0898.
    iv = bootstrap_intervals(items({"s": [1.0] * 280 + [0.0] * 120}), mean_of_subsets, 4000, seed=3)
    lo, hi = iv.subsets["s"]
    assert 0.080 < hi - lo < 0.100


def test_constant_subset_has_a_point_interval():
    iv = bootstrap_intervals(items({"s": [1.0] * 7}), mean_of_subsets, 200)
    assert iv.subsets["s"] == (1.0, 1.0)


def test_deterministic_and_seed_sensitive():
    its = items({"a": [1.0, 0.0, 0.5] * 20, "b": [1.0, 1.0, 0.0] * 15})
    one = bootstrap_intervals(its, mean_of_subsets, 500, seed=7, content=("t",))
    again = bootstrap_intervals(dict(reversed(list(its.items()))), mean_of_subsets, 500, seed=7, content=("t",))
    assert one == again  # order of the items does not matter
    assert bootstrap_intervals(its, mean_of_subsets, 500, seed=8, content=("t",)) != one


def test_paired_identical_runs_give_zero():
    its = items({"a": [1.0, 0.0, 0.5] * 20, "b": [1.0, 1.0, 0.0] * 15})
    pb = paired_bootstrap(its, dict(its), mean_of_subsets, 300)
    assert all(e.diff == 0 and e.ci == (0.0, 0.0) for e in [*pb.scores.values(), *pb.subsets.values()])


def test_paired_difference_and_common_items_only():
    a = items({"s": [1.0] * 50 + [0.0] * 50})
    b = items({"s": [1.0] * 80 + [0.0] * 20})
    b["extra"] = ItemScore("extra", "s", 1.0, {}, False, None)  # judged by B only: left out
    pb = paired_bootstrap(a, b, mean_of_subsets, 1000, seed=1)
    est = pb.subsets["s"]
    assert pb.n_common == 100 and est.a == 0.5 and est.b == 0.8 and est.diff == pytest.approx(0.3)
    assert est.ci[0] <= 0.3 <= est.ci[1] and est.ci[0] > 0
    # paired: B is right wherever A is (50 items), so the paired interval is narrower than the unpaired one
    assert est.ci[1] - est.ci[0] < 2 * 1.96 * ((0.5 * 0.5 + 0.8 * 0.2) / 100) ** 0.5


def test_score_dependencies_rewardbench():
    task = get_task("rewardbench")
    acc = {"alpacaeval-easy": 0.5, "mt-bench-hard": 0.5, "math-prm": 0.7, "hep-go": 0.6}
    deps = score_dependencies(task.summarize, acc, dict.fromkeys(acc, 10))
    assert deps["sections.Chat"] == ["alpacaeval-easy"]
    assert deps["sections.Reasoning"] == ["hep-go", "math-prm"]
    assert deps["overall"] == sorted(acc)


def test_rewardbench_interval_applies_section_weighting():
    task = get_task("rewardbench")
    its = items({"math-prm": [1.0] * 30, "hep-go": [0.0] * 30})  # constant subsets: no randomness at all
    iv = bootstrap_intervals(its, task.summarize, 100)
    assert iv.scores["sections.Reasoning"] == pytest.approx((984 / (984 + 164),) * 2)


def test_bad_resamples_is_a_user_error():
    from rrm_eval import RRMError

    with pytest.raises(RRMError):
        bootstrap_intervals(items({"s": [1.0]}), mean_of_subsets, 0)


def test_summary_intervals_same_on_rescore(tmp_path):
    from helpers import SAMPLE, cli

    run = tmp_path / "run"
    res = cli("pairwise", "--model", "scripted:random", "--judge", "rrm", "--quiet", "--run-dir", run, "--seed", "3")
    assert res.returncode == 0, res.stderr
    summary = json.loads((run / "summary.json").read_text())
    iv = summary["intervals"]
    assert iv["method"] == "percentile bootstrap, items resampled within subsets"
    assert iv["resamples"] == 1000 and iv["seed"] == 3
    assert set(iv["subsets"]) == set(summary["subsets"])
    assert set(iv["scores"]) == {"overall", *(f"sections.{s}" for s in summary["scores"]["sections"])}
    lo, hi = iv["scores"]["overall"]
    assert lo <= summary["scores"]["overall"] <= hi
    assert "[" in res.stdout and "95% CI" in res.stdout
    assert SAMPLE.exists()
    again = cli("rescore", run)
    assert again.returncode == 0, again.stderr
    assert json.loads((run / "summary.rescored.json").read_text())["intervals"] == iv
    resumed = cli(
        "pairwise", "--model", "scripted:random", "--judge", "rrm", "--quiet", "--run-dir", run, "--seed", "3"
    )
    assert resumed.returncode == 0 and json.loads((run / "summary.json").read_text())["intervals"] == iv

"""RewardBench 2 bootstrap intervals, bestof comparisons and bestof re-scoring: hand-checkable cases, the vectorised
formula against explicit resamples, determinism (resume, re-score, item order), and every refusal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, cli, read_jsonl, write_jsonl

import rrm_eval
from rrm_eval import BestOfConfig, BestOfRunConfig, TaskOptions
from rrm_eval.models import Model
from rrm_eval.models._scripted import ScriptedDriver
from rrm_eval.scoring import mcnemar_exact
from rrm_eval.scoring._rewardbench2 import (
    AGGREGATIONS,
    RB2Scores,
    rb2_intervals,
    rb2_statistic,
    subset_features,
    ties_score,
    ties_units,
)

SAMPLE2 = REPO / "rrm_eval" / "tasks" / "data" / "rewardbench2_sample.jsonl"
ROWS = read_jsonl(SAMPLE2)
CORRECT = {r["prompt"].strip(): {c.strip() for c in r["chosen"]} for r in ROWS}
N_TIES_PIDS = len({str(r["id"]).partition(":")[2] for r in ROWS if r["subset"] == "Ties"})


# -- judges that know the answers (or nothing) ------------------------------------------------------------------------
def _body(prompt: str, start: str, end: str) -> str:
    return prompt.split(start, 1)[1].split(end, 1)[0].strip()


def oracle(prompt: str, sample: int, seed: int) -> str:
    correct = next(v for q, v in CORRECT.items() if q in prompt)
    if "## Candidate responses" in prompt:
        for k in range(1, 5):
            if _body(prompt, f"### Response {k}\n\n", f"\n\n(end of response {k})") in correct:
                return f"[[{k}]]"
        return "[[9]]"
    if "## Your rating" in prompt:
        return "Rating: 9" if _body(prompt, "## Response\n\n", "\n\n## Your rating") in correct else "Rating: 3"
    return "[[A]]"


def flat(prompt: str, sample: int, seed: int) -> str:
    """Slot 1 in listwise, 5 for every rating: Ties never accurate (worst correct 5 is not above best incorrect 5)."""
    return "[[1]]" if "## Candidate responses" in prompt else "Rating: 5"


def run_bestof(out: Path, mode: str, respond, **kw) -> rrm_eval.BestOfOutcome:
    cfg = BestOfRunConfig(
        model="scripted:custom",
        task=kw.pop("task", "rewardbench2-sample"),
        task_options=kw.pop("task_options", TaskOptions()),
        protocol=BestOfConfig(mode=mode, seed=kw.pop("seed", 0)),
        run_dir=str(out),
        **kw,
    )
    return rrm_eval.evaluate_bestof(cfg, model=Model(ScriptedDriver("custom", respond=respond)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bestof")
    made = {
        "oracle-listwise": ("listwise", oracle),
        "flat-listwise": ("listwise", flat),
        "oracle-ratings": ("ratings", oracle),
        "flat-ratings": ("ratings", flat),
    }
    return {name: run_bestof(root / name, mode, fn).run_dir for name, (mode, fn) in made.items()}


def refused(res) -> str:
    assert res.returncode == 2 and "error:" in res.stderr and "hint:" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    return res.stderr


# -- the vectorised formula is the formula ----------------------------------------------------------------------------
TIES_ROWS = {"ref:1": ([9, 4], 1), "tied:1": ([9, 8, 5], 2), "ref:2": ([6, 7], 1), "tied:2": ([8, 4, 3], 2),
             "ref:3": ([5, 5], 1), "tied:4": ([7, 7, 2], 2)}  # fmt: skip
MATH = [1.0, 0.0, 0.25, 1.0, 0.5]
FOCUS = [1.0, 1.0, 0.0]


def test_sums_statistic_equals_the_formula_on_explicit_resamples():
    """Each row of an explicit count matrix is a resample; the array statistic must equal the official functions
    applied to the units it draws (duplicated as drawn), Ties recomputed from the drawn prompt ids."""
    units = {"Math": MATH, "Focus": FOCUS, "Ties": ties_units(TIES_ROWS)}
    rng = np.random.default_rng(5)
    weights = {s: rng.multinomial(len(u), [1 / len(u)] * len(u), size=40) for s, u in units.items()}
    sums = {s: weights[s] @ subset_features(s, units[s]) for s in units}
    subsets, scores = rb2_statistic(sums)
    for b in range(40):
        drawn = {s: [u for u, w in zip(units[s], weights[s][b], strict=True) for _ in range(w)] for s in units}
        assert subsets["Ties"][b] == pytest.approx(ties_score(drawn["Ties"])["score"], abs=1e-12)
        assert subsets["Math"][b] == pytest.approx(sum(drawn["Math"]) / len(MATH), abs=1e-12)
        for name, aggregate in AGGREGATIONS.items():
            assert scores[name][b] == pytest.approx(aggregate(drawn), abs=1e-12), (name, b)


def test_statistic_on_the_data_is_the_summary_formula():
    units = {"Math": MATH, "Ties": ties_units(TIES_ROWS)}
    subsets, scores = rb2_statistic({s: subset_features(s, u).sum(axis=0, keepdims=True) for s, u in units.items()})
    ties = ties_score(units["Ties"])["score"]
    assert subsets["Ties"][0] == pytest.approx(ties, abs=1e-15)
    assert scores["overall"][0] == pytest.approx((sum(MATH) / 5 + ties) / 2, abs=1e-15)
    rows = 5 + len(TIES_ROWS)
    assert scores["micro"][0] == pytest.approx((sum(MATH) + len(TIES_ROWS) * ties) / rows, abs=1e-15)


def scored(math: list[float], ties_rows: dict, focus: list[float] | None = None) -> RB2Scores:
    out = RB2Scores()
    for name, values in (("Math", math), ("Focus", focus or [])):
        if values:
            out.item_scores[name] = {f"{name.lower()}-{k}": v for k, v in enumerate(values)}
            out.units[name] = list(values)
    out.ties_rows = dict(ties_rows)
    if ties_rows:
        out.units["Ties"] = list(ties_units(ties_rows))
    return out


def test_constant_subsets_give_point_intervals_by_hand():
    # Math all right, Focus all wrong, one Ties pid: nothing can vary, every interval is its point.
    iv = rb2_intervals(scored([1.0] * 4, {"ref:7": ([8, 3], 1), "tied:7": ([8, 8, 2], 2)}, [0.0] * 3), 300)
    # Ties: spread 0, so the tanh mean is over no prompt id (reward-bench's rule): 1.00
    assert iv.subsets == {"Math": (1.0, 1.0), "Focus": (0.0, 0.0), "Ties": pytest.approx((1.0, 1.0))}
    assert iv.scores["overall"] == pytest.approx(((1 + 0 + 1.0) / 3,) * 2)
    assert iv.scores["micro"] == pytest.approx(((4 + 0 + 2 * 1.0) / 9,) * 2)


def test_ties_resamples_whole_prompt_ids_by_hand():
    """Two pids, one perfect and one wrong. Drawing 2 pids with replacement: {good, good} (p 1/4), {good, bad} (1/2),
    {bad, bad} (1/4), so the 2.5th / 97.5th percentiles are exactly the all-bad and the all-good Ties scores.
    Resampling the four rows on their own would mix one pid's ref row with the other's tied row and reach these two
    values with probability 1/256 each, far inside the tails."""
    good = {"ref:g": ([9, 2], 1), "tied:g": ([9, 9, 1], 2)}
    bad = {"ref:b": ([2, 9], 1), "tied:b": ([3, 3, 8], 2)}
    iv = rb2_intervals(scored([], {**good, **bad}), 2000, seed=1)
    all_bad, all_good = ties_score(ties_units(bad))["score"], ties_score(ties_units(good))["score"]
    assert all_good == pytest.approx(1.0)
    # bad: ref margin 2-9 = -7, tied margin 3-8 = -5, spread 0: both inaccurate, no tanh term (spread 0) -> 0
    assert all_bad == pytest.approx(0.0)
    assert iv.subsets["Ties"] == pytest.approx((all_bad, all_good))
    assert iv.scores["overall"] == pytest.approx((all_bad, all_good))


def test_interval_contains_the_point_and_shrinks_with_n():
    widths = []
    for n in (20, 80, 320):
        rng = np.random.default_rng(n)
        math = [float(x) for x in rng.choice([0.0, 0.25, 1.0], size=n)]
        ties = {}
        for pid in range(n // 4):
            ties[f"ref:{pid}"] = ([int(x) for x in rng.integers(1, 11, size=4)], 1)
            ties[f"tied:{pid}"] = ([int(x) for x in rng.integers(1, 11, size=6)], 2)
        s = scored(math, ties)
        iv = rb2_intervals(s, 1000)
        point = AGGREGATIONS["overall"](s.units)
        assert iv.scores["overall"][0] <= point <= iv.scores["overall"][1]
        assert iv.subsets["Math"][0] <= sum(math) / n <= iv.subsets["Math"][1]
        widths.append(iv.scores["overall"][1] - iv.scores["overall"][0])
    assert widths == sorted(widths, reverse=True) and widths[-1] < widths[0] / 2.5  # about 1/sqrt(n)


def test_deterministic_order_free_and_seed_sensitive():
    base = scored(MATH * 6, TIES_ROWS, FOCUS * 5)
    one = rb2_intervals(base, 500, seed=4, content=("rewardbench2",))
    shuffled = scored([], {})
    shuffled.item_scores = {s: dict(reversed(list(d.items()))) for s, d in reversed(list(base.item_scores.items()))}
    shuffled.ties_rows = dict(reversed(list(base.ties_rows.items())))
    assert rb2_intervals(shuffled, 500, seed=4, content=("rewardbench2",)) == one
    assert rb2_intervals(base, 500, seed=5, content=("rewardbench2",)) != one
    assert rb2_intervals(base, 500, seed=4, content=("rewardbench2-sample",)).rng_seed != one.rng_seed


# -- summary.json, the table, resume and rescore ----------------------------------------------------------------------
def test_summary_has_intervals_in_the_pairwise_layout(runs):
    summary = json.loads((runs["flat-ratings"] / "summary.json").read_text())
    iv = summary["intervals"]
    assert set(iv) == {"method", "confidence", "resamples", "seed", "rng_seed", "scores", "subsets"}
    assert iv["resamples"] == 1000 and iv["confidence"] == 0.95 and "whole prompt ids" in iv["method"]
    assert set(iv["subsets"]) == set(summary["subsets"]) and set(iv["scores"]) == {"overall", "micro"}
    for name, (lo, hi) in iv["subsets"].items():
        assert lo <= summary["subsets"][name]["score"] + 1e-12 and summary["subsets"][name]["score"] <= hi + 1e-12
    # Rating 5 everywhere: every best-of-4 item shares the top four ways (0.25 each), Ties never accurate
    assert iv["subsets"]["Math"] == [0.25, 0.25]
    assert summary["subsets"]["Ties"]["ties"]["tied_accuracy"] == 0.0


def test_resume_and_rescore_reproduce_the_intervals(tmp_path):
    first = run_bestof(tmp_path / "run", "listwise", flat, seed=3)
    iv = first.summary["intervals"]
    assert iv["seed"] == 3
    again = run_bestof(tmp_path / "run", "listwise", flat, seed=3)
    assert again.written == 0 and again.summary["intervals"] == iv
    res = cli("rescore", first.run_dir)
    assert res.returncode == 0, res.stderr
    assert json.loads((first.run_dir / "summary.rescored.json").read_text())["intervals"] == iv
    assert "official overall" in res.stdout and "95% CI" in res.stdout
    lo, hi = iv["scores"]["overall"]
    assert f"[{100 * lo:.1f}, {100 * hi:.1f}]" in res.stdout
    assert rrm_eval.rescore(first.run_dir)["intervals"] == iv  # the public helper dispatches on the run kind


def test_bootstrap_zero_turns_intervals_off_and_rescore_keeps_the_count(tmp_path):
    off = run_bestof(tmp_path / "off", "ratings", flat, bootstrap=0)
    assert "intervals" not in off.summary
    few = run_bestof(tmp_path / "few", "ratings", flat, bootstrap=50)
    assert few.summary["intervals"]["resamples"] == 50
    assert rrm_eval.rescore_bestof(few.run_dir)["intervals"] == few.summary["intervals"]


def test_cli_prints_score_with_interval(tmp_path):
    res = cli("bestof", "--rb2-mode", "ratings", "--model", "scripted:first", "--quiet", "--subsets", "Math,Ties",
              "--output-dir", str(tmp_path), "--bootstrap", "200")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "score (%) [95% CI]" in res.stdout and "200 resamples" in res.stdout
    math_line = next(line for line in res.stdout.splitlines() if "Math" in line)
    assert "[" in math_line and "]" in math_line


def test_rescore_with_another_failure_policy(tmp_path):
    out = run_bestof(tmp_path / "amb", "listwise", lambda p, s, seed: "[[1]] or [[2]]")
    assert out.summary["subsets"]["Math"]["score"] == pytest.approx(0.25)
    res = cli("rescore", out.run_dir, "--failure-policy", "wrong")
    assert res.returncode == 0, res.stderr
    wrong = json.loads((out.run_dir / "summary.rescored.json").read_text())
    assert wrong["subsets"]["Math"]["score"] == 0.0 and wrong["intervals"]["subsets"]["Math"] == [0.0, 0.0]
    assert wrong["rescored_with"] == {"failure_policy": "wrong"}
    assert rrm_eval.rescore(out.run_dir, failure_policy="wrong") == wrong


def test_rescore_refusals(runs, tmp_path):
    d = runs["flat-listwise"]
    assert "--verdict-policy" in refused(cli("rescore", d, "--verdict-policy", "coin"))
    assert "--judge-parser" in refused(cli("rescore", d, "--judge-parser", "slot_of_4"))
    with pytest.raises(rrm_eval.RRMError, match="re-parsing"):
        rrm_eval.rescore(d, parser="slot_of_4")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "spec.json").write_bytes((d / "spec.json").read_bytes())
    assert "items.json" in refused(cli("rescore", broken))


# -- compare ----------------------------------------------------------------------------------------------------------
def _rows(comp: dict) -> dict[str, dict]:
    return {r["name"]: r for r in comp["rows"]}


def test_compare_listwise_against_ratings_by_hand(runs, tmp_path):
    a, b = runs["flat-ratings"], runs["oracle-listwise"]
    out = tmp_path / "cmp.json"
    res = cli("compare", a, b, "--json", out)
    assert res.returncode == 0, res.stderr
    assert "modes compared: A ratings vs B listwise" in res.stdout
    assert "B better than A overall" in res.stdout and "on Ties" in res.stdout and "95% CI" in res.stdout
    data = json.loads(out.read_text())
    assert data["kind"] == "bestof" and "per-prompt-id accuracy" in data["test"]
    comp = data["comparisons"][0]
    assert comp["n_common"] == len(ROWS) and comp["only_a"] == comp["only_b"] == 0
    rows = _rows(comp)
    # Math: A scores 0.25 on each of its 6 items (a four-way tie), B 1: six discordant items for B
    math = rows["Math"]
    assert (math["n"], math["a"], math["b"], math["a_better"], math["b_better"]) == (6, 0.25, 1.0, 0, 6)
    assert math["p_value"] == mcnemar_exact(0, 6) and math["ci"] == [0.75, 0.75]
    # Ties: rated by the oracle in B (every pid accurate), flat in A (none): one discordant unit per prompt id
    ties = rows["Ties"]
    assert (ties["n"], ties["unit"], ties["a_better"], ties["b_better"]) == (N_TIES_PIDS, "prompt ids", 0, N_TIES_PIDS)
    assert ties["p_value"] == mcnemar_exact(0, N_TIES_PIDS) and ties["b"] == pytest.approx(1.0)
    overall = rows["overall"]
    assert overall["n"] == len(ROWS) - sum(r["subset"] == "Ties" for r in ROWS) + N_TIES_PIDS
    assert overall["b_better"] == overall["n"] and overall["ci"][0] > 0
    assert overall["a"] == pytest.approx(json.loads((a / "summary.json").read_text())["scores"]["overall"])
    assert rrm_eval.compare_runs([a, b]) == data  # deterministic


def test_identical_bestof_runs_do_not_differ(runs, tmp_path):
    a = runs["flat-listwise"]
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("spec.json", "records.jsonl", "items.json"):
        (copy / name).write_bytes((a / name).read_bytes())
    comp = rrm_eval.compare_runs([a, copy])["comparisons"][0]
    for r in comp["rows"]:
        assert r["diff"] == 0 and r["ci"] == [0.0, 0.0] and r["p_value"] == 1.0, r["name"]
    assert all(v.startswith("no significant difference") for v in comp["verdicts"])
    assert len(comp["verdicts"]) == 8  # overall, six subsets, micro


def test_compare_on_common_items_only(tmp_path):
    a = run_bestof(tmp_path / "a", "ratings", flat, task_options=TaskOptions(subsets=("Math", "Ties")))
    b = run_bestof(tmp_path / "b", "listwise", oracle, task_options=TaskOptions(subsets=("Math", "Focus")))
    comp = rrm_eval.compare_runs([a.run_dir, b.run_dir])["comparisons"][0]
    assert {r["name"] for r in comp["rows"] if r["kind"] == "subset"} == {"Math"}
    assert comp["n_common"] == 6 and comp["only_b"] == 5  # Focus items judged by B only
    assert _rows(comp)["overall"]["diff"] == pytest.approx(0.75)


def test_refuses_pairwise_against_bestof(runs, tmp_path):
    pair = tmp_path / "pair"
    res = cli("pairwise", "--model", "scripted:first", "--judge", "rrm", "--quiet", "--run-dir", pair)
    assert res.returncode == 0, res.stderr
    msg = refused(cli("compare", pair, runs["flat-listwise"]))
    assert "bestof run" in msg and "pairwise run" in msg and "cannot be paired" in msg
    assert "pairwise run" in refused(cli("compare", runs["flat-listwise"], pair))


def test_refuses_other_task_or_data(runs, tmp_path):
    other_task = run_bestof(tmp_path / "t", "listwise", flat, task="rewardbench2",
                            task_options=TaskOptions(data=str(SAMPLE2)))  # fmt: skip
    assert "task" in refused(cli("compare", runs["flat-listwise"], other_task.run_dir))
    rows = [dict(r) for r in ROWS]
    rows[0]["prompt"] += " (edited)"
    path = write_jsonl(tmp_path / "edited.jsonl", rows)
    edited = run_bestof(tmp_path / "e", "listwise", flat, task="rewardbench2", task_options=TaskOptions(data=str(path)))
    assert "data fingerprint" in refused(cli("compare", other_task.run_dir, edited.run_dir))


def test_refuses_no_common_items_and_missing_files(tmp_path, runs):
    a = run_bestof(tmp_path / "a", "ratings", flat, task_options=TaskOptions(subsets=("Math",)))
    b = run_bestof(tmp_path / "b", "ratings", flat, task_options=TaskOptions(subsets=("Focus",)))
    assert "no judged item in common" in refused(cli("compare", a.run_dir, b.run_dir))
    (b.run_dir / "items.json").unlink()
    assert "items.json" in refused(cli("compare", a.run_dir, b.run_dir))
    with pytest.raises(rrm_eval.RRMError, match="unknown failure policy"):
        rrm_eval.compare_runs([a.run_dir, runs["flat-ratings"]], failure_policy="x")


def test_ties_p_value_rule_is_stated():
    from rrm_eval.pipelines._compare_bestof import TIES_TEST, pid_accuracy

    units = ties_units({"ref:1": ([9, 4], 1), "tied:1": ([3, 8, 5], 2), "ref:2": ([6, 7], 1)})
    assert [pid_accuracy(u) for u in units] == [0.5, 0.0]  # pid 1: ref accurate, tied not; pid 2: ref not
    assert "per-prompt-id accuracy" in TIES_TEST

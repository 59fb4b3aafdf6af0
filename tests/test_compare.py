"""`rrm-eval compare`: paired comparison end to end on scripted runs, and every refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import cli

from rrm_eval import compare_runs


def pairwise(run: Path, model: str, *extra: str) -> None:
    res = cli("pairwise", "--model", model, "--judge", "rrm", "--quiet", "--run-dir", run, *extra)
    assert res.returncode == 0, res.stderr


def refused(res) -> str:
    assert res.returncode == 2 and "error:" in res.stderr and "hint:" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    return res.stderr


@pytest.fixture
def two_runs(tmp_path: Path, marked_pairs: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "first", tmp_path / "marker"
    pairwise(a, "scripted:first", "--dataset", "rewardbench-sample", "--data", str(marked_pairs))
    pairwise(b, "scripted:marker", "--dataset", "rewardbench-sample", "--data", str(marked_pairs))
    return a, b


def test_compare_end_to_end(two_runs, tmp_path):
    a, b = two_runs
    out = tmp_path / "cmp.json"
    res = cli("compare", a, b, "--json", out)
    assert res.returncode == 0, res.stderr
    assert "B better than A" in res.stdout and "95% CI" in res.stdout and "McNemar" in res.stdout
    assert "not adjusted for multiplicity" in res.stdout
    data = json.loads(out.read_text())
    comp = data["comparisons"][0]
    assert comp["n_common"] == 40 and (comp["a"], comp["b"]) == ("A", "B")
    rows = {r["name"]: r for r in comp["rows"]}
    overall = rows["overall"]
    assert overall["b"] == 1.0 and overall["diff"] > 0 and overall["ci"][0] > 0
    # the marker judge is right on all 40 items; scripted:first only where the seeded order put the chosen first
    a_right = round(40 * json.loads((a / "summary.json").read_text())["accuracy"])
    assert 0 < a_right < 40
    assert (overall["n"], overall["a_better"], overall["b_better"]) == (40, 0, 40 - a_right)
    from rrm_eval.scoring import mcnemar_exact

    assert overall["p_value"] == mcnemar_exact(0, overall["b_better"])
    assert (
        rows["sections.Chat"]["n"] == 8 and rows["sections.Reasoning"]["n"] == 16
    )  # alpacaeval-easy; math-prm + hep-go
    assert {r["name"] for r in comp["rows"] if r["kind"] == "subset"} == {
        "alpacaeval-easy",
        "mt-bench-hard",
        "donotanswer",
        "math-prm",
        "hep-go",
    }
    assert compare_runs([a, b]) == data  # deterministic: the same numbers again


def test_identical_runs_do_not_differ(two_runs, tmp_path):
    a, _ = two_runs
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("spec.json", "records.jsonl"):
        (copy / name).write_bytes((a / name).read_bytes())
    data = compare_runs([a, copy])
    for r in data["comparisons"][0]["rows"]:
        assert r["diff"] == 0 and r["ci"] == [0.0, 0.0] and r["p_value"] == 1.0
    assert all(v.startswith("no significant difference") for v in data["comparisons"][0]["verdicts"])


def test_three_runs_each_against_the_first(two_runs, tmp_path, marked_pairs):
    a, b = two_runs
    c = tmp_path / "second"
    pairwise(c, "scripted:second", "--dataset", "rewardbench-sample", "--data", str(marked_pairs))
    res = cli("compare", a, b, c)
    assert res.returncode == 0, res.stderr
    assert "B vs A" in res.stdout and "C vs A" in res.stdout


def test_refuses_a_single_run(two_runs):
    assert "at least two runs" in refused(cli("compare", two_runs[0]))


def test_refuses_different_tasks(two_runs, tmp_path, marked_pairs):
    other = tmp_path / "rb"
    pairwise(other, "scripted:first", "--dataset", "rewardbench", "--data", str(marked_pairs))
    assert "task" in refused(cli("compare", two_runs[0], other))


def test_refuses_different_data(two_runs, tmp_path):
    other = tmp_path / "sample"
    pairwise(other, "scripted:first", "--dataset", "rewardbench-sample", "--limit", "5")
    assert "data fingerprint" in refused(cli("compare", two_runs[0], other))


def test_refuses_non_pairwise_run(two_runs, tmp_path):
    from rrm_eval.runs import write_json

    other = tmp_path / "tour"
    other.mkdir()
    write_json(other / "spec.json", {"kind": "tournament", "fingerprint": "x"})
    assert "not a pairwise or bestof run" in refused(cli("compare", two_runs[0], other))


def test_refuses_a_missing_directory(two_runs, tmp_path):
    assert "not a directory" in refused(cli("compare", two_runs[0], tmp_path / "nope"))


def test_refuses_no_common_items(tmp_path, marked_pairs):
    a, b = tmp_path / "a", tmp_path / "b"
    pairwise(a, "scripted:first", "--dataset", "rewardbench-sample", "--data", str(marked_pairs), "--subsets", "hep-go")
    pairwise(
        b, "scripted:first", "--dataset", "rewardbench-sample", "--data", str(marked_pairs), "--subsets", "math-prm"
    )
    assert "no judged item in common" in refused(cli("compare", a, b))


def test_refuses_a_run_without_records(two_runs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "spec.json").write_bytes((two_runs[0] / "spec.json").read_bytes())
    assert "no judge records" in refused(cli("compare", two_runs[0], empty))


def test_refuses_the_same_run_twice(two_runs):
    assert "twice" in refused(cli("compare", two_runs[0], two_runs[0]))


def test_bad_bootstrap_is_a_usage_error(two_runs):
    res = cli("compare", *two_runs, "--bootstrap", "0")
    assert res.returncode == 2 and "Traceback" not in res.stderr

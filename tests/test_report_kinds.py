"""The report (and the run browser) on tournaments of several schedules, thinking-budget sweeps, --votes runs and
RewardBench 2 best-of-N runs, all made with the real CLI and the scripted backend in temporary folders."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from helpers import cli, marked_candidates, only_run, read_jsonl, summary_of
from test_report import planted_pairs

from rrm_eval.cli import main

pytest.importorskip("matplotlib")

MATH8 = Path(__file__).parent / "fixtures" / "candidates" / "math8.jsonl"


def _ok(*args: object) -> None:
    res = cli(*map(str, args))
    assert res.returncode == 0, res.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_kind_runs(tmp_path_factory.mktemp("kinds"))


def make_kind_runs(root: Path) -> dict[str, Path]:
    """Three tournaments (round robin, best-of-3 knockout, answer-adaptive), two sweeps (a --run-dir folder and a
    sweep file), a 1-vote and a 5-vote pairwise run, and two RewardBench 2 bestof runs, under ``root``."""
    cands, pairs = marked_candidates(root), planted_pairs(root)
    out: dict[str, Path] = {}
    tour = ("--candidates", cands, "--model", "scripted:accuracy:0.7", "--judge", "rrm", "--quiet", "--bootstrap", 200)
    for name, schedule, extra in (
        ("rr", "round-robin", ()),
        ("ko", "knockout", ("--games", "3")),
        ("aa", "answer-adaptive", ()),
    ):
        _ok("tournament", schedule, *tour, *extra, "--output-dir", root / name)
        out[name] = only_run(root / name)
    base = ("--task", "rewardbench", "--data", pairs, "--judge", "rrm", "--quiet", "--bootstrap", 200)
    _ok("sweep", *base, "--model", "scripted:accuracy:0.7", "--think-budget", "8,32,128", "--run-dir", root / "sweep")
    out["sweep"] = root / "sweep"
    _ok("sweep", *base, "--model", "scripted:accuracy:0.7", "--think-budget", "16,64", "--output-dir", root / "sw2")
    (out["sweep_file"],) = (root / "sw2").glob("sweep__*.json")
    for votes in (1, 5):
        _ok("pairwise", *base, "--model", "scripted:accuracy:0.7", "--temperature", 1, "--votes", votes,
            "--output-dir", root / f"votes{votes}")  # fmt: skip
        out[f"votes{votes}"] = only_run(root / f"votes{votes}")
    for name, model in (("bo1", "scripted:first"), ("bo2", "scripted:second")):
        _ok("bestof", "--rb2-mode", "listwise", "--model", model, "--quiet", "--subsets", "Math,Ties",
            "--output-dir", root / name, "--bootstrap", 200)  # fmt: skip
        out[name] = only_run(root / name)
    return out


def report(tmp_path: Path, *dirs: Path) -> str:
    out = tmp_path / "report.html"
    assert main(["report", *map(str, dirs), "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html.lower() and not re.search(r"https?://", "".join(re.findall(r"<[^>]*>", html)))
    return html


def figure(html: str, title: str) -> str:
    """The <figure> block whose heading is ``title`` (its SVG and caption)."""
    m = re.search(r"<figure><h3>" + re.escape(title) + r"</h3>(.*?)</figure>", html, re.S)
    assert m, f"no figure {title!r}"
    return m.group(1)


def test_tournaments_of_several_schedules_side_by_side(runs, tmp_path):
    html = report(tmp_path, runs["rr"], runs["ko"], runs["aa"])
    fig = figure(html, "Accuracy vs judge calls")
    assert fig.startswith("<svg") and "mean judge calls per problem" in fig and "spend.judge_calls_per_set" in fig
    across = html[html.index("<h2>Across runs</h2>") :]
    calls = summary_of(runs["rr"])["spend"]["judge_calls_per_set"]
    assert "round-robin" in across and "answer-adaptive" in across and f"<td class=num>{calls:.1f}</td>" in across
    # Every tournament gets its candidates' ratings with intervals; round robin's primary is Elo.
    assert html.count("<h3>Candidate ratings</h3>") == 3
    assert "Elo rating of every candidate" in html and "Bradley-Terry (Elo scale)" in html
    # Seeded: the same runs give the same ratings figure (ids aside, which are numbered per figure drawn).
    again = report(tmp_path, runs["rr"])
    strip = re.compile(r"f\d+-")
    assert strip.sub("", figure(html, "Candidate ratings")) == strip.sub("", figure(again, "Candidate ratings"))


def test_elo_intervals_come_from_the_rating_code(runs):
    from rrm_eval.report import load_report_run
    from rrm_eval.report._tournament import _elo_bootstrap
    from rrm_eval.scoring import ELO_DEFAULTS, elo, resolve_games, shuffled

    run = load_report_run(runs["rr"])
    rivals = [r for r in read_jsonl(runs["rr"] / "rivals.jsonl") if r["set_id"] == "p1"]
    saved = next(r for r in read_jsonl(runs["rr"] / "ratings.jsonl") if r["set_id"] == "p1")["ratings"]["elo"]
    games, _ = resolve_games(rivals, run.summary["scoring"]["verdict_policy"], run.summary["scoring"]["seed"])
    # The point the figure plots is the run's own Elo, which the rating code reproduces from the rival table.
    rated = elo(shuffled(games, run.summary["scoring"]["seed"], "p1"), list(saved), **ELO_DEFAULTS)
    assert {p: round(v, 6) for p, v in rated.items()} == saved
    cis = _elo_bootstrap(games, list(saved), 0, "p1")
    assert set(cis) == set(saved) and all(lo <= hi for lo, hi in cis.values())
    assert cis == _elo_bootstrap(games, list(saved), 0, "p1")  # seeded


def test_sweep_folder_and_sweep_file(runs, tmp_path):
    html = report(tmp_path, runs["sweep"], runs["sweep_file"])
    assert html.count("<h3>Accuracy vs thinking budget</h3>") == 2
    fig = figure(html, "Accuracy vs thinking budget")
    assert "thinking budget (tokens)" in fig and "log2" in fig
    table = json.loads((runs["sweep"] / "sweep.json").read_text())
    for row in table["budgets"]:
        lo, hi = row["interval"]
        assert f"[{100 * lo:.1f}, {100 * hi:.1f}]" in html  # the sweep's own intervals in the table
    assert "think-128" in html and "Unreadable runs" not in html
    # A sweep's --output-dir (its table beside the budget runs) reads as that sweep.
    html = report(tmp_path, runs["sweep_file"].parent)
    assert html.count("<h3>Accuracy vs thinking budget</h3>") == 1 and "Unreadable runs" not in html
    two = tmp_path / "two-tables"
    shutil.copytree(runs["sweep_file"].parent, two)
    shutil.copy(runs["sweep_file"], two / "sweep__copy.json")
    html = report(tmp_path, runs["sweep"], two)  # still reports the readable one
    assert "Unreadable runs" in html and "holds 2 sweep tables" in html


def test_a_sweep_missing_a_budget_run_or_with_a_corrupt_table(runs, tmp_path):
    broken = tmp_path / "broken-sweep"
    shutil.copytree(runs["sweep"], broken)
    shutil.rmtree(broken / "think-8")
    corrupt = tmp_path / "corrupt-sweep"
    shutil.copytree(runs["sweep"], corrupt)
    (corrupt / "sweep.json").write_text('{"budgets": [{"budget": "lots"}]}')
    html = report(tmp_path, broken, corrupt, runs["votes1"])
    # The sweep with a missing budget run is still drawn from its table, naming the missing run.
    sweep = html[html.index("broken-sweep</h2>") :]
    assert "Accuracy vs thinking budget" in sweep and "unreadable: " in sweep and "think-8" in sweep
    bad = html[html.index("<h2>Unreadable runs</h2>") : html.index("</section>", html.index("Unreadable runs"))]
    assert "corrupt-sweep" in bad and "whole-number" in bad
    assert "Subset accuracy" in html  # the other run is still reported


def test_votes_curve_ends_at_the_runs_own_score(runs, tmp_path):
    from rrm_eval.report import load_report_run
    from rrm_eval.report._tts import votes_curve

    run = load_report_run(runs["votes5"])
    curve = votes_curve(run)
    assert [j for j, _ in curve] == [1, 2, 3, 4, 5]
    last = curve[-1][1]
    summary = summary_of(runs["votes5"])
    assert last.name == "overall" and last.value == pytest.approx(summary["scores"]["overall"])
    assert list(last.interval) == pytest.approx(summary["intervals"]["scores"]["overall"])
    assert all(s.interval is not None and s.interval[0] <= s.value <= s.interval[1] for _, s in curve)
    html = report(tmp_path, runs["votes1"], runs["votes5"])
    assert "first j of k" in figure(html, "Accuracy vs votes")
    assert "--votes" in figure(html, "Accuracy vs votes (runs)")
    assert html.count("<h3>Accuracy vs votes</h3>") == 1  # a one-vote run has no curve


def test_bestof_runs_render_and_pair(runs, tmp_path):
    html = report(tmp_path, runs["bo1"], runs["bo2"])
    assert "Unreadable runs" not in html
    fig = figure(html, "Subset scores")
    assert fig.startswith("<svg") and "chance for one correct among four" in fig
    table = html[html.index("<h3>Scores</h3>") : html.index("</table>", html.index("<h3>Scores</h3>"))]
    summary = summary_of(runs["bo1"])
    assert "subset Math" in table and f"{100 * summary['subsets']['Math']['score']:.1f}" in table
    assert "micro" in table
    assert "Paired comparison" in html and "B vs A" in html


def test_serve_shows_the_new_figures(runs, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from rrm_eval.app import create_app

    root = tmp_path / "runs"
    root.mkdir()
    for name in ("rr", "ko", "votes5"):
        shutil.copytree(runs[name], root / runs[name].name)
    shutil.copytree(runs["sweep"], root / "my-sweep")
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    client = TestClient(create_app(root))
    listed = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert listed["my-sweep"]["kind"] == "sweep" and listed["my-sweep"]["readable"]

    def titles(run_id: str) -> list[str]:
        res = client.get(f"/api/runs/{run_id}")
        assert res.status_code == 200, res.text
        assert res.json()["figure_error"] is None
        return [f["title"] for f in res.json()["figures"]]

    assert "Accuracy vs thinking budget" in titles("my-sweep")
    rr = titles(runs["rr"].name)
    assert "Candidate ratings" in rr and "Accuracy vs judge calls" in rr  # with the knockout beside it
    assert "Accuracy vs votes" in titles(runs["votes5"].name)
    n = rr.index("Accuracy vs judge calls")
    svg = client.get(f"/api/runs/{runs['rr'].name}/figures/{n}.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml") and "this run" in svg.text
    assert client.get("/api/runs/my-sweep/records").json()["total"] == 0
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing written

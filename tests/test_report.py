"""`rrm-eval report`: one self-contained HTML file of several runs, unreadable folders reported, run dirs untouched.

In-process through ``rrm_eval.cli.main`` over runs made with the scripted model; the planted ``<script>`` in the
data must come out escaped."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from helpers import write_jsonl

import rrm_eval
from rrm_eval import PairwiseConfig, PairwiseRunConfig, TaskOptions, TournamentConfig, TournamentRunConfig
from rrm_eval.cli import main

pytest.importorskip("matplotlib")

MATH8 = Path(__file__).parent / "fixtures" / "candidates" / "math8.jsonl"
PLANTED = "<script>alert(1)</script>"


def planted_pairs(root: Path) -> Path:
    """30 RewardBench-shaped pairs over five subsets, each prompt carrying a planted script (shown as text, never run);
    the chosen answer is marked GOOD for the scripted marker judges."""
    subsets = ["alpacaeval-easy", "mt-bench-hard", "donotanswer", "math-prm", "hep-go"]
    rows = [
        {
            "id": n,
            "subset": subsets[n % 5],
            "prompt": f"Question {n}? {PLANTED}",
            "chosen": f"GOOD answer {n}",
            "rejected": f"poor answer {n}",
        }
        for n in range(30)
    ]
    return write_jsonl(root / "pairs.jsonl", rows)


def make_runs(tmp_path: Path) -> dict[str, Path]:
    """Two pairwise runs of one data set (a marker judge and a random one) and a knockout tournament."""
    data = planted_pairs(tmp_path)
    runs = {}
    for name, model in (("marker", "scripted:marker"), ("random", "scripted:random")):
        cfg = PairwiseRunConfig(
            model=model,
            judge="skywork-critic",
            task="rewardbench",
            task_options=TaskOptions(data=str(data)),
            protocol=PairwiseConfig(order="both"),
            output_dir=str(tmp_path / "runs"),
        )
        runs[name] = rrm_eval.evaluate_pairwise(cfg).run_dir
    tcfg = TournamentRunConfig(
        model="scripted:accuracy:0.7",
        judge="rrm",
        candidates=(str(MATH8),),
        protocol=TournamentConfig("knockout", seed=5, games=2),
        output_dir=str(tmp_path / "runs"),
    )
    runs["tournament"] = rrm_eval.run_tournament_eval(tcfg).run_dir
    return runs


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))}


def without_text(html: str) -> str:
    """The markup alone: tags and attributes, with text content between tags dropped."""
    return "".join(re.findall(r"<[^>]*>", html))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_runs(tmp_path_factory.mktemp("report"))


def test_report_of_pairwise_tournament_and_unreadable(runs, tmp_path, capsys):
    not_a_run = tmp_path / "just-a-folder"
    not_a_run.mkdir()
    (not_a_run / "notes.txt").write_text("hello")
    dirs = [runs["marker"], runs["random"], runs["tournament"], not_a_run]
    before = {str(d): tree_digest(d) for d in dirs}
    out = tmp_path / "out" / "report.html"
    assert main(["report", *map(str, dirs), "-o", str(out)]) == 0
    assert {str(d): tree_digest(d) for d in dirs} == before  # nothing written into any run (or the folder)
    html = out.read_text(encoding="utf-8")
    assert str(out) in capsys.readouterr().out
    assert "<svg" in html and html.count("<figure>") >= 10
    assert not re.search(r"https?://", without_text(html)), "a URL in the markup would be a network reference"
    assert PLANTED not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    # The unreadable folder is named with its reason, the readable runs are all there.
    unreadable = html[html.index("Unreadable runs") :]
    assert "just-a-folder" in unreadable and "spec.json does not exist" in unreadable
    for name in ("Selector accuracy", "Judge calls per problem", "Subset accuracy", "Section scores", "Output length"):
        assert name in html
    # The two pairwise runs are paired; the tournament is not part of it.
    assert "Paired comparison" in html and "B vs A" in html
    assert len(out.read_bytes()) < 5_000_000


def corrupt(src: Path, dst: Path, how: str) -> Path:
    import shutil

    shutil.copytree(src, dst)
    if how == "summary":
        (dst / "summary.json").write_text("{not json")
    elif how == "kind":
        spec = json.loads((dst / "spec.json").read_text())
        (dst / "spec.json").write_text(json.dumps({**spec, "kind": "mystery"}))
    elif how == "records":
        lines = (dst / "records.jsonl").read_text().splitlines()
        rec = json.loads(lines[0])
        lines[0] = json.dumps({**rec, "judge": "someone-else"})
        (dst / "records.jsonl").write_text("\n".join(lines) + "\n")
    elif how == "fields":
        rec = json.loads((dst / "records.jsonl").read_text().splitlines()[0])
        del rec["raw"], rec["order"]
        (dst / "records.jsonl").write_text(json.dumps(rec) + "\n")
    return dst


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("summary", "is not valid JSON"),
        ("kind", "is a &#x27;mystery&#x27; run"),
        ("records", "made by judge &#x27;someone-else&#x27;"),
        ("fields", "records do not match"),
    ],
)
def test_a_bad_run_is_named_and_the_others_still_reported(runs, tmp_path, how, says):
    bad = corrupt(runs["marker"], tmp_path / f"bad-{how}", how)
    out = tmp_path / "r.html"
    assert main(["report", str(bad), str(runs["random"]), "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    section = html[html.index("Unreadable runs") : html.index("</section>", html.index("Unreadable runs"))]
    assert f"bad-{how}" in section and says in section
    assert "Subset accuracy" in html  # the readable run is still there


def test_no_readable_run_exits_2_with_a_hint(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "r.html"
    assert main(["report", str(empty), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error: no readable run" in err and "hint:" in err and "Traceback" not in err
    assert not out.exists()


def test_the_report_refuses_to_write_into_a_run(runs, capsys):
    target = runs["marker"] / "report.html"
    assert main(["report", str(runs["marker"]), "-o", str(target)]) == 2
    assert "never writes into a run directory" in capsys.readouterr().err and not target.exists()


def test_public_api_for_serve(runs):
    from rrm_eval.report import Figure, Unreadable, figures_for, load_report_run

    run = load_report_run(runs["tournament"])
    assert not isinstance(run, Unreadable) and run.kind == "tournament"
    figs = figures_for(run)
    assert figs and all(isinstance(f, Figure) and f.svg.startswith("<svg") and f.caption for f in figs)
    # Ids are unique across figures, so several can share one page.
    ids = [i for f in figs for i in re.findall(r'\bid="([^"]+)"', f.svg)]
    assert len(ids) == len(set(ids))

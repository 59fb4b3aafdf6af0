"""`rrm-eval sweep`: smaller budgets reuse the largest run's thinking and make only verdict calls."""

from __future__ import annotations

import json
import re

from helpers import cli, read_jsonl
from test_think_budget import records, respond, run, scripted, thinking_length

import rrm_eval
from rrm_eval.models import Model
from rrm_eval.models._scripted import ScriptedDriver
from rrm_eval.protocols import PairwiseConfig

BUDGETS = (10, 40, 100, 300)
_COMPARED = ("key", "raw", "verdict", "failure", "finish_reason", "completion_tokens", "meta")


def sweep(pairs, out, budgets=BUDGETS, model=None, limit=8):
    cfg = rrm_eval.PairwiseRunConfig(
        model="scripted:custom",
        judge="rrm",
        task="rewardbench",
        task_options=rrm_eval.TaskOptions(data=str(pairs), limit=limit),
        protocol=PairwiseConfig(),
        output_dir=str(out),
        bootstrap=50,
    )
    return rrm_eval.think_budget_sweep(rrm_eval.SweepConfig(cfg, tuple(budgets)), model=model or scripted()[0])


class Counting(ScriptedDriver):
    """Counts phase-1 prompts (no closed thinking yet) and verdict prompts separately."""

    def generate(self, requests, params):
        for r in requests:
            tail = r.prompt.rsplit("<|assistant|>\n", 1)[-1]
            kind = "verdict" if "</think>" in tail else "think"
            self.seen[kind] = self.seen.get(kind, 0) + 1
        return super().generate(requests, params)


def test_smaller_budgets_make_only_verdict_calls(marked_pairs, tmp_path):
    driver = Counting("custom", respond=respond)
    driver.seen = {}
    outcome = sweep(marked_pairs, tmp_path, model=Model(driver))
    # Only the largest budget (300) thinks: one phase-1 call per record; the items think < 300, so it cuts nothing.
    rows = {r.budget: r for r in outcome.rows}
    assert driver.seen["think"] == 8
    cut_verdicts = sum(round(rows[b].cut_share * rows[b].records) for b in BUDGETS[:-1])
    assert driver.seen["verdict"] == cut_verdicts > 0
    assert [rows[b].calls for b in BUDGETS[:-1]] == [round(rows[b].cut_share * 8) for b in BUDGETS[:-1]]
    assert rows[300].cut_share == 0 and rows[10].cut_share > rows[100].cut_share
    assert all(rows[b].interval is not None for b in BUDGETS)


def test_sweep_records_equal_direct_runs(marked_pairs, tmp_path):
    outcome = sweep(marked_pairs, tmp_path / "sweep")
    for row in outcome.rows:
        direct = run(marked_pairs, tmp_path / f"direct{row.budget}", row.budget)
        assert direct.run_dir.name == row.run_dir.name  # the same identity a direct run has
        got = [
            {k: r[k] for k in _COMPARED} for r in read_jsonl(row.run_dir / "records.jsonl") if r.get("kind") == "judge"
        ]
        want = [{k: r[k] for k in _COMPARED} for r in records(direct)]
        assert sorted(got, key=lambda r: r["key"]) == sorted(want, key=lambda r: r["key"])
        assert direct.summary["accuracy"] == row.summary["accuracy"]


def test_thinking_closed_before_n_copies_the_largest_record(marked_pairs, tmp_path):
    outcome = sweep(marked_pairs, tmp_path)
    largest = {r["key"]: r for r in read_jsonl(outcome.largest.run_dir / "records.jsonl") if r.get("kind") == "judge"}
    small = [r for r in read_jsonl(outcome.rows[0].run_dir / "records.jsonl") if r.get("kind") == "judge"]
    short = [r for r in small if thinking_length(r["prompt"] or "") + 3 < BUDGETS[0]]
    assert short
    for r in short:
        assert {k: r[k] for k in _COMPARED} == {k: largest[r["key"]][k] for k in _COMPARED}


def test_sweep_costs_at_most_1_2x_the_largest_budget(marked_pairs, tmp_path):
    """The issue's five budgets over thinking lengths spread like a reasoning judge's (up to past the largest)."""
    lengths = (300, 700, 1500, 2600, 4000, 6000, 7500, 12000)

    def think_long(prompt: str, sample: int, seed: int) -> str:
        m = re.search(r"Question (\d+)\?", prompt)
        n = int(m.group(1)) if m else 0
        tail = prompt.rsplit("<|assistant|>\n", 1)[-1]
        if "</think>" in tail:
            return "\\boxed{Assistant 1}"
        return " ".join(["w"] * lengths[n % len(lengths)]) + "\n</think>\n\n\\boxed{Assistant 1}"

    outcome = sweep(
        marked_pairs,
        tmp_path,
        budgets=(512, 1024, 2048, 4096, 8192),
        model=Model(ScriptedDriver("c", respond=think_long)),
        limit=16,
    )
    assert outcome.ratio is not None and 1.0 < outcome.ratio <= 1.2
    stored = json.loads(next(tmp_path.glob("sweep__*.json")).read_text())
    assert stored["ratio_to_largest"] == outcome.ratio


def test_sweep_cli_prints_the_table(marked_pairs, tmp_path):
    res = cli(
        "sweep", "--task", "rewardbench", "--data", marked_pairs, "--limit", "4", "--model", "scripted:first",
        "--judge", "rrm", "--think-budget", "4,2", "--output-dir", tmp_path, "--quiet", "--bootstrap", "20",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "Thinking-budget sweep" in res.stdout and "largest budget alone" in res.stdout
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_bad_sweep_input_exits_2_before_any_model_loads(marked_pairs, tmp_path):
    base = ["sweep", "--task", "rewardbench", "--data", marked_pairs, "--output-dir", tmp_path, "--quiet"]
    cases = [
        (["--model", "hf:/no/such/model", "--judge", "skywork-critic", "--think-budget", "8,16"], "no end-of-thinking"),
        (["--model", "scripted:first", "--think-budget", "512,,1024"], "empty entry"),
        (["--model", "scripted:first", "--think-budget", "abc"], "not a whole number"),
        (["--model", "scripted:first", "--think-budget", "0,512"], "not a whole number"),
        (["--model", "scripted:first", "--think-budget", "512,512"], "twice"),
        (["--model", "scripted:first"], "--think-budget"),
    ]
    for args, needle in cases:
        res = cli(*base, *args)
        assert res.returncode == 2, (args, res.stderr)
        assert needle in res.stderr and "Traceback" not in res.stderr, (args, res.stderr)

"""End-to-end pairwise runs through the CLI with the scripted backend: scoring, resume, reproducibility, errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import SAMPLE, cli, only_run, read_jsonl, run_cli, summary_of, write_jsonl


def pairwise_args(data: Path, model: str, judge: str | None = None) -> list[str]:
    """`pairwise` on a local RewardBench-shaped file with the given model and judge (default: the CLI's)."""
    args = ["pairwise", "--dataset", "rewardbench", "--data", str(data), "--model", model]
    return [*args, "--judge", judge] if judge else args


def test_marker_judge_scores_perfectly(tmp_path, marked_pairs):
    res = cli(
        *pairwise_args(marked_pairs, "scripted:marker", "rrm"),
        "--output-dir",
        str(tmp_path / "runs"),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    run = only_run(tmp_path / "runs")
    s = summary_of(run)
    assert s["accuracy"] == 1.0 and s["n_items"] == 40
    assert s["scores"]["incomplete_sections"]  # only 5 of 23 subsets: flagged as partial
    records = read_jsonl(run / "records.jsonl")
    assert len(records) == 40
    r = records[0]
    for field in ("key", "item_id", "order", "sample", "prompt_hash", "raw", "verdict", "failure", "prompt"):
        assert field in r
    # random order really shuffles: both presentations occur
    assert {r["order"] for r in records} == {"AB", "BA"}
    results = json.loads((run / "results.json").read_text())
    assert results["model_type"] == "Generative RM" and results["alpacaeval-easy"] == 1.0
    spec = json.loads((run / "spec.json").read_text())
    assert spec["task"]["data_fingerprint"] and spec["provenance"]["packages"]


@pytest.mark.parametrize(
    "preset,reason", [("empty", "no_verdict"), ("unclosed", "truncated"), ("garbage", "no_verdict")]
)
def test_unreadable_judges_are_counted_not_hidden(tmp_path, marked_pairs, preset, reason):
    res = cli(
        *pairwise_args(marked_pairs, f"scripted:{preset}", "rrm"),
        "--output-dir",
        str(tmp_path),
        "--quiet",
        "--failure-policy",
        "wrong",
    )
    assert res.returncode == 0, res.stderr
    s = summary_of(only_run(tmp_path))
    assert s["records"]["failure_rate"] == 1.0 and s["accuracy"] == 0.0
    assert s["records"]["failures"] == {reason: 40}
    assert "parse failures 100.00%" in res.stdout


def test_both_orders_and_votes(tmp_path, marked_pairs):
    res = cli(
        *pairwise_args(marked_pairs, "scripted:first", "skywork-critic"),
        "--order",
        "both",
        "--votes",
        "3",
        "--output-dir",
        str(tmp_path),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    run = only_run(tmp_path)
    s = summary_of(run)
    assert len(read_jsonl(run / "records.jsonl")) == 40 * 2 * 3
    assert s["accuracy"] == 0.5 and s["position_consistency"] == 0.0
    assert s["records"]["first_position_rate"] == 1.0


def test_same_seed_in_two_processes_gives_byte_identical_records(tmp_path):
    args = ["pairwise", "--model", "scripted:random", "--judge", "rrm", "--votes", "2", "--quiet", "--seed", "7"]
    # two fresh processes with fixed, different string-hash seeds (the point of the test); the control run below
    # needs no process of its own
    a = run_cli(*args, "--run-dir", str(tmp_path / "a"), env={"PYTHONHASHSEED": "1"})
    b = run_cli(*args, "--run-dir", str(tmp_path / "b"), env={"PYTHONHASHSEED": "2"})
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert (tmp_path / "a" / "records.jsonl").read_bytes() == (tmp_path / "b" / "records.jsonl").read_bytes()
    c = cli(*[x if x != "7" else "8" for x in args], "--run-dir", str(tmp_path / "c"))
    assert c.returncode == 0
    orders = lambda p: [r["order"] for r in read_jsonl(p / "records.jsonl")]  # noqa: E731
    assert orders(tmp_path / "a") != orders(tmp_path / "c")  # another seed, other presentation orders


def test_rerun_resumes_without_redoing(tmp_path, marked_pairs):
    base = [
        *pairwise_args(marked_pairs, "scripted:marker", "rrm"),
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
    ]
    assert cli(*base, "--limit", "10").returncode == 0
    assert len(read_jsonl(tmp_path / "run" / "records.jsonl")) == 10
    assert cli(*base).returncode == 0  # a larger selection reuses the 10 records
    stats = json.loads((tmp_path / "run" / "run_stats.json").read_text())
    assert stats["records_reused"] == 10 and stats["records_written"] == 30
    again = cli(*base)
    assert again.returncode == 0
    assert json.loads((tmp_path / "run" / "run_stats.json").read_text())["records_written"] == 0


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killed_run_resumes_to_the_same_summary(tmp_path, sig):
    args = [
        "pairwise",
        "--model",
        "scripted:random",
        "--judge",
        "rrm",
        "--quiet",
        "--model-opt",
        "delay=0.004",
        "--model-opt",
        "chunk_size=16",
    ]
    full = cli(*args, "--run-dir", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rrm_eval", *args, "--run-dir", str(cut)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    records = cut / "records.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not records.exists() or len(records.read_bytes().splitlines()) < 100):
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    n_before = len(read_jsonl(records))
    assert 100 <= n_before < 441
    if sig != signal.SIGKILL:
        assert proc.returncode == 130 and "resume" in err and "Traceback" not in err
    resumed = cli(*args, "--run-dir", str(cut))
    assert resumed.returncode == 0, resumed.stderr
    recs = read_jsonl(records)
    assert len(recs) == 441 and len({r["key"] for r in recs}) == 441
    assert summary_of(cut) == summary_of(tmp_path / "full")
    key = lambda r: r["key"]  # noqa: E731
    assert sorted(recs, key=key) == sorted(read_jsonl(tmp_path / "full" / "records.jsonl"), key=key)


def test_rescore_offline_with_other_policy(tmp_path):
    run = tmp_path / "run"
    assert (
        cli(
            "pairwise",
            "--model",
            "scripted:unclosed",
            "--judge",
            "rrm",
            "--run-dir",
            str(run),
            "--quiet",
            "--limit",
            "20",
        ).returncode
        == 0
    )
    assert summary_of(run)["accuracy"] == 0.5
    res = cli("rescore", str(run), "--failure-policy", "wrong")
    assert res.returncode == 0, res.stderr
    assert json.loads((run / "summary.rescored.json").read_text())["accuracy"] == 0.0
    # re-parse with the parser that does not need </think>: still no box in a length-capped output -> truncated
    res = cli("rescore", str(run), "--judge-parser", "boxed", "--output", str(tmp_path / "s.json"))
    assert res.returncode == 0
    assert json.loads((tmp_path / "s.json").read_text())["records"]["failures"] == {"truncated": 20}


BAD_ROWS = [
    ({"id": 1, "subset": "s", "prompt": "p", "chosen": "c"}, "row 1: field 'rejected': missing"),
    ({"id": 2, "subset": "s", "prompt": "p", "chosen": "", "rejected": "r"}, "row 2: field 'chosen': empty"),
    ({"id": 3, "subset": "s", "prompt": ["p"], "chosen": "c", "rejected": "r"}, "row 3: field 'prompt': expected text"),
    ({"subset": "s", "prompt": "p", "chosen": "c", "rejected": "r"}, "row #0: field 'id': missing"),
]


@pytest.mark.parametrize("row,message", BAD_ROWS)
def test_malformed_rows_name_row_and_field(tmp_path, row, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n")
    res = cli(*pairwise_args(path, "scripted:first"), "--output-dir", str(tmp_path / "runs"), "--quiet")
    assert res.returncode == 2
    assert message in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "runs").exists()  # failed before creating anything


def test_skip_bad_rows_counts_them(tmp_path):
    rows = [
        {"id": 1, "subset": "s", "prompt": "p", "chosen": "GOOD", "rejected": "r"},
        {"id": 2, "subset": "s", "prompt": "p", "chosen": "", "rejected": "r"},
    ]
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    args = pairwise_args(path, "scripted:marker")
    res = cli(*args, "--skip-bad-rows", "--run-dir", str(tmp_path / "run"), "--quiet")
    assert res.returncode == 0, res.stderr
    assert summary_of(tmp_path / "run")["dropped_rows"] == {"field 'chosen': empty": 1}


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--judge", "rrn"], "unknown judge 'rrn'"),
        (["--dataset", "rewardbenhc"], "did you mean 'rewardbench"),
        (["--model", "vlm:foo"], "unknown model backend 'vlm'"),
        (["--model", "llama"], "has no backend prefix"),
        (["--model", "scripted:nope"], "unknown scripted preset"),
        (["--subsets", "chat"], "unknown subset 'chat'"),
        (["--data", "/nonexistent.jsonl"], "does not exist"),
        (["--model-opt", "novalue"], "bad model option"),
        (["--limit", "0"], "argument --limit: '0' is not an integer >= 1"),
        (["--votes", "0"], "argument --votes: '0' is not an integer >= 1"),
        (["--model", "hf:/nonexistent/model"], "/nonexistent/model"),
    ],
)
def test_user_mistakes_get_clear_errors(tmp_path, args, needle):
    base = {"--model": "scripted:first", "--dataset": "rewardbench-sample"}
    for k, v in zip(args[::2], args[1::2], strict=True):
        base[k] = v
    flat = [x for kv in base.items() for x in kv]
    extra = [a for a in args if a not in flat]
    res = cli("pairwise", *flat, *extra, "--output-dir", str(tmp_path), "--quiet")
    assert res.returncode == 2, res.stdout + res.stderr
    assert needle in res.stderr and "Traceback" not in res.stderr


def test_run_dir_with_other_settings_is_refused(tmp_path):
    run = tmp_path / "run"
    assert (
        cli("pairwise", "--model", "scripted:first", "--run-dir", str(run), "--limit", "2", "--quiet").returncode == 0
    )
    res = cli("pairwise", "--model", "scripted:second", "--run-dir", str(run), "--limit", "2", "--quiet")
    assert res.returncode == 2 and "different settings" in res.stderr


def test_judge_toml_file(tmp_path):
    judge = tmp_path / "mine.toml"
    judge.write_text('name = "mine"\nparser = "bracket_ab"\nuser = "Q: {question}\\nA: {answer_1}\\nB: {answer_2}"\n')
    res = cli(
        "pairwise",
        "--model",
        "scripted:first",
        "--judge",
        str(judge),
        "--limit",
        "3",
        "--quiet",
        "--run-dir",
        str(tmp_path / "run"),
    )
    assert res.returncode == 0, res.stderr
    rec = read_jsonl(tmp_path / "run" / "records.jsonl")[0]
    assert rec["judge"] == "mine" and "Q: " in rec["prompt"]
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nparser = "bracket"\nuser = "{answer_1} {answer_2}"\n')
    res = cli("pairwise", "--model", "scripted:first", "--judge", str(bad), "--quiet", "--output-dir", str(tmp_path))
    assert res.returncode == 2 and "did you mean 'bracket_ab'" in res.stderr


def test_list_command():
    res = cli("list")
    assert res.returncode == 0, res.stderr
    for name in ("rrm", "skywork-critic", "mt-bench", "logprob", "rewardbench", "scripted", "rrm_boxed"):
        assert name in res.stdout


def test_installed_console_script_starts():
    """The one smoke test of the `rrm-eval` console script the package installs (the rest call `main` in-process)."""
    exe = Path(sys.executable).with_name("rrm-eval")
    exe = str(exe) if exe.is_file() else shutil.which("rrm-eval")
    assert exe, "no rrm-eval console script next to the interpreter or on PATH: is the package installed?"
    res = subprocess.run([exe, "list", "judges"], capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert res.returncode == 0, res.stderr
    assert "rrm" in res.stdout and "skywork-critic" in res.stdout and "Traceback" not in res.stderr


def test_bundled_sample_is_the_shared_data():
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "rewardbench_sample.jsonl"
    rows = read_jsonl(SAMPLE)
    assert len(rows) == 441 and len({r["subset"] for r in rows}) == 23
    if shared.exists():
        assert shared.read_bytes() == SAMPLE.read_bytes()

"""scripts/run_7b.sh and scripts/run_32b.sh: resolved commands, input errors, and real runs with local models."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from rrm_eval import ppe_dataset as ppe

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "ppe"
_spec = importlib.util.spec_from_file_location("ppe_synth", FIX / "synth.py")
synth = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synth)

OVERRIDES = ("RRM_MODEL", "NUM_GPUS", "PPE_DATA_DIR", "RB_DATA", "RRM_EVAL", "EXTRA_ARGS", "DRY_RUN", "RESULTS_DIR")
RRM_EVAL = f"{sys.executable} -m rrm_eval"


def run_script(script: str, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
    full_env.update(RRM_EVAL=RRM_EVAL, **env)
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / script), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=300,
    )


def resolved(proc: subprocess.CompletedProcess) -> list[str]:
    """The dry-run command line, split back into arguments."""
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("Running with run_name=")
    return shlex.split(lines[1])


def opt(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


# -- resolved commands ----------------------------------------------------------------------------------------------


def test_7b_math_round_3_published_settings():
    proc = run_script("run_7b.sh", "--dry-run", "0", "3", "MATH")
    assert proc.stdout.splitlines()[0] == "Running with run_name=MATH_7b_round_3_seed_0_with_shuffle"
    argv = resolved(proc)
    assert argv[: len(shlex.split(RRM_EVAL)) + 1] == [*shlex.split(RRM_EVAL), "ppe"]
    assert opt(argv, "--subset") == "MATH" and opt(argv, "--round") == "3"
    assert opt(argv, "--model") == "vllm:Reward-Reasoning/RRM-7B"
    assert opt(argv, "--judge") == "rrm"
    assert opt(argv, "--temperature") == "0.6" and opt(argv, "--top-p") == "1.0"
    assert opt(argv, "--max-new-tokens") == "8192"
    assert opt(argv, "--order") == "random" and opt(argv, "--seed") == "0"
    assert opt(argv, "--output-dir") == "results"
    assert opt(argv, "--run-name") == "MATH_7b_round_3_seed_0_with_shuffle"
    assert "--data" not in argv and "--model-opt" not in argv
    assert not (ROOT / "results" / "MATH_7b_round_3_seed_0_with_shuffle").exists()  # a dry run writes nothing


@pytest.mark.parametrize(
    ("script", "args", "run_name", "command"),
    [
        ("run_32b.sh", ("5", "2", "GPQA"), "GPQA_32b_round_2_seed_5_with_shuffle", ["ppe", "--subset", "GPQA"]),
        ("run_32b.sh", ("1", "1", "mmlu"), "MMLU_32b_round_1_seed_1_with_shuffle", ["ppe", "--subset", "MMLU"]),
        ("run_7b.sh", ("0", "04", "math"), "MATH_7b_round_4_seed_0_with_shuffle", ["ppe", "--subset", "MATH"]),
        ("run_7b.sh", ("2", "9", "rewardbench"), "RewardBench_7b_round_9_seed_2_with_shuffle",
         ["pairwise", "--task", "rewardbench"]),
        ("run_32b.sh", ("0", "1", "RewardBench"), "RewardBench_32b_round_1_seed_0_with_shuffle",
         ["pairwise", "--task", "rewardbench"]),
    ],
)  # fmt: skip
def test_dataset_is_honoured(script, args, run_name, command):
    argv = resolved(run_script(script, *args, DRY_RUN="1"))
    n = len(shlex.split(RRM_EVAL))
    assert argv[n : n + len(command)] == command
    assert opt(argv, "--run-name") == run_name
    assert opt(argv, "--seed") == args[0]
    size = "32B" if script == "run_32b.sh" else "7B"
    assert opt(argv, "--model") == f"vllm:Reward-Reasoning/RRM-{size}"


def test_32b_defaults_to_two_gpus_and_env_overrides():
    assert opt(resolved(run_script("run_32b.sh", "0", "1", "MATH", DRY_RUN="1")), "--model-opt") == (
        "tensor_parallel_size=2"
    )
    argv = resolved(
        run_script(
            "run_7b.sh",
            "--dry-run",
            "3",
            "5",
            "GPQA",
            NUM_GPUS="4",
            PPE_DATA_DIR="/data/ppe copies",
            RESULTS_DIR="/tmp/out",
            EXTRA_ARGS="--limit 3 --judge logprob",
        )
    )
    assert opt(argv, "--model-opt") == "tensor_parallel_size=4"
    assert opt(argv, "--data") == "/data/ppe copies"
    assert opt(argv, "--output-dir") == "/tmp/out"
    assert argv[-4:] == ["--limit", "3", "--judge", "logprob"]  # appended last, so they override
    rb = resolved(run_script("run_7b.sh", "0", "1", "rewardbench", DRY_RUN="1", RB_DATA="/x/rb.jsonl"))
    assert opt(rb, "--data") == "/x/rb.jsonl"


def test_num_gpus_only_for_vllm_specs():
    proc = run_script("run_7b.sh", "--dry-run", "0", "1", "MATH", RRM_MODEL="hf:/models/judge", NUM_GPUS="2")
    argv = resolved(proc)
    assert opt(argv, "--model") == "hf:/models/judge" and "--model-opt" not in argv
    assert "NUM_GPUS applies to vllm: specs only" in proc.stderr
    argv = resolved(run_script("run_32b.sh", "--dry-run", "0", "1", "MATH", RRM_MODEL="scripted:marker"))
    assert "--model-opt" not in argv  # the 32b default of two GPUs is for vllm only, silently


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("0", "6", "MATH"), {}, "error: round 6 is outside 1..5"),
        (("0", "0", "GPQA"), {}, "error: round 0 is outside 1..5"),
        (("0", "1", "mmlu-redux"), {}, "error: unknown dataset 'mmlu-redux'"),
        (("x", "1", "MATH"), {}, "error: seed must be a non-negative integer"),
        (("0", "one", "MATH"), {}, "error: round must be a number"),
        (("0", "1"), {}, "usage: run_7b.sh"),
        (("0", "1", "MATH", "extra"), {}, "usage: run_7b.sh"),
        (("--fast", "0", "1", "MATH"), {}, "error: unknown option '--fast'"),
        (("0", "1", "MATH"), {"NUM_GPUS": "two"}, "error: NUM_GPUS must be a positive integer"),
    ],
)
def test_bad_input_exits_2(tmp_path, args, env, message):
    proc = run_script("run_7b.sh", *args, cwd=tmp_path, **env)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not (tmp_path / "results").exists()


def test_help():
    proc = run_script("run_32b.sh", "--help")
    assert proc.returncode == 0
    assert "PPE_DATA_DIR" in proc.stdout and "vllm:Reward-Reasoning/RRM-32B" in proc.stdout


# -- real runs ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ppe_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ppe_data")
    published = [[list(p) for p in e] for e in ppe.published_pairs(ppe.resolve_subset("MATH")).pairs]
    synth.write_jsonl(folder / "MATH.jsonl", synth.synthetic_rows("MATH", published))
    return folder


def test_run_7b_math_round_3_with_scripted_model(tmp_path, ppe_dir):
    env = {"PPE_DATA_DIR": str(ppe_dir), "RRM_MODEL": "scripted:marker"}
    proc = run_script("run_7b.sh", "0", "3", "MATH", cwd=tmp_path, **env)
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "results" / "MATH_7b_round_3_seed_0_with_shuffle"
    recs = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    assert len(recs) == 512
    assert all(r["item_id"].endswith(":r3") and r["meta"]["round"] == 3 for r in recs)
    assert {r["order"] for r in recs} == {"AB", "BA"}  # random order per pair
    published = ppe.published_pairs(ppe.resolve_subset("MATH")).pairs
    assert all(tuple(r["meta"]["pair"]) == published[r["meta"]["row"]][2] for r in recs)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["scores"] == {"rounds": {"round_3": 1.0}, "overall": 1.0, "n_rounds": 1}
    spec = json.loads((run / "spec.json").read_text())
    assert spec["protocol"]["temperature"] == 0.6 and spec["protocol"]["max_new_tokens"] == 8192
    assert "round_3" in proc.stdout and "PPE MATH" in proc.stdout
    # Running it again resumes: nothing is judged twice, the log keeps both commands.
    again = run_script("run_7b.sh", "0", "3", "MATH", cwd=tmp_path, **env)
    assert again.returncode == 0, again.stderr
    assert json.loads((run / "run_stats.json").read_text())["records_written"] == 0
    assert len((run / "records.jsonl").read_text().splitlines()) == 512
    assert len((run / "commands.log").read_text().splitlines()) == 2
    # Another model into the same run name is refused, and the finished run is untouched.
    other = run_script(
        "run_7b.sh", "0", "3", "MATH", cwd=tmp_path, PPE_DATA_DIR=str(ppe_dir), RRM_MODEL="scripted:first"
    )
    assert other.returncode == 2 and "different settings" in other.stderr
    assert len((run / "records.jsonl").read_text().splitlines()) == 512


def test_run_32b_rewardbench_with_local_file(tmp_path):
    sample = ROOT / "rrm_eval" / "tasks" / "data" / "rewardbench_sample.jsonl"
    proc = run_script(
        "run_32b.sh", "1", "1", "rewardbench", cwd=tmp_path, RB_DATA=str(sample), RRM_MODEL="scripted:first"
    )
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "results" / "RewardBench_32b_round_1_seed_1_with_shuffle"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["task"] == "rewardbench" and summary["n_items"] == 441
    assert set(summary["scores"]["sections"]) == {"Chat", "Chat Hard", "Safety", "Reasoning"}


def test_missing_local_copy_is_a_clear_error(tmp_path):
    proc = run_script(
        "run_7b.sh", "0", "1", "GPQA", cwd=tmp_path, PPE_DATA_DIR=str(tmp_path), RRM_MODEL="scripted:first"
    )
    assert proc.returncode == 2
    assert "no local copy of PPE GPQA" in proc.stderr and "GPQA.jsonl" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_run_7b_math_round_3_with_embedded_model(tmp_path):
    """The embedded SmolLM2 judge through the script: logprob judge, the small fixture and its pairs, 3 prompts."""
    extra = f"--judge logprob --pairs {FIX / 'MATH_pairs.json'} --limit 3"
    proc = run_script(
        "run_7b.sh", "0", "3", "MATH", cwd=tmp_path, PPE_DATA_DIR=str(FIX), RRM_MODEL="smollm2", EXTRA_ARGS=extra
    )
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "results" / "MATH_7b_round_3_seed_0_with_shuffle"
    recs = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    assert [r["item_id"] for r in recs] == ["math-fx-000:r3", "math-fx-001:r3", "math-fx-002:r3"]
    for r in recs:
        assert r["finish_reason"] == "scored" and r["failure"] is None
        assert len(r["logprobs"]) == 2 and all(lp < 0 for lp in r["logprobs"])
        assert r["verdict"] in (1, 2)
    summary = json.loads((run / "summary.json").read_text())
    assert list(summary["scores"]["rounds"]) == ["round_3"]
    assert summary["model"] == "smollm2" and summary["judge"] == "logprob"

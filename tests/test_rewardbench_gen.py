"""`rrm-eval rewardbench-gen`: reward-bench's run_generative.py flags mapped onto `rrm-eval pairwise`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from helpers import cli, only_run, summary_of, write_jsonl


def equivalent(stdout: str) -> list[str]:
    """The `rrm-eval pairwise|bestof ...` command the subcommand printed, as arguments (without `rrm-eval`)."""
    (line,) = [ln for ln in stdout.splitlines() if ln.startswith("equivalent: ")]
    argv = shlex.split(line.removeprefix("equivalent: "))
    assert argv[0] == "rrm-eval" and argv[1] in ("pairwise", "bestof")
    return argv[1:]


def dry(*flags: str) -> list[str]:
    res = cli("rewardbench-gen", *flags, "--dry-run")
    assert res.returncode == 0, res.stderr
    return equivalent(res.stdout)


def opts(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--model-opt"]


def test_runs_the_same_evaluation_as_the_printed_pairwise_command(tmp_path: Path, marked_pairs: Path) -> None:
    res = cli(
        "rewardbench-gen",
        "--model",
        "scripted:marker",
        "--data",
        str(marked_pairs),
        "--do_not_save",
        "--seed",
        "3",
        "--output-dir",
        str(tmp_path / "gen"),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    gen_run = only_run(tmp_path / "gen")
    assert summary_of(gen_run)["accuracy"] == 1.0 and summary_of(gen_run)["n_items"] == 40
    assert (gen_run / "results.json").is_file() and (gen_run / "results_per_item.json").is_file()
    # The printed command, run by hand, is the same run: same identity (directory name) and the same scores.
    argv = equivalent(res.stdout)
    argv[argv.index("--output-dir") + 1] = str(tmp_path / "pairwise")
    again = cli(*argv)
    assert again.returncode == 0, again.stderr
    by_hand = only_run(tmp_path / "pairwise")
    assert by_hand.name == gen_run.name
    assert summary_of(by_hand)["scores"] == summary_of(gen_run)["scores"]
    assert json.loads((by_hand / "results.json").read_text()) == json.loads((gen_run / "results.json").read_text())


def test_reward_bench_defaults_are_kept() -> None:
    argv = dry("--model", "Reward-Reasoning/RRM-7B")
    # a bare model name runs on vLLM, as reward-bench runs every non-API model
    assert argv[argv.index("--model") + 1] == "vllm:Reward-Reasoning/RRM-7B"
    assert argv[argv.index("--dataset") + 1] == "rewardbench"
    # greedy, 2,048 new tokens, one random order per pair, failure = 0.5, the [[A]]/[[B]] judge
    for flag, value in (
        ("--temperature", "0"),
        ("--max-new-tokens", "2048"),
        ("--order", "random"),
        ("--failure-policy", "tie"),
        ("--judge", "mt-bench"),
    ):
        assert argv[argv.index(flag) + 1] == value, flag
    assert opts(argv) == []


def test_engine_flags_become_model_options() -> None:
    assert opts(dry("--model", "org/m", "--num_gpus", "4", "--vllm_gpu_util", "0.8")) == [
        "tensor_parallel_size=4",
        "gpu_memory_utilization=0.8",
    ]
    argv = dry("--model", "org/m", "--backend", "hf", "--trust_remote_code")
    assert argv[argv.index("--model") + 1] == "hf:org/m" and opts(argv) == ["trust_remote_code=true"]
    assert opts(dry("--model", "openai:http://127.0.0.1:8000/v1#m", "--num_threads", "32")) == ["max_concurrency=32"]
    # an explicit backend spec is kept as given
    argv = dry("--model", "scripted:first", "--model-opt", "delay=0")
    assert argv[argv.index("--model") + 1] == "scripted:first" and opts(argv) == ["delay=0"]


def test_debug_judges_the_first_ten_items(tmp_path: Path, marked_pairs: Path) -> None:
    res = cli(
        "rewardbench-gen",
        "--model",
        "scripted:marker",
        "--data",
        str(marked_pairs),
        "--debug",
        "--output-dir",
        str(tmp_path),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    assert "--limit 10" in res.stdout and "note: --debug" in res.stderr
    assert summary_of(only_run(tmp_path))["n_items"] == 10


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--do_not_save"], "never uploads"),
        (["--disable_beaker_save"], "Beaker"),
        (["--force_local"], "--force_local"),
        (["--num_threads", "8"], "--num_threads"),
        (["--vllm_gpu_util", "0.5", "--backend", "hf"], "--vllm_gpu_util"),
    ],
)
def test_harmless_flags_are_noted(flags: list[str], needle: str) -> None:
    res = cli("rewardbench-gen", "--model", "org/m", *flags, "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "note:" in res.stderr and needle in res.stderr


def test_a_model_reward_bench_prompts_differently_is_noted() -> None:
    res = cli("rewardbench-gen", "--model", "prometheus-eval/prometheus-7b-v2.0", "--dry-run")
    assert res.returncode == 0 and "'prometheus' judge prompt" in res.stderr


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--chat_template", "tulu"], "--chat_template"),
        (["--score_w_ratings"], "--score_w_ratings"),  # v1: ratings would change every score
        (["--pref_sets"], "--pref_sets"),
        (["--num_gpus", "2", "--backend", "hf"], "--num_gpus"),
        (["--num_gpus", "0"], "--num_gpus"),
        (["--trust_remote_code"], "--trust_remote_code"),
        (["--dataset", "someone/other-bench"], "--dataset"),
    ],
)
def test_flags_that_would_change_results_are_refused(flags: list[str], needle: str) -> None:
    res = cli("rewardbench-gen", "--model", "org/m", *flags)
    assert res.returncode == 2
    assert f"error: {needle}" in res.stderr and "hint:" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize(
    "model,needle", [(["gpt-4o"], "openai:https://api.openai.com/v1#gpt-4o"), (["a/x", "b/y", "c/z"], "PoLL")]
)
def test_api_models_and_ensembles_are_refused_with_the_way_out(model: list[str], needle: str) -> None:
    res = cli("rewardbench-gen", "--model", *model)
    assert res.returncode == 2 and needle in res.stderr and "Traceback" not in res.stderr


def test_api_model_name_with_force_local_runs_locally() -> None:
    argv = dry("--model", "gpt-4o", "--force_local")
    assert argv[argv.index("--model") + 1] == "vllm:gpt-4o"


def test_v2_dataset_flag_picks_the_task(tmp_path: Path, sample_rows: list[dict]) -> None:
    res = cli("rewardbench-gen", "--model", "org/m", "--dataset", "allenai/reward-bench-2", "--dry-run")
    assert res.returncode == 0 and "equivalent: rrm-eval bestof " in res.stdout, res.stdout + res.stderr
    argv = dry("--model", "org/m", "--dataset", "allenai/reward-bench-2")
    assert argv[argv.index("--dataset") + 1] == "rewardbench2"
    # run_generative_v2.py: a 4-way ranking prompt by default, per-answer ratings with --score_w_ratings
    assert argv[argv.index("--rb2-mode") + 1] == "listwise" and "--order" not in argv
    argv = dry("--model", "org/m", "--dataset", "allenai/reward-bench-2", "--score_w_ratings")
    assert argv[argv.index("--rb2-mode") + 1] == "ratings" and argv[argv.index("--judge") + 1] == "rb2-ratings"
    # a local file: its columns say the task, and it goes to --data
    path = write_jsonl(tmp_path / "rb.jsonl", sample_rows[:5])
    argv = dry("--model", "org/m", "--dataset", str(path))
    assert argv[argv.index("--dataset") + 1] == "rewardbench" and argv[argv.index("--data") + 1] == str(path)
    res = cli("rewardbench-gen", "--model", "org/m", "--dataset", str(path), "--data", str(path))
    assert res.returncode == 2 and "both name the data" in res.stderr

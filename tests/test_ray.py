"""Scale-out on Ray (``--ray --workers N``): a local Ray cluster on this machine's CPUs, started once for the module
on 127.0.0.1. Records, summaries and fingerprints must be byte-identical between a single-process run and runs on 1
and 3 workers; a worker killed mid-run (its process, by pid) costs only its in-flight calls; a run whose whole
cluster is gone stops with a clear error and resumes on one machine."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from helpers import cli, only_run, read_jsonl, write_jsonl

ray = pytest.importorskip("ray", reason="the ray extra is part of the dev set-up (scripts/setup.sh)")

MATH8 = Path(__file__).parent / "fixtures" / "candidates" / "math8.jsonl"
WORKER_TITLE = b"RRMEngineWorker"


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """One local cluster for the module (each command joins it instead of starting its own)."""
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


def _files(run: Path) -> dict[str, bytes]:
    """What a run wrote that must not depend on where it ran (run_stats.json and spec.json's options may)."""
    names = (
        "records.jsonl",
        "summary.json",
        "ratings.jsonl",
        "rivals.jsonl",
        "candidate_sets.jsonl",
        "item_scores.jsonl",
    )
    return {n: (run / n).read_bytes() for n in names if (run / n).is_file()}


def _run(tmp: Path, name: str, args: list[str], workers: int | None) -> Path:
    scale = [] if workers is None else ["--ray", "--workers", str(workers)]
    out = "--output-dir" if args[0] == "candidates" else "--out"
    res = cli(*args, out, str(tmp / name), "--quiet", *scale)
    assert res.returncode == 0, res.stderr
    return only_run(tmp / name)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(
            ["pairwise", "--task", "rewardbench-sample", "--model", "scripted:accuracy:0.7", "--votes", "3",
             "--model-opt", "chunk_size=16"],
            id="pairwise",
        ),
        pytest.param(  # two phases per chunk (think, then the verdict), each chunk whole on one worker
            ["pairwise", "--task", "rewardbench-sample", "--model", "scripted:accuracy:0.7", "--votes", "2",
             "--think-budget", "1", "--model-opt", "chunk_size=16"],
            id="pairwise-think-budget",
        ),
        pytest.param(
            ["tournament", "round-robin", "--candidates", str(MATH8), "--model", "scripted:random", "--judge", "rrm",
             "--model-opt", "chunk_size=8"],
            id="tournament-round-robin",
        ),
        pytest.param(
            ["tournament", "answer-adaptive", "--candidates", str(MATH8), "--budget", "7", "--model",
             "scripted:marker", "--model-opt", "chunk_size=2"],
            id="tournament-adaptive",
        ),
    ],
)  # fmt: skip
def test_records_identical_single_process_and_one_or_three_workers(tmp_path, args):
    single = _run(tmp_path, "single", args, None)
    one = _run(tmp_path, "one", args, 1)
    three = _run(tmp_path, "three", args, 3)
    assert single.name == one.name == three.name  # the fingerprint (run directory name) does not see --ray
    reference = _files(single)
    assert "records.jsonl" in reference and "summary.json" in reference
    assert _files(one) == reference and _files(three) == reference
    stats = json.loads((three / "run_stats.json").read_text())
    assert [w["worker"] for w in stats["workers"]] == [0, 1, 2]
    assert all(w["chunks"] > 0 and w["alive"] for w in stats["workers"])  # the work was spread
    # every engine request was made on a worker (two-phase routines make more requests than judge calls)
    assert 0 < sum(w["calls"] for w in stats["workers"]) <= stats["model_usage"]["requests"]


def test_candidate_generation_identical_on_three_workers(tmp_path):
    rows = [{"unique_id": f"p{i}", "problem": f"What is {i}+{i}?", "answer": str(2 * i)} for i in range(24)]
    problems = write_jsonl(tmp_path / "problems.jsonl", rows)
    args = ["candidates", "--problems", str(problems), "--n", "4", "--model", "scripted:random", "--model-opt",
            "chunk_size=5"]  # fmt: skip
    single = _run(tmp_path, "single", args, None)
    three = _run(tmp_path, "three", args, 3)
    a, b = _files(single), _files(three)
    assert a["records.jsonl"] == b["records.jsonl"] and a["candidate_sets.jsonl"] == b["candidate_sets.jsonl"]
    where = json.loads(a.pop("summary.json")), json.loads(b.pop("summary.json"))
    for s in where:  # the summary names its own output file, which lives in each run's folder
        s.pop("output")
    assert where[0] == where[1]


def _worker_pids() -> list[int]:
    """Processes of live engine workers (Ray titles them ``ray::RRMEngineWorker...``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if WORKER_TITLE in cmdline and b"ray::" in cmdline:
                pids.append(int(entry.name))
    return sorted(pids)


def _kill_when(records: Path, at_least: int, how_many: int, killed: list[int]) -> threading.Thread:
    """Kill ``how_many`` worker processes (SIGKILL, by pid) once ``records`` holds ``at_least`` lines."""

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            lines = 0
            for path in records.parent.glob("*/records.jsonl"):
                lines = sum(1 for _ in path.open("rb"))
            if lines >= at_least:
                for pid in _worker_pids()[:how_many]:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


PAIRWISE_SLOW = ["pairwise", "--task", "rewardbench-sample", "--model", "scripted:accuracy:0.8", "--model-opt",
                 "chunk_size=4", "--model-opt", "delay=0.01", "--limit", "200"]  # fmt: skip


def test_a_worker_killed_mid_run_costs_only_its_inflight_calls(tmp_path):
    reference = _run(tmp_path, "single", PAIRWISE_SLOW, None)
    killed: list[int] = []
    watcher = _kill_when(tmp_path / "killed" / "x", at_least=40, how_many=1, killed=killed)
    run = _run(tmp_path, "killed", PAIRWISE_SLOW, 3)
    watcher.join()
    assert len(killed) == 1, "the test never found a worker to kill"
    assert _files(run) == _files(reference)  # nothing lost, nothing duplicated, same order
    stats = json.loads((run / "run_stats.json").read_text())
    dead = [w for w in stats["workers"] if not w["alive"]]
    assert len(dead) == 1 and dead[0]["pid"] == killed[0]
    assert sum(w["calls"] for w in stats["workers"]) == stats["records_written"] == 200  # each call made once


def test_cluster_gone_stops_with_a_clear_error_and_resumes_on_one_machine(tmp_path):
    reference = _run(tmp_path, "single", PAIRWISE_SLOW, None)
    killed: list[int] = []
    watcher = _kill_when(tmp_path / "gone" / "x", at_least=40, how_many=2, killed=killed)
    res = cli(*PAIRWISE_SLOW, "--out", str(tmp_path / "gone"), "--quiet", "--ray", "--workers", "2")
    watcher.join()
    assert len(killed) == 2
    assert res.returncode == 2, res.stderr
    assert "every Ray worker is gone" in res.stderr and "without --ray" in res.stderr
    assert "Traceback" not in res.stderr
    partial = only_run(tmp_path / "gone")
    saved = (partial / "records.jsonl").read_bytes().count(b"\n")
    assert 40 <= saved < 400
    resumed = _run(tmp_path, "gone", PAIRWISE_SLOW, None)  # same command, no --ray: only the rest is made
    assert resumed == partial
    assert _files(resumed) == _files(reference)


def test_scale_out_flags_without_ray_and_impossible_requests_are_refused(tmp_path):
    base = ["pairwise", "--task", "rewardbench-sample", "--model", "scripted:first", "--out", str(tmp_path)]
    res = cli(*base, "--workers", "3")
    assert res.returncode == 2 and "--ray is not given" in res.stderr
    res = cli(*base, "--ray", "--workers", "2", "--gpus-per-worker", "1")
    assert res.returncode == 2 and "GPUs" in res.stderr and "lower --workers" in res.stderr
    res = cli(*base, "--ray", "--workers", "0")
    assert res.returncode == 2 and ">= 1" in res.stderr
    res = cli(*base, "--ray", "--model", "hf:/no/such/model")
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "does not exist" in res.stderr  # the loader's own message, from inside the worker
    deadline = time.monotonic() + 30
    while _worker_pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _worker_pids()  # the worker that failed to load is not left holding the cluster's resources


def test_records_identical_with_the_embedded_model_on_one_and_three_workers(tmp_path):
    """The real engine: byte-identical between 1 and 3 workers. (A single process may use more threads than a
    one-CPU worker, which changes float reductions in the 5th digit of a log-probability, never a verdict here.)"""
    args = ["pairwise", "--task", "rewardbench-sample", "--limit", "6", "--model-opt", "chunk_size=2"]
    one = _files(_run(tmp_path, "w1", args, 1))
    assert _files(_run(tmp_path, "w3", args, 3)) == one
    single = _run(tmp_path, "single", args, None)
    verdicts = [(r["key"], r["verdict"]) for r in read_jsonl(single / "records.jsonl")]
    assert verdicts == [(r["key"], r["verdict"]) for r in read_jsonl(only_run(tmp_path / "w1") / "records.jsonl")]


def test_without_the_ray_package_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` does where it is not installed
    res = cli("pairwise", "--task", "rewardbench-sample", "--model", "scripted:first", "--out", str(tmp_path), "--ray")
    assert res.returncode == 2 and "needs the ray package" in res.stderr and "rrm-eval[ray]" in res.stderr


def test_progress_bar_shows_calls_per_second_per_worker(tmp_path):
    res = cli("pairwise", "--task", "rewardbench-sample", "--model", "scripted:first", "--model-opt", "chunk_size=64",
              "--out", str(tmp_path), "--ray", "--workers", "2")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "w0 " in res.stderr and "w1 " in res.stderr and "calls/s" in res.stderr


def test_teacher_reasons_identical_on_two_workers(tmp_path):
    """Training's reason generation (k samples per prompt through ``sample_k``) on Ray workers."""
    from rrm_eval.training import PrepareConfig, run_prepare

    prepared = tmp_path / "p.jsonl"
    pairs = Path(__file__).parent / "fixtures" / "skywork" / "pairs.jsonl"
    run_prepare(PrepareConfig(data=str(pairs), seed=2), prepared)
    made = {}
    for name, scale in (("single", []), ("two", ["--ray", "--workers", "2"])):
        args = ["--data", str(prepared), "--teacher", "scripted:random", "--k", "3", "--limit", "12"]
        res = cli("train", "generate-reasons", *args, "--model-opt", "chunk_size=2", "--out", str(tmp_path / name),
                  "--quiet", *scale)  # fmt: skip
        assert res.returncode == 0, res.stderr
        made[name] = (tmp_path / name / "records.jsonl").read_bytes()
    assert made["single"] == made["two"] and made["single"].count(b"\n") == 36

"""Helpers shared by the tests (importable as `helpers`: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "rrm_eval" / "tasks" / "data" / "rewardbench_sample.jsonl"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@dataclass(frozen=True)
class Result:
    """What a CLI call left behind: the same fields as :class:`subprocess.CompletedProcess` that tests read."""

    returncode: int
    stdout: str
    stderr: str


def _exit_code(code: object, err: io.StringIO) -> int:
    """The exit status the interpreter would give ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=err)  # sys.exit("message"): printed to stderr, status 1
    return 1


def cli(*args: str, cwd: Path | str | None = None) -> Result:
    """Run ``rrm-eval ARGS`` in this process: ``rrm_eval.cli.main`` with stdout and stderr captured.

    It stands in for :func:`run_cli` wherever no process-level property is under test, and reports like a process
    would: argparse's ``SystemExit`` becomes the return code, and an exception ``main`` lets escape becomes status 1
    with its traceback in ``stderr`` (so ``"Traceback" not in res.stderr`` keeps its meaning). ``main`` installs a
    SIGTERM handler; the one before is put back, as is the working directory when ``cwd`` is given.
    """
    from rrm_eval.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_cwd = os.getcwd() if cwd is not None else None
    old_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:
                code = _exit_code(exc.code, err)
            except Exception:  # what the interpreter would print for an uncaught exception
                traceback.print_exc(file=err)
                code = 1
    finally:
        signal.signal(signal.SIGTERM, old_sigterm)
        if old_cwd is not None:
            os.chdir(old_cwd)
    return Result(int(code), out.getvalue(), err.getvalue())


def run_cli(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run `python -m rrm_eval ...` in a fresh process. Only for what needs one: signals, hash seeds, environment read
    at import, the entry point itself; everything else uses :func:`cli`."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "rrm_eval", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write ``rows`` as JSON lines; return ``path``."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def summary_of(run_dir: Path) -> dict:
    """A run directory's ``summary.json``."""
    return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


def only_run(out: Path) -> Path:
    """The one run directory under an ``--output-dir``."""
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


MATH8 = Path(__file__).parent / "fixtures" / "candidates" / "math8.jsonl"


def marked_candidates(root: Path) -> Path:
    """The math8 fixture with GOOD appended to every correct candidate (what the scripted marker judges look for,
    and what ``scripted:accuracy:P`` prefers with probability P)."""
    from rrm_eval.tasks import load_candidate_sets

    graded = {cs.id: cs for cs in load_candidate_sets(str(MATH8)).sets}
    rows = read_jsonl(MATH8)
    for row in rows:
        for cand, known in zip(row["candidates"], graded[row["id"]].candidates, strict=True):
            if known.correct:
                cand["text"] += " GOOD"
    return write_jsonl(root / "marked.jsonl", rows)

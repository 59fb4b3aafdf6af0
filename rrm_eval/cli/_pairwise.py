"""`rrm-eval pairwise`: judge every pair of a pairwise task and score it."""

from __future__ import annotations

import argparse

from rrm_eval.cli._common import add_pairwise_options, exit_status, positive_int, run_pairwise_command
from rrm_eval.tasks import TaskOptions


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pairwise",
        help="judge a pairwise benchmark (RewardBench, ...) and score it",
        description="Judge every pair with a generative judge; resumable; writes runs/<run>/.",
    )
    p.add_argument(
        "--dataset",
        "--task",
        dest="task",
        default="rewardbench-sample",
        help="task name (see `rrm-eval list tasks`; default rewardbench-sample, the bundled real sample)",
    )
    p.add_argument("--data", help="local json/jsonl/parquet file with the task's columns (instead of the hub)")
    p.add_argument("--subsets", help="comma-separated subsets to run")
    p.add_argument("--limit", type=positive_int, help="first N items (after --subsets)")
    p.add_argument("--skip-bad-rows", action="store_true", help="drop malformed rows (counted) instead of stopping")
    p.add_argument(
        "--split",
        choices=("gpt", "claude"),
        help="JudgeBench split (default: the file's response_model; gpt from the hub)",
    )
    add_pairwise_options(p)
    p.set_defaults(func=run)


def task_options(args: argparse.Namespace, **extra: object) -> TaskOptions:
    subsets = tuple(s.strip() for s in args.subsets.split(",") if s.strip()) if args.subsets else None
    return TaskOptions(
        data=args.data, subsets=subsets, limit=args.limit, skip_bad_rows=args.skip_bad_rows, extra=dict(extra)
    )


def run(args: argparse.Namespace) -> int:
    extra = {"split": args.split} if args.split else {}  # only when given: other tasks' run names stay as they were
    outcome = run_pairwise_command(args, args.task, task_options(args, **extra))
    return exit_status(outcome.backend_errors, outcome.run_dir)

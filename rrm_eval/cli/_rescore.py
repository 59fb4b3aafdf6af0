"""`rrm-eval rescore RUN_DIR`: recompute a run's scores offline from its records."""

from __future__ import annotations

import argparse
from pathlib import Path

from rrm_eval._pipeline import rescore_run
from rrm_eval.cli._common import print_pairwise_summary
from rrm_eval.judges import PARSERS
from rrm_eval.runs import write_json
from rrm_eval.scoring import FAILURE_POLICIES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rescore", help="re-score a run from its records (no model needed)")
    p.add_argument("run_dir", help="a run directory (with spec.json and records.jsonl)")
    p.add_argument("--judge-parser", choices=PARSERS.names(), help="re-parse raw outputs with this parser")
    p.add_argument("--failure-policy", choices=FAILURE_POLICIES, help="score of unreadable verdicts")
    p.add_argument("--output", help="write the new summary here (default RUN_DIR/summary.rescored.json)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    summary = rescore_run(args.run_dir, args.judge_parser, args.failure_policy)
    out = Path(args.output) if args.output else Path(args.run_dir) / "summary.rescored.json"
    write_json(out, summary)
    print_pairwise_summary(summary, args.run_dir)
    print(f"rescored summary: {out}")
    return 0

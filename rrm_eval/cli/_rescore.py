"""`rrm-eval rescore RUN_DIR`: recompute a run's scores offline from its records (pairwise, bestof or tournament)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rrm_eval import rescore, run_spec
from rrm_eval.cli._common import print_pairwise_summary
from rrm_eval.judges import PARSERS
from rrm_eval.runs import write_json
from rrm_eval.scoring import FAILURE_POLICIES, VERDICT_POLICIES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rescore", help="re-score a run from its records (no model needed)")
    p.add_argument("run_dir", help="a run directory (with spec.json and records.jsonl)")
    p.add_argument("--judge-parser", choices=PARSERS.names(), help="pairwise: re-parse raw outputs with this parser")
    p.add_argument(
        "--failure-policy", choices=FAILURE_POLICIES, help="pairwise and bestof: score of unreadable verdicts"
    )
    p.add_argument("--verdict-policy", choices=VERDICT_POLICIES, help="tournament: what an unreadable verdict becomes")
    p.add_argument("--output", help="write the new summary here (default RUN_DIR/summary.rescored.json)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rrm_eval._errors import RRMError

    kind = run_spec(args.run_dir)["kind"]
    if kind == "tournament":
        if args.judge_parser or args.failure_policy:
            raise RRMError(
                "--judge-parser and --failure-policy apply to pairwise and bestof runs; this is a tournament run",
                hint="use --verdict-policy coin|draw|drop",
            )
        from rrm_eval.cli._tournament import print_tournament_summary

        summary = rescore(args.run_dir, verdict_policy=args.verdict_policy)
        print_tournament_summary(summary)
    elif kind == "pairwise":
        if args.verdict_policy:
            raise RRMError("--verdict-policy applies to tournament runs", hint="use --failure-policy tie|wrong")
        summary = rescore(args.run_dir, args.judge_parser, args.failure_policy)
        print_pairwise_summary(summary, args.run_dir)
    elif kind == "bestof":
        if args.judge_parser or args.verdict_policy:
            raise RRMError(
                "--judge-parser and --verdict-policy do not apply to a bestof run: it is re-scored from its recorded "
                "verdicts and ratings",
                hint="use --failure-policy tie|wrong",
            )
        from rrm_eval.cli._rewardbench2 import print_bestof_summary

        summary = rescore(args.run_dir, failure_policy=args.failure_policy)
        print_bestof_summary(summary, args.run_dir)
    else:
        raise RRMError(
            f"{args.run_dir} is a {kind} run: it has no scores to recompute",
            hint="give a pairwise, bestof or tournament run",
        )
    out = Path(args.output) if args.output else Path(args.run_dir) / "summary.rescored.json"
    write_json(out, summary)
    print(f"rescored summary: {out}")
    return 0

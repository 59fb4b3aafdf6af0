"""`rrm-eval report RUN_DIR [RUN_DIR ...] -o report.html`: one self-contained HTML report of the runs."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="one self-contained HTML file of runs: scores, intervals, figures, paired comparison",
        description="Write one HTML file (inline SVG figures, no network access; opens from disk) showing each run's "
        "scores with intervals, subset and section bars, order effects, failures, output lengths, tournament "
        "selector accuracies and ratings, accuracy vs thinking budget, votes and judge calls, and the paired "
        "comparison of runs of one task and data. Folders that cannot be read are listed with the reason. Only "
        "reads the runs; needs the 'report' extra (matplotlib).",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="runs (pairwise, bestof, tournament) or sweeps")
    p.add_argument("-o", "--output", default="report.html", help="the HTML file to write (default report.html)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rrm_eval.report import build_report

    path = build_report(args.runs, args.output)
    print(f"report: {path}")
    return 0

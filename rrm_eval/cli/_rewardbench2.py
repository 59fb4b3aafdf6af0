"""`rrm-eval bestof`: RewardBench 2 (best-of-4 and Ties) with a generative judge, three ways to play it."""

from __future__ import annotations

import argparse
from typing import Any

from rrm_eval.cli._common import (
    add_model_options,
    add_output_options,
    add_record_options,
    add_sampling_overrides,
    exit_status,
    model_options,
    pct,
    positive_int,
    progress_factory,
)
from rrm_eval.protocols._bestof import RB2_MODES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bestof",
        help="judge a best-of-N benchmark (RewardBench 2): listwise, ratings or knockout",
        description="RewardBench 2 with a generative judge; Ties is always rated; resumable; writes runs/<run>/.",
    )
    p.add_argument(
        "--dataset", "--task", dest="task", default="rewardbench2-sample",
        help="rewardbench2 (hub allenai/reward-bench-2, split test, or --data FILE) or rewardbench2-sample "
        "(the bundled 44 real rows; default)",
    )  # fmt: skip
    p.add_argument("--data", help="local json/jsonl/parquet file in the RewardBench 2 layout")
    p.add_argument("--subsets", help="comma-separated subsets (Factuality,Precise IF,Math,Safety,Focus,Ties)")
    p.add_argument("--limit", type=positive_int, help="first N items (after --subsets)")
    add_model_options(p)
    g = p.add_argument_group("judging")
    g.add_argument("--rb2-mode", choices=RB2_MODES, default="listwise",
                   help="listwise: one 4-way prompt (default); ratings: each response rated 1-10; knockout: a "
                   "3-match bracket with a pairwise judge")  # fmt: skip
    g.add_argument("--judge", help="judge name or file (default: rb2-listwise / rb2-ratings / rrm by mode)")
    g.add_argument("--ties-judge", default="rb2-ratings", help="rating judge for Ties (default rb2-ratings)")
    g.add_argument("--seed", type=int, default=0, help="seed of slots, brackets and sampling (default 0)")
    g.add_argument("--failure-policy", choices=("tie", "wrong"), default="tie",
                   help="unreadable verdict: tie = chance (0.25) as reward-bench (default), wrong = 0")  # fmt: skip
    add_sampling_overrides(g)
    add_record_options(g)
    add_output_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rrm_eval.pipelines.bestof import BestOfRunConfig, evaluate_bestof
    from rrm_eval.protocols._bestof import BestOfConfig
    from rrm_eval.tasks import TaskOptions

    subsets = tuple(s.strip() for s in args.subsets.split(",") if s.strip()) if args.subsets else None
    cfg = BestOfRunConfig(
        model=args.model,
        judge=args.judge,
        ties_judge=args.ties_judge,
        task=args.task,
        task_options=TaskOptions(data=args.data, subsets=subsets, limit=args.limit),
        protocol=BestOfConfig(
            mode=args.rb2_mode,
            seed=args.seed,
            temperature=args.temperature,
            top_p=args.top_p,
            max_new_tokens=args.max_new_tokens,
            save_prompts=not args.no_save_prompts,
        ),
        failure_policy=args.failure_policy,
        model_options=model_options(args),
        output_dir=args.output_dir,
        run_dir=args.run_dir,
        run_name=args.run_name,
        bootstrap=args.bootstrap,
    )
    outcome = evaluate_bestof(cfg, progress=progress_factory(args.quiet, unit="call"))
    print_bestof_summary(outcome.summary, outcome.run_dir)
    return exit_status(outcome.backend_errors, outcome.run_dir)


def _band(ci: Any) -> str:
    """``[80.4, 83.9]``: an interval in percent, one decimal; ``""`` when there is none."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or not all(isinstance(v, float) for v in ci):
        return ""
    return f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def print_bestof_summary(summary: dict[str, Any], run_dir: Any = None) -> None:
    """The subset table (``score [lo, hi]`` in percent), the official overall and micro with their intervals, the
    Ties components and the failure rates."""
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True)
    intervals = summary.get("intervals") or {}
    sub_ci, score_ci = intervals.get("subsets") or {}, intervals.get("scores") or {}
    level = f"{100 * intervals.get('confidence', 0.95):.0f}% CI"
    table = Table(title=f"{summary.get('task')} ({summary['mode']}) — {summary.get('judge')} — {summary.get('model')}")
    score_col = f"score (%) [{level}]" if intervals else "score (%)"
    for col in ("subset", "n", score_col):
        table.add_column(col, justify="left" if col == "subset" else "right")
    for name, s in summary["subsets"].items():
        table.add_row(name, str(s["n"]), pct(s["score"]) + _band(sub_ci.get(name)))
    console.print(table)
    scores = summary["scores"]
    console.print(
        f"official overall (mean of subsets) {pct(scores['overall'])}%{_band(score_ci.get('overall'))}   "
        f"micro (item-weighted) {pct(scores['micro'])}%{_band(score_ci.get('micro'))}",
        highlight=False,
    )
    if intervals:
        console.print(
            f"intervals: {level}, {intervals.get('method', 'bootstrap')}, {intervals.get('resamples')} resamples, "
            f"seed {intervals.get('seed')}",
            highlight=False,
        )
    ties = summary["subsets"].get("Ties", {}).get("ties")
    if ties:
        console.print(
            f"Ties: tied acc {pct(ties['tied_accuracy'])}%  ref acc {pct(ties['ref_accuracy'])}%  "
            f"margin>spread {pct(ties['correctness_preferred'])}%  hard {pct(ties['correctness_preferred_hard'])}%  "
            f"paired prompts {ties['paired_prompts']} (unpaired {ties['unpaired_prompts']})"
        )
    rec = summary["records"]
    console.print(f"judge calls {rec['judge_calls']}  parse failures {pct(rec['failure_rate'])}%  truncation "
                  f"{pct(rec['truncation_rate'])}%  failure policy: {summary['failure_policy']}")  # fmt: skip
    if rec["failures"]:
        console.print("failures by reason: " + ", ".join(f"{k} {v}" for k, v in rec["failures"].items()))
    if summary.get("partial"):
        console.print(f"[yellow]partial: no items in {', '.join(summary['partial'])}[/yellow]")
    if run_dir is not None:
        console.print(f"run directory: {run_dir}")

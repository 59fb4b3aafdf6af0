"""`rrm-eval sweep`: accuracy per thinking budget; smaller budgets reuse the largest budget's thinking."""

from __future__ import annotations

import argparse
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.cli import _pairwise
from rrm_eval.cli._common import pairwise_run_config, pct, progress_factory


def _budget_list(text: str) -> tuple[int, ...]:
    from rrm_eval.pipelines.sweep import parse_budgets

    try:
        return parse_budgets(text)
    except RRMError as exc:  # argparse's own usage error: exit 2, no traceback
        raise argparse.ArgumentTypeError(f"{exc.message} ({exc.hint})") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    # Every `rrm-eval pairwise` option, taken from its own parser (never a copy); --think-budget becomes a list.
    holder = argparse.ArgumentParser(add_help=False).add_subparsers()
    _pairwise.add_parser(holder)
    p = sub.add_parser(
        "sweep",
        parents=[holder.choices["pairwise"]],
        conflict_handler="resolve",
        help="accuracy per thinking budget (--think-budget 512,1024,...): one run per budget, thinking reused",
        description="Run a pairwise evaluation at the largest --think-budget, then every smaller budget by cutting "
        "that run's thinking at N tokens and generating only the verdict. Each budget is its own run directory.",
    )
    p.add_argument(
        "--think-budget",
        type=_budget_list,
        required=True,
        metavar="N1,N2,...",
        help="comma-separated thinking budgets in tokens, e.g. 512,1024,2048,4096,8192",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rrm_eval.pipelines.sweep import SweepConfig, think_budget_sweep

    budgets: tuple[int, ...] = args.think_budget
    args.think_budget = max(budgets)  # the shared protocol builder reads one budget; the sweep sets each
    extra = {"split": args.split} if args.split else {}
    cfg = pairwise_run_config(args, args.task, _pairwise.task_options(args, **extra))
    outcome = think_budget_sweep(SweepConfig(cfg, budgets), progress=progress_factory(args.quiet))
    print_sweep(outcome)
    return 0


def print_sweep(outcome: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Thinking-budget sweep")
    for col in ("budget", "accuracy", "95% CI", "thinking tokens", "cut", "generated tokens", "calls"):
        table.add_column(col, justify="right")
    for r in outcome.rows:
        ci = f"[{100 * r.interval[0]:.1f}, {100 * r.interval[1]:.1f}]" if r.interval else "-"
        table.add_row(
            str(r.budget),
            pct(r.accuracy),
            ci,
            f"{r.thinking_tokens:.1f}",
            f"{100 * r.cut_share:.1f}%",
            str(r.generated_tokens),
            str(r.calls),
        )
    console = Console(soft_wrap=True)
    console.print(table)
    ratio = outcome.ratio
    console.print(
        f"generated tokens: sweep {outcome.total_generated}, largest budget alone {outcome.largest.generated_tokens}"
        + (f" ({ratio:.3f}x)" if ratio is not None else "")
    )
    for r in outcome.rows:
        console.print(f"  budget {r.budget}: {r.run_dir}")

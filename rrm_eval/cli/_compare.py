"""`rrm-eval compare RUN_A RUN_B [RUN_C ...]`: paired comparison of pairwise runs, or of bestof (RewardBench 2) runs,
on the items they both judged."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rrm_eval.cli._common import positive_int, probability
from rrm_eval.scoring import BOOTSTRAP_RESAMPLES, FAILURE_POLICIES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="paired comparison of pairwise or bestof runs (bootstrap intervals, exact McNemar p-values)",
        description="Compare each run after the first with the first, on the items both judged: per subset, section "
        "and overall score, the difference B - A with a paired bootstrap 95%% interval and an exact McNemar p-value. "
        "Runs are all pairwise or all bestof (RewardBench 2; their modes may differ, e.g. listwise vs ratings), of "
        "the same task and data. Only records are read; no model is loaded.",
    )
    p.add_argument(
        "runs", nargs="+", metavar="RUN_DIR", help="pairwise or bestof run directories (the first is the baseline)"
    )
    p.add_argument(
        "--bootstrap",
        type=positive_int,
        default=BOOTSTRAP_RESAMPLES,
        metavar="B",
        help=f"bootstrap resamples (default {BOOTSTRAP_RESAMPLES})",
    )
    p.add_argument("--seed", type=int, help="seed of the resampling (default: the first run's seed)")
    p.add_argument("--alpha", type=probability, default=0.05, help="significance level of the verdicts (default 0.05)")
    p.add_argument(
        "--failure-policy",
        choices=FAILURE_POLICIES,
        help="score every run's unreadable verdicts this way (default: each run's own policy)",
    )
    p.add_argument("--json", metavar="PATH", help="also write the comparison as JSON to PATH")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rrm_eval import compare_runs
    from rrm_eval.runs import write_json

    result = compare_runs(
        args.runs, resamples=args.bootstrap, seed=args.seed, alpha=args.alpha, failure_policy=args.failure_policy
    )
    print_comparison(result)
    if args.json:
        write_json(Path(args.json), result)
        print(f"comparison: {args.json}")
    return 0


def _points(x: float) -> str:
    return f"{100 * x:.2f}"


def _p(p: float) -> str:
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}"


def print_comparison(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False, soft_wrap=True)
    runs = {r["label"]: r for r in result["runs"]}
    for r in result["runs"]:
        mode = f"mode {r['mode']}, " if r.get("mode") else ""
        console.print(
            f"{r['label']}: {r['run_dir']}  ({mode}judge {r['judge']}, model {r['model']}, seed {r['seed']}, "
            f"failure policy {r['failure_policy']}, {r['n_items']} items)",
            highlight=False,
        )
    if len({r["failure_policy"] for r in result["runs"]}) > 1:
        console.print("[yellow]the runs are scored under different failure policies; see --failure-policy[/yellow]")
    for comp in result["comparisons"]:
        a, b = comp["a"], comp["b"]
        if comp.get("modes"):
            console.print(f"modes compared: {comp['modes']}", highlight=False)
        title = f"{result['task']}: {b} vs {a} on {comp['n_common']} common items (points, %)"
        table = Table(title=title)
        for col, just in (("", "left"), ("n", "right"), (a, "right"), (b, "right"), (f"{b} - {a}", "right")):
            table.add_column(col, justify=just)  # type: ignore[arg-type]
        table.add_column("95% CI", justify="right")
        table.add_column("p", justify="right")
        rows = comp["rows"]
        scores = [r for r in rows if r["kind"] == "score"]
        for r in [*scores, *(r for r in rows if r["kind"] == "subset")]:
            style = "bold" if r["kind"] == "score" else None
            unit = " pids" if r.get("unit") == "prompt ids" else ""  # Ties: units are prompt ids, not rows
            table.add_row(
                r["name"].removeprefix("sections."),
                f"{r['n']}{unit}",
                _points(r["a"]),
                _points(r["b"]),
                f"{100 * r['diff']:+.2f}",
                f"[{100 * r['ci'][0]:.1f}, {100 * r['ci'][1]:.1f}]",
                _p(r["p_value"]),
                style=style,
                end_section=r is scores[-1] if scores else False,
            )
        console.print(table)
        if comp["only_a"] or comp["only_b"]:
            console.print(
                f"left out: {comp['only_a']} items judged only by {a}, {comp['only_b']} only by {b} "
                f"({runs[b]['run_dir']})"
            )
        for line in comp["verdicts"]:
            console.print(f"  {line}", highlight=False)
        console.print(f"[dim]{comp['caveat']}[/dim]")
    for note in result.get("notes") or []:
        console.print(f"[dim]{note}[/dim]", highlight=False)
    pooled = (
        ""
        if result.get("notes")
        else "; a section's or the overall p pools the items of the subsets it is computed from (unweighted), its "
        "interval uses the benchmark's own weighting"
    )
    console.print(
        f"intervals: {result['method']}, {result['comparisons'][0]['resamples']} resamples; p: {result['test']}"
        f"{pooled}; alpha {result['alpha']}",
        highlight=False,
    )

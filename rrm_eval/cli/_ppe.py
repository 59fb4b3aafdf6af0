"""`rrm-eval ppe`: judge PPE correctness pairs per round; `rrm-eval ppe-pairs`: check a local copy or draw pairs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rrm_eval.cli._common import add_pairwise_options, exit_status, pct, positive_int, run_pairwise_command
from rrm_eval.ppe_dataset import builder as ppe
from rrm_eval.tasks import TaskOptions
from rrm_eval.tasks._ppe import PUBLISHED, check_rounds, parse_rounds

SUBSET_HELP = "MMLU (MMLU-Pro), GPQA or MATH; IFEval and MBPP-Plus need --pairs (draw them with `rrm-eval ppe-pairs`)"
DATA_HELP = (
    "local copy of the PPE Best-of-K set (split train, hub row order): a .parquet/.jsonl/.json file, or a folder "
    "holding MATH.jsonl, MMLU.parquet, PPE-GPQA-Best-of-K.jsonl, ... (default: the Hugging Face hub)"
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ppe",
        help="judge PPE correctness pairs (MMLU-Pro, GPQA, MATH) per round, 512 pairs a round",
        description="Judge one correct vs one incorrect response per prompt with the published PPE conflict pairs. "
        "Round r uses pair r-1 of every prompt; reports each round's accuracy and their mean. Resumable.",
    )
    p.add_argument("--subset", required=True, help=SUBSET_HELP)
    rounds = p.add_mutually_exclusive_group()
    rounds.add_argument("--round", dest="rounds", metavar="R", help="round(s) to run: 1..5, or a list like 1,3")
    rounds.add_argument("--rounds", dest="rounds", metavar="R", help="'all' (the default: rounds 1-5) or a list")
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument("--pairs", help="pairs JSON to use instead of the published pairs (e.g. from `rrm-eval ppe-pairs`)")
    p.add_argument("--limit", type=positive_int, help="first N prompts only (each selected round then has N pairs)")
    p.add_argument("--skip-bad-rows", action="store_true", help="drop malformed rows (counted) instead of stopping")
    add_pairwise_options(p)
    p.set_defaults(func=run)

    q = sub.add_parser(
        "ppe-pairs",
        help="check a local PPE copy against the published pairs, or draw seeded conflict pairs",
        description="Without --output: validate every published pair (rounds 1-5) against the data and report. "
        "With --output: draw fresh conflict pairs (one correct, one incorrect response) per prompt, seeded.",
    )
    q.add_argument("--subset", required=True, help="MMLU, GPQA, MATH, IFEval or MBPP-Plus")
    q.add_argument("--data", help=DATA_HELP)
    q.add_argument("--output", "-o", help="write drawn pairs to this JSON file (readable by `rrm-eval ppe --pairs`)")
    q.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    q.add_argument("--per-prompt", type=positive_int, default=5, help="pairs per prompt, i.e. rounds (default 5)")
    q.add_argument("--unique", action="store_true", help="never repeat a pair within a prompt")
    q.set_defaults(func=run_pairs)


def task_options(args: argparse.Namespace) -> TaskOptions:
    subset = ppe.resolve_subset(args.subset)
    rounds = parse_rounds(args.rounds)
    extra: dict[str, Any] = {"subset": subset.name, "rounds": "all" if rounds is None else rounds}
    if args.pairs:
        extra["pairs"] = str(Path(args.pairs).resolve())
    return TaskOptions(data=args.data, limit=args.limit, skip_bad_rows=args.skip_bad_rows, extra=extra)


def run(args: argparse.Namespace) -> int:
    options = task_options(args)
    outcome = run_pairwise_command(args, "ppe", options)
    print_rounds(outcome.summary, options.extra["subset"])
    return exit_status(outcome.backend_errors, outcome.run_dir)


def print_rounds(summary: dict[str, Any], subset: str) -> None:
    """The PPE table: accuracy per round and their mean, next to the published single-round numbers."""
    from rich.console import Console
    from rich.table import Table

    scores = summary.get("scores") or {}
    rounds = scores.get("rounds") or {}
    if not rounds:
        return
    table = Table(title=f"PPE {subset}: accuracy per round (%)")
    for name in [*rounds, "mean"]:
        table.add_column(name, justify="right")
    table.add_row(*[pct(v) for v in rounds.values()], pct(scores.get("overall")))
    console = Console(soft_wrap=True)
    console.print(table)
    published = PUBLISHED.get(subset)
    if published:
        ref = ", ".join(f"{model} {value:.2f}" for model, value in published.items())
        console.print(f"published single-round accuracy (REFERENCE.md): {ref}")


def run_pairs(args: argparse.Namespace) -> int:
    subset = ppe.resolve_subset(args.subset)
    raw_rows, source = ppe.load_raw_rows(subset, args.data)
    if args.output:
        rows = [ppe.validate_row(r, n, source, subset) for n, r in enumerate(raw_rows)]
        drawn = ppe.draw_pairs(rows, args.per_prompt, args.seed, args.unique)
        doc = ppe.pairs_document(subset, source, rows, drawn, args.seed, args.unique)
        from rrm_eval.runs import write_json

        write_json(Path(args.output), doc)
        parsed = ppe.read_pairs(args.output)  # read back: what `ppe --pairs` will see
        empty = sum(1 for e in drawn if not e)
        print(
            f"wrote {args.output}: {len(rows)} prompts, {sum(map(len, drawn))} pairs, {empty} prompts without a "
            f"conflict (no pairs), {ppe.duplicate_count(parsed)} repeated pairs; seed {args.seed}"
        )
        return 0
    pairs = ppe.published_pairs(subset)
    rounds = check_rounds(None, pairs, published=True)
    joined = ppe.join_pairs(raw_rows, pairs, subset, rounds, source)
    print(
        f"{source}: {joined.n_rows} rows; every published pair of rounds 1-{len(rounds)} is a conflict "
        f"({len(joined.pairs)} pairs, {ppe.duplicate_count(pairs)} repeated within a prompt); fingerprint "
        f"{joined.fingerprint}"
    )
    return 0

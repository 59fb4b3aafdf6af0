"""Shared CLI pieces: pairwise options, progress bars, result tables, error handling."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from rrm_eval import PairwiseRunConfig, RunOutcome
from rrm_eval.models import DEFAULT_MODEL, parse_options, parse_spec
from rrm_eval.protocols import ORDERS, PairwiseConfig
from rrm_eval.scoring import FAILURE_POLICIES


def _number(cast: Callable[[str], Any], check: Callable[[Any], bool], what: str) -> Callable[[str], Any]:
    """An argparse type: a bad value becomes argparse's own usage error (exit 2, no traceback)."""

    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


positive_int = _number(int, lambda v: v >= 1, "an integer >= 1")
nonnegative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
nonnegative_float = _number(float, lambda v: v >= 0, "a number >= 0")
probability = _number(float, lambda v: 0 < v <= 1, "a number in (0, 1]")
positive_float = _number(float, lambda v: v > 0, "a number > 0")


def add_model_options(p: argparse.ArgumentParser, default_model: str | None = DEFAULT_MODEL) -> None:
    g = p.add_argument_group("model")
    g.add_argument(
        "--model",
        default=default_model,
        required=default_model is None,
        help=f"model spec, e.g. hf:PATH, vllm:PATH, openai:URL#NAME, llamacpp:FILE.gguf, scripted:first "
        f"(default: {default_model}, the embedded SmolLM2-135M-Instruct)",
    )
    g.add_argument(
        "--model-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend option, repeatable (e.g. dtype=bfloat16, batch_size=8, tensor_parallel_size=2)",
    )
    add_scale_out_options(p)


def add_scale_out_options(p: argparse.ArgumentParser) -> None:
    """``--ray [ADDRESS]`` and worker sizes: the same engines on Ray actors, the same records (docs/scale-out.md)."""
    g = p.add_argument_group("scale-out (Ray; pip install 'rrm-eval[ray]')")
    g.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run the model calls on Ray workers, one engine each: a local cluster on 127.0.0.1, or the cluster at "
        "ADDRESS (e.g. 10.0.0.1:6379 or ray://head:10001); records are those of a single-process run",
    )
    g.add_argument("--workers", type=positive_int, metavar="N", help="Ray workers (engines); default 1")
    g.add_argument("--gpus-per-worker", type=nonnegative_float, metavar="G", help="GPUs per worker (default 0)")
    g.add_argument("--cpus-per-worker", type=positive_float, metavar="C", help="CPUs per worker (default 1)")


def add_pairwise_options(p: argparse.ArgumentParser) -> None:
    add_model_options(p)
    g = p.add_argument_group("judging")
    g.add_argument(
        "--judge",
        help="built-in judge name or a judge .toml file (see `rrm-eval list judges`); default: rrm, or logprob for "
        "the embedded SmolLM2, which is too small to write verdicts",
    )
    g.add_argument("--seed", type=int, default=0, help="seed of presentation orders and sampling (default 0)")
    g.add_argument(
        "--order",
        choices=ORDERS,
        default="random",
        help="random: one seeded order per pair (default); both: A/B and B/A; fixed: chosen first",
    )
    g.add_argument(
        "--votes", type=positive_int, default=1, help="samples per presentation, majority-reduced (default 1)"
    )
    g.add_argument(
        "--early-stop",
        nargs="?",
        const="exact",
        metavar="RULE",
        help="draw --votes in waves and stop early: exact (default when given: stop once the remaining votes "
        "cannot change the majority) or conf=P (stop once the majority is P-certain; see docs)",
    )
    g.add_argument(
        "--think-budget",
        type=positive_int,
        metavar="N",
        help="close a reasoning judge's thinking after N tokens, then let it give its verdict",
    )
    g.add_argument(
        "--verdict-budget",
        type=positive_int,
        default=64,
        metavar="N",
        help="tokens for the verdict after a --think-budget cut (default 64)",
    )
    g.add_argument(
        "--failure-policy",
        choices=FAILURE_POLICIES,
        default="tie",
        help="score of an unreadable verdict: tie = 0.5 as the published anchors (default), wrong = 0",
    )
    add_sampling_overrides(g)
    add_record_options(g)
    add_output_options(p)


def add_record_options(g: argparse._ArgumentGroup) -> None:
    """What a judging command stores and how its scores are reported."""
    g.add_argument("--no-save-prompts", action="store_true", help="store only prompt hashes in records")
    g.add_argument(
        "--bootstrap",
        type=nonnegative_int,
        default=1000,
        metavar="B",
        help="bootstrap resamples of the 95%% intervals printed next to every score (default 1000; 0 = none)",
    )


def add_output_options(p: argparse.ArgumentParser, run_name: bool = True) -> None:
    """Where a command's run directory goes (every command that makes a run)."""
    o = p.add_argument_group("output")
    o.add_argument("--output-dir", default="runs", help="parent folder of run directories (default runs/)")
    o.add_argument("--run-dir", help="exact run directory (resume it if it exists)")
    if run_name:
        o.add_argument("--run-name", help="name of the run directory under --output-dir")
    o.add_argument("--quiet", action="store_true", help="no progress bar")


def add_sampling_overrides(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--temperature", type=nonnegative_float, help="override the judge's sampling temperature")
    g.add_argument("--top-p", type=probability, help="override the judge's top_p")
    g.add_argument("--max-new-tokens", type=positive_int, help="override the judge's generation budget")


def pairwise_run_config(args: argparse.Namespace, task: str, task_options: Any) -> PairwiseRunConfig:
    """The pairwise run the parsed CLI arguments describe (every pairwise command builds it here)."""
    return PairwiseRunConfig(
        model=args.model,
        judge=default_judge(args),
        task=task,
        task_options=task_options,
        protocol=pairwise_protocol(args),
        failure_policy=args.failure_policy,
        model_options=model_options(args),
        output_dir=args.output_dir,
        run_dir=args.run_dir,
        run_name=args.run_name,
        bootstrap=args.bootstrap,
    )


def run_pairwise_command(args: argparse.Namespace, task: str, task_options: Any) -> RunOutcome:
    """Run a pairwise evaluation from parsed CLI arguments, print its tables, and return the outcome."""
    from rrm_eval import evaluate_pairwise

    outcome = evaluate_pairwise(pairwise_run_config(args, task, task_options), progress=progress_factory(args.quiet))
    print_pairwise_summary(outcome.summary, outcome.run_dir)
    return outcome


def exit_status(backend_errors: int, run_dir: Any) -> int:
    """0, or 1 with a loud warning when some judge calls failed in the engine or server: they are recorded as
    ``backend_error`` (scored by the failure policy), so the numbers printed are not the judge's own."""
    if not backend_errors:
        return 0
    print(
        f"warning: {backend_errors} judge call(s) failed in the backend after their retries (recorded as "
        f"backend_error in {run_dir}/records.jsonl); the scores above count them by the failure policy.\n"
        "hint: fix the server or engine, then run the same command again: it makes only the failed calls again "
        "(every other record is kept; tournaments keep failed games, scored by the verdict policy, since a redone "
        "game could change the bracket after it)",
        file=sys.stderr,
    )
    return 1


def default_judge(args: argparse.Namespace) -> str:
    if args.judge:
        return args.judge
    # 8,192-token reasoning from a 135M model on a CPU would take hours and never yield a verdict.
    return "logprob" if parse_spec(args.model).prefix == DEFAULT_MODEL else "rrm"


def pairwise_protocol(args: argparse.Namespace) -> PairwiseConfig:
    return PairwiseConfig(
        order=args.order,
        votes=args.votes,
        seed=args.seed,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        save_prompts=not args.no_save_prompts,
        think_budget=args.think_budget,
        verdict_budget=args.verdict_budget,
        early_stop=args.early_stop,
    )


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--model-opt`` pairs, plus the scale-out flags as the (execution-only) options the model loader reads."""
    options = parse_options(args.model_opt)
    flags = {
        "ray": getattr(args, "ray", None),
        "ray_workers": getattr(args, "workers", None),
        "ray_gpus_per_worker": getattr(args, "gpus_per_worker", None),
        "ray_cpus_per_worker": getattr(args, "cpus_per_worker", None),
    }
    options.update({k: v for k, v in flags.items() if v is not None})
    return options


def progress_factory(quiet: bool, unit: str = "pair") -> Callable[[int, int], Callable[[int], None]] | None:
    if quiet:
        return None

    def make(total: int, done: int) -> Callable[[int], None]:
        from tqdm import tqdm

        bar = tqdm(
            total=total, initial=done, unit=unit, dynamic_ncols=True, mininterval=1.0, file=sys.stderr, desc="judging"
        )

        def advance(n: int) -> None:
            bar.update(n)
            if bar.n >= bar.total:
                bar.close()

        def note(text: str) -> None:  # e.g. calls/s per Ray worker and in all
            bar.set_postfix_str(text, refresh=False)

        advance.note = note  # type: ignore[attr-defined]
        return advance

    return make


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def print_pairwise_summary(summary: dict[str, Any], run_dir: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    def band(ci: Any) -> str:
        """``[80.4, 83.9]``: an interval in percent, one decimal (the precision an interval of this kind has)."""
        if not isinstance(ci, (list, tuple)) or len(ci) != 2 or not all(isinstance(v, float) for v in ci):
            return "-"
        return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"

    def pct_ci(x: float | None, ci: Any) -> str:
        """``82.19 [80.4, 83.9]``: a score in percent with its interval."""
        return pct(x) if band(ci) == "-" else f"{pct(x)} {band(ci)}"

    def leaf(scores: dict[str, Any], dotted: str) -> float | None:
        """The value at a dotted leaf name of a scores dict (``sections.Chat``), or None."""
        node: Any = scores
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node if isinstance(node, float) else None

    console = Console(stderr=False, soft_wrap=True)
    intervals = summary.get("intervals") or {}
    sub_ci, score_ci = intervals.get("subsets") or {}, intervals.get("scores") or {}
    level = f"{100 * intervals.get('confidence', 0.95):.0f}% CI"
    subsets = Table(title="Per-subset accuracy (%)", show_lines=False)
    for col in ("subset", "n", "accuracy", *([level] if intervals else []), "failed"):
        subsets.add_column(col, justify="left" if col == "subset" else "right")
    for name, s in summary["subsets"].items():
        ci_cell = [band(sub_ci.get(name))] if intervals else []
        subsets.add_row(name, str(s["n"]), pct(s["accuracy"]), *ci_cell, str(s["failed_items"]))
    console.print(subsets)
    scores = summary.get("scores") or {}
    table = Table(title=f"{summary.get('task', '')} — {summary.get('judge', '')} — {summary.get('model', '')}")
    sections = scores.get("sections", {})
    cols = ["Score", *sections] if "overall" in scores else list(sections)
    if intervals:  # the intervals go on a second row, which keeps the table inside 80 columns
        table.caption = f"second row: {level}"
    for c in cols:
        table.add_column(c, justify="right")
    if cols:
        keys = (["overall"] if "overall" in scores else []) + [f"sections.{k}" for k in sections]
        values = ([scores["overall"]] if "overall" in scores else []) + list(sections.values())
        if intervals:
            table.add_row(*(pct(v) for v in values))
            table.add_row(*(band(score_ci.get(k)) for k in keys))
        else:
            table.add_row(*(pct(v) for v in values))
        console.print(table)
    # Scores outside the overall/sections layout (micro/macro variants, per-round means): name, value, interval.
    shown = {"overall", *(f"sections.{k}" for k in sections)}
    others = [k for k in score_ci if k not in shown]
    if others:
        extra = Table(title=f"Other scores (%), {level}")
        extra.add_column("score", justify="left")
        extra.add_column("value", justify="right")
        for k in others:
            extra.add_row(k, pct_ci(leaf(scores, k), score_ci[k]))
        console.print(extra)
    if intervals:
        console.print(
            f"intervals: {level}, {intervals.get('method', 'bootstrap')}, {intervals.get('resamples')} resamples, "
            f"seed {intervals.get('seed')}"
        )
    rec = summary["records"]
    console.print(
        f"items {summary['n_items']}  item accuracy {pct(summary['accuracy'])}%  "
        f"parse failures {pct(rec['failure_rate'])}%  truncation {pct(rec['truncation_rate'])}%  "
        f"lenient {pct(rec['lenient_rate'])}%  failure policy: {summary['failure_policy']}"
    )
    if rec["failures"]:
        console.print("failures by reason: " + ", ".join(f"{k} {v}" for k, v in rec["failures"].items()))
    votes = summary.get("votes")
    if votes:
        tokens = votes.get("tokens") or {}
        rule = f"early stop {votes['early_stop']}" if votes.get("early_stop") else "no early stop"
        console.print(
            f"votes drawn {votes['votes_drawn']} of {votes['votes_full']} ({rule}: "
            f"{pct(votes['votes_saved_fraction'])}% saved)  tokens spent {tokens.get('spent')} of about "
            f"{tokens.get('full_estimate')} for all {votes['votes_per_presentation']} votes"
            + (f"  note: {votes['note']}" if votes.get("note") else "")
        )
    if summary.get("position_consistency") is not None:
        console.print(f"position consistency {pct(summary['position_consistency'])}%")
    if rec.get("first_position_rate") is not None:
        console.print(f"verdicts for the first position {pct(rec['first_position_rate'])}%")
    if scores.get("incomplete_sections"):
        console.print(f"[yellow]partial: sections {', '.join(scores['incomplete_sections'])} lack subsets[/yellow]")
    if run_dir is not None:
        console.print(f"run directory: {run_dir}")

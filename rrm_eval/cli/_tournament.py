"""`rrm-eval tournament SCHEDULE|rival-results|accuracy-results` (SCHEDULE: round-robin, knockout, swiss,
answer-knockout, adaptive-knockout, answer-adaptive): rank candidate sets with a judge
and report best-of-N accuracy."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rrm_eval import TournamentRunConfig, accuracy_results, rival_results, run_tournament_eval
from rrm_eval.cli._common import (
    add_model_options,
    add_output_options,
    add_sampling_overrides,
    exit_status,
    model_options,
    nonnegative_int,
    pct,
    positive_int,
    progress_factory,
)
from rrm_eval.protocols import GAMES_PER_MATCH, SHIPPED_BRACKETS, TournamentConfig, load_bracket
from rrm_eval.scoring import VERDICT_POLICIES
from rrm_eval.tasks import CANDIDATE_FORMATS

_POLICY_HELP = (
    "what an unreadable verdict becomes in the ratings: coin = a win for a side picked by a coin seeded from the "
    "game (the published behaviour, default), draw = half a point each, drop = left out"
)
_GAMES_HELP = (
    "judge calls per match: 1 = one seeded order (default), 2 = both orders, odd k = best of k (both orders, then "
    "more games only while undecided)"
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tournament",
        help="rank N candidate answers per problem with a judge (round robin, knockout, Swiss) and score best-of-N",
        description="Judge tournaments over candidate sets; resumable; writes runs/<run>/.",
    )
    tsub = p.add_subparsers(dest="tournament_command", metavar="SCHEDULE")
    rr = tsub.add_parser("round-robin", help="every pair of candidates (published ELO setting)")
    _add_run_options(rr)
    rr.add_argument("--games", type=int, choices=(1, 2), default=1, help="1: one seeded order per pair; 2: both")
    rr.set_defaults(func=run, schedule="round-robin")

    ko = tsub.add_parser("knockout", help="single elimination, N-1 matches")
    _add_run_options(ko)
    ko.add_argument(
        "--bracket",
        help=f"fixed bracket: {', '.join(SHIPPED_BRACKETS)} (the published 32-candidate PPE MMLU-Pro bracket) "
        "or a bracket JSON file; default a seeded random bracket per problem (byes when N is not a power of two)",
    )
    ko.add_argument("--games", type=int, choices=GAMES_PER_MATCH, default=1, help=_GAMES_HELP)
    ko.add_argument(
        "--final-round-robin",
        type=nonnegative_int,
        default=0,
        metavar="K",
        help="stop when K remain and play them round robin",
    )
    ko.set_defaults(func=run, schedule="knockout")

    sw = tsub.add_parser("swiss", help="R rounds pairing equal scores (Swiss system)")
    _add_run_options(sw)
    sw.add_argument("--rounds", type=positive_int, help="rounds (default ceil(log2 N) + 1)")
    sw.add_argument("--games", type=int, choices=GAMES_PER_MATCH, default=1, help=_GAMES_HELP)
    sw.set_defaults(func=run, schedule="swiss")

    for name, what in (
        ("answer-knockout", "one representative per distinct final answer, knockout seeded by group size"),
        ("adaptive-knockout", "knockout of sequential matches under a per-problem call budget"),
        ("answer-adaptive", "answer-aware knockout whose matches repeat adaptively under a call budget"),
        ("answer-duel", "Bayesian duels between answer groups, stopping per problem once confident"),
    ):
        _add_budgeted(tsub, name, what)

    rv = tsub.add_parser("rival-results", help="merge a run's judgements into the rival table (rivals.jsonl)")
    rv.add_argument("run_dir", help="a tournament run directory")
    rv.add_argument("--output", help="where to write the table (default RUN_DIR/rivals.jsonl)")
    rv.set_defaults(func=run_rivals)

    ac = tsub.add_parser("accuracy-results", help="ratings and best-of-N accuracy from the rival table")
    ac.add_argument("run_dir", help="a tournament run directory")
    ac.add_argument("--rivals", help="rival table (default RUN_DIR/rivals.jsonl)")
    _add_scoring_options(ac, defaults_from_run=True)
    ac.add_argument("--seed", type=int, help="seed of the Elo order and of coin flips (default: the run's)")
    ac.add_argument("--output", help="summary JSON (default RUN_DIR/accuracy_results.json)")
    ac.add_argument("--ratings-output", help="also write per-problem ratings and picks to this jsonl")
    ac.set_defaults(func=run_accuracy)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _add_budgeted(tsub: argparse._SubParsersAction, name: str, what: str) -> None:
    """A compute-efficient schedule: the options it declares (``SCHEDULES[name].options``) plus ``--schedule-opt``,
    so an option the schedule does not take is one clear error (exit 2) rather than a silent default."""
    from rrm_eval.protocols import SCHEDULES

    schedule = SCHEDULES.get(name)
    p = tsub.add_parser(name, help=what)
    _add_run_options(p)
    if "budget" in schedule.options:
        cap = "2(N - 1)" if name == "answer-duel" else "N - 1"
        p.add_argument("--budget", type=int, metavar="C", help=f"judge calls per problem at most (default {cap})")
    else:
        p.add_argument("--games", type=int, choices=schedule.games, default=1, help=_GAMES_HELP)
    p.add_argument(
        "--schedule-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"a schedule option: {', '.join(schedule.options)} (values: docs/tournaments.md)",
    )
    p.set_defaults(func=run, schedule=name)


def _schedule_options(args: argparse.Namespace) -> dict[str, Any]:
    from rrm_eval._errors import RRMError
    from rrm_eval.protocols import SCHEDULES

    declared = SCHEDULES.get(args.schedule).options
    out: dict[str, Any] = {}
    for item in getattr(args, "schedule_opt", None) or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in declared:
            raise RRMError(
                f"{args.schedule}: unknown schedule option {item!r}",
                hint=f"{args.schedule} takes {', '.join(f'{o}=VALUE' for o in declared)}",
            )
        if key == "budget":
            try:
                out[key] = int(value)
            except ValueError:
                raise RRMError(f"{args.schedule}: budget must be an integer, got {value!r}") from None
        else:
            out[key] = value.strip()
    if getattr(args, "budget", None) is not None:
        out["budget"] = args.budget
    return out


def _add_scoring_options(p: argparse.ArgumentParser, defaults_from_run: bool = False) -> None:
    g = p.add_argument_group("scoring")
    g.add_argument(
        "--verdict-policy", choices=VERDICT_POLICIES, default=None if defaults_from_run else "coin", help=_POLICY_HELP
    )
    g.add_argument(
        "--bt-bootstrap",
        type=nonnegative_int,
        default=None if defaults_from_run else 0,
        metavar="B",
        help="bootstrap resamples for per-candidate Bradley-Terry intervals (default 0: none)",
    )
    g.add_argument(
        "--bootstrap",
        type=nonnegative_int,
        default=None if defaults_from_run else 1000,
        metavar="B",
        help="bootstrap resamples over problems for the accuracy intervals (default 1000)",
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("candidates")
    d.add_argument(
        "--candidates",
        nargs="+",
        required=True,
        metavar="FILE",
        help="candidate sets: our jsonl, Qwen2.5-Math toolkit outputs (one file per seed, or their folder) "
        "or PPE Best-of-K rows (see docs/tournaments.md)",
    )
    d.add_argument(
        "--format",
        dest="candidate_format",
        choices=CANDIDATE_FORMATS,
        default="auto",
        help="input format (default: detected)",
    )
    d.add_argument("--ppe-subset", help="PPE subset (MATH, MMLU, GPQA) when the file name does not tell")
    d.add_argument("--limit", type=positive_int, help="first N problems")
    add_model_options(p)
    g = p.add_argument_group("judging")
    g.add_argument("--judge", default="rrm", help="built-in judge name or a judge .toml file (default rrm)")
    g.add_argument("--seed", type=int, default=0, help="seed of orders, brackets, sampling and coins (default 0)")
    add_sampling_overrides(g)
    g.add_argument("--no-save-prompts", action="store_true", help="store only prompt hashes in records")
    _add_scoring_options(p)
    add_output_options(p)


def run(args: argparse.Namespace) -> int:
    protocol = TournamentConfig(
        schedule=args.schedule,
        games=getattr(args, "games", 1),
        seed=args.seed,
        bracket=load_bracket(args.bracket) if getattr(args, "bracket", None) else None,
        final_size=getattr(args, "final_round_robin", 0) or 0,
        rounds=getattr(args, "rounds", None),
        **_schedule_options(args),
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        save_prompts=not args.no_save_prompts,
    )
    cfg = TournamentRunConfig(
        model=args.model,
        judge=args.judge,
        candidates=tuple(args.candidates),
        candidate_format=args.candidate_format,
        ppe_subset=args.ppe_subset,
        limit=args.limit,
        protocol=protocol,
        verdict_policy=args.verdict_policy,
        bt_bootstrap=args.bt_bootstrap,
        bootstrap=args.bootstrap,
        model_options=model_options(args),
        output_dir=args.output_dir,
        run_dir=args.run_dir,
        run_name=args.run_name,
    )
    outcome = run_tournament_eval(cfg, progress=progress_factory(args.quiet, unit="game"))
    print_tournament_summary(outcome.summary)
    print(f"run directory: {outcome.run_dir}  (judge calls made now: {outcome.written}, reused: {outcome.reused})")
    return exit_status(outcome.backend_errors, outcome.run_dir)


def run_rivals(args: argparse.Namespace) -> int:
    rows, path = rival_results(args.run_dir, args.output)
    print(f"rival table: {len(rows)} games -> {path}")
    return 0


def run_accuracy(args: argparse.Namespace) -> int:
    out = Path(args.output) if args.output else None
    summary = accuracy_results(
        args.run_dir,
        rivals=args.rivals,
        policy=args.verdict_policy,
        seed=args.seed,
        bt_bootstrap=args.bt_bootstrap,
        bootstrap=args.bootstrap,
        output=out,
        ratings_output=args.ratings_output,
    )
    print_tournament_summary(summary)
    print(f"accuracy results: {out or Path(args.run_dir) / 'accuracy_results.json'}")
    return 0


def _ci(entry: dict[str, Any]) -> str:
    ci = entry.get("ci95")
    return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "-"


def print_tournament_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True)
    games = summary["games_per_match"]
    per_match = {1: "one game per match", 2: "both orders"}.get(games, f"best of {games}")
    title = f"Best-of-N accuracy — {summary['schedule']} ({per_match}) — judge {summary['judge']}"
    title += f" — model {summary['model']}"
    table = Table(title=title)
    for col in ("selector", "accuracy %", "95% CI", "correct / n"):
        table.add_column(col, justify="left" if col == "selector" else "right")
    for name, entry in summary["accuracy"].items():
        label = f"{name} *" if name == summary["primary"] else name
        counts = "-" if entry.get("correct") is None else f"{entry['correct']} / {entry['n']}"
        table.add_row(label, pct(entry["accuracy"]), _ci(entry), counts)
    console.print(table)
    sp, v = summary["spend"], summary["verdicts"]
    per_set = f"{sp['judge_calls_per_set']:.1f}" if sp["judge_calls_per_set"] is not None else "-"
    policy = sp.get("policy_completion_tokens")
    console.print(
        f"problems {summary['n_sets']} (candidates per problem {summary['candidates_per_set']})  judge calls "
        f"{sp['judge_calls']} ({per_set} per problem)  judge tokens: prompt {sp['judge_prompt_tokens']}, "
        f"completion {sp['judge_completion_tokens']}" + (f"  policy tokens {policy}" if policy is not None else "")
    )
    console.print(
        f"verdicts: {v.get('games', 0)} games, {v.get('wins', 0)} decisive, {v.get('draws', 0)} draws, "
        f"{v.get('failed', 0)} unreadable -> policy {v['policy']} ({v.get('coin_flips', 0)} coin flips, "
        f"{v.get('failed_as_draws', 0)} draws, {v.get('dropped', 0)} dropped)"
    )
    if v.get("failures"):
        console.print("unreadable by reason: " + ", ".join(f"{k} {n}" for k, n in v["failures"].items()))
    if v.get("first_position_rate") is not None:
        console.print(f"verdicts for the first position {pct(v['first_position_rate'])}%")
    console.print(f"* = the schedule's headline selector ({summary['primary']})")

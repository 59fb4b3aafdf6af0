#!/usr/bin/env python
"""Best-of-N accuracy vs judge calls of tournament schedules, with a synthetic judge of known accuracy.

Two candidate models (each problem N candidates, ``--model``):

* ``iid`` — every candidate correct with probability 0.82 (the published Qwen2.5-Math-7B-Instruct MATH samples'
  rate; REFERENCE.md); correct candidates share the reference answer, every wrong one has an answer of its own
  (the least grouping wrong answers can have);
* ``hetero`` — each problem its own correct rate r ~ Beta(a = 1.64, b = 0.36) (mean a / (a + b) = 0.82; skewed:
  most problems are easy, a long tail is hard, 10 % have r < 0.37), and wrong answers share three distractor values
  drawn with probabilities 0.6 / 0.25 / 0.15, as real samples' wrong answers do, so a wrong answer can outnumber the
  right one.

Synthetic judge of accuracy p: when exactly one of the two candidates is correct it picks that one with probability
p, otherwise either with probability 1/2; no position bias (``--first-bias`` adds one) — the model of the scripted
driver ``scripted:accuracy:P`` on candidates marked GOOD.

The bench drives the REAL schedule generators (rrm_eval.protocols), turns each simulated verdict into a judge record
and scores them with the real rival table / replay / rating / best-of-N code (rrm_eval.scoring); only the model call
is simulated. ``--engine scripted`` runs the full pipeline (prompts, scripted driver, journal) on fewer problems.

Tables give mean judge calls per problem (the max in brackets) and best-of-N accuracy; the ``targets`` lines name the
cheapest schedule at least as accurate as round-robin Elo, and the ``answer duel`` lines give that schedule's calls
mean / max, accuracy with a 95 % interval and its paired difference from round robin on the same problems.

    python bench/bench_tournament.py                 # accuracy-vs-calls tables, N = 8 and 32 (~25 min, 2 cores)
    python bench/bench_tournament.py --quick         # a smoke test (~1 min)
    python bench/bench_tournament.py --model iid --n 8 --p 0.7 --first-bias 0.3
    python bench/bench_tournament.py --engine scripted --sets 100 --n 8
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rrm_eval._seeding import stable_rng, stable_seed
from rrm_eval.protocols import SCHEDULES, AdvanceLog, GamePlan, TournamentConfig
from rrm_eval.protocols._tournament import replay_pick
from rrm_eval.scoring import best_of_n, rate_set, rival_rows
from rrm_eval.tasks import Candidate, CandidateSet

CORRECT_RATE = 0.82
#: Beta(a, b) of the per-problem correct rate in the heterogeneous model: mean a / (a + b) = 0.82.
BETA_A, BETA_B = 1.64, 0.36
#: Distractor values' probabilities among a hetero problem's wrong answers.
DISTRACTORS = (0.6, 0.25, 0.15)
MODELS = ("iid", "hetero")


@dataclass(frozen=True)
class Scheme:
    name: str
    config: TournamentConfig
    selector: str


def schemes(n: int, quick: bool = False) -> list[Scheme]:
    k = n - 1
    budgets = (3, 5, 7) if n <= 8 else (15, 31, 62)
    out = [
        Scheme("round robin (published)", TournamentConfig("round-robin"), "elo"),
        Scheme("knockout", TournamentConfig("knockout"), "knockout"),
        Scheme("knockout, best of 3", TournamentConfig("knockout", games=3), "knockout"),
        Scheme("adaptive knockout", TournamentConfig("adaptive-knockout", budget=2 * k), "champion"),
        Scheme("answer knockout", TournamentConfig("answer-knockout"), "champion"),
        Scheme("answer knockout, best of 3", TournamentConfig("answer-knockout", games=3), "champion"),
    ]
    out.append(
        Scheme(
            f"answer adaptive, budget {budgets[-1]}",
            TournamentConfig("answer-adaptive", budget=budgets[-1]),
            "champion",
        )
    )
    out += [
        Scheme(
            f"answer adaptive, lead prior, budget {b}",
            TournamentConfig("answer-adaptive", budget=b, prior="lead"),
            "champion",
        )
        for b in budgets
    ]
    # The answer duel capped at the call target (then it is a hard maximum) and above it (then the target
    # applies to the mean: easy problems stop early and leave calls for contested ones). N = 32's hard problems need
    # long duels at p = 0.6, so its larger caps also stop at a higher confidence.
    target = 7 if n <= 8 else n * (n - 1) // 2 // 8
    duels = [(target, None), (2 * target, None)] if n <= 8 else [(target, None), (2 * target, 0.99), (4 * target, 0.99)]
    out += [
        Scheme(
            f"answer duel, cap {cap}" + (f", confidence {conf}" if conf else ""),
            TournamentConfig("answer-duel", budget=cap, confidence=conf),
            "champion",
        )
        for cap, conf in duels
    ]
    return out


def synthetic_sets(
    count: int, n: int, seed: int, model: str = "iid", marked: bool = False, correct_rate: float = CORRECT_RATE
) -> list[CandidateSet]:
    out = []
    for i in range(count):
        rng = stable_rng("bench-set", seed, model, n, i)
        rate = rng.betavariate(BETA_A, BETA_B) if model == "hetero" else correct_rate
        cands = []
        for k in range(n):
            ok = rng.random() < rate
            if ok:
                answer = "42"
            elif model == "hetero":
                answer = str(rng.choices((7, 9, 11), DISTRACTORS)[0])
            else:
                answer = str(100 + k)  # a value no other candidate has
            text = f"Solution {k} of problem {i}." + (" GOOD" if ok and marked else "")
            cands.append(Candidate(f"c{k}", text, answer, ok))
        out.append(CandidateSet(f"q{i}", f"Problem {i}", tuple(cands), "42"))
    return out


def simulate_records(
    cs: CandidateSet, cfg: TournamentConfig, p: float, seed: int, first_bias: float = 0.0, log: AdvanceLog | None = None
) -> list[dict[str, Any]]:
    """Play one set's schedule against the synthetic judge; return judge-record dicts (as the journal holds), and
    put the schedule's match decisions into ``log`` (as the journal's advance records)."""
    correct = {c.id: bool(c.correct) for c in cs.candidates}
    planner = SCHEDULES.get(cfg.schedule).planner(cs, cfg, log if log is not None else [])
    records: list[dict[str, Any]] = []
    try:
        plans: list[GamePlan] = next(planner)
        while True:
            outcomes = {}
            for g in plans:
                rng = random.Random(stable_seed("bench-judge", seed, p, g.key))
                if rng.random() < first_bias:
                    winner = g.first
                elif correct[g.first] != correct[g.second]:
                    right = g.first if correct[g.first] else g.second
                    wrong = g.second if right == g.first else g.first
                    winner = right if rng.random() < p else wrong
                else:
                    winner = g.first if rng.random() < 0.5 else g.second
                outcomes[g.key] = winner
                meta = {"set": cs.id, "phase": g.phase, "round": g.round, "game": g.game, "x": g.x, "y": g.y}
                meta.update(first=g.first, second=g.second)
                verdict = 1 if winner == g.first else 2
                records.append({"key": g.key, "item_id": g.match_id, "verdict": verdict, "meta": meta})
            plans = planner.send(outcomes)
    except StopIteration:
        return records


def run_sim(sets: list[CandidateSet], scheme: Scheme, p: float, seed: int, first_bias: float = 0.0) -> dict[str, Any]:
    cfg = replace(scheme.config, seed=seed)
    log: AdvanceLog = []
    records = [r for cs in sets for r in simulate_records(cs, cfg, p, seed, first_bias, log)]
    rows = rival_rows(records, sets, seed, {a.item_id: a.winner for a in log})
    by_set: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_set.setdefault(row["set_id"], []).append(row)
    picks = SCHEDULES.get(cfg.schedule).picks
    calls: dict[str, int] = dict.fromkeys((cs.id for cs in sets), 0)
    for r in records:
        calls[r["meta"]["set"]] += 1
    per_set = []
    for cs in sets:
        mine = by_set.get(cs.id, [])
        # the champion as the pipeline gets it: the schedule replayed over the rival table
        pick = {"champion": replay_pick(cs, cfg, {r["key"]: r["winner"] for r in mine})} if picks else None
        per_set.append(rate_set(cs, mine, "coin", seed, picks=pick))
    summary = best_of_n(sets, per_set, rows, "coin", bootstrap=0, seed=seed)
    summary["bench"] = {
        "max_calls": max(calls.values(), default=0),
        "correct": [bool(ps["correct"][scheme.selector]) for ps in per_set],  # per problem, for paired comparisons
    }
    return summary


def run_scripted(
    sets: list[CandidateSet], scheme: Scheme, p: float, seed: int, first_bias: float = 0.0
) -> dict[str, Any]:
    if first_bias:
        raise SystemExit("--first-bias is simulated only (the scripted driver has no position bias)")
    from rrm_eval import TournamentRunConfig, run_tournament_eval
    from rrm_eval.tasks import write_candidate_sets

    with tempfile.TemporaryDirectory() as tmp:
        data = write_candidate_sets(Path(tmp) / "sets.jsonl", sets)
        cfg = TournamentRunConfig(
            model=f"scripted:accuracy:{p}",
            judge="rrm",
            candidates=(str(data),),
            protocol=replace(scheme.config, seed=seed),
            bootstrap=0,
            run_dir=str(Path(tmp) / "run"),
        )
        return run_tournament_eval(cfg).summary


def _paired(a: list[bool] | None, b: list[bool] | None) -> str:
    """Accuracy difference a - b (points) on the same problems with a 95 % normal interval of the paired differences."""
    if not a or not b or len(a) != len(b):
        return ""
    d = [float(x) - float(y) for x, y in zip(a, b, strict=True)]
    mean = sum(d) / len(d)
    sd = math.sqrt(sum((v - mean) ** 2 for v in d) / max(1, len(d) - 1))
    return f", vs round robin {100 * mean:+.2f} ± {100 * 1.96 * sd / math.sqrt(len(d)):.2f} points (paired)"


def _duel_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Per (model, N, p) and answer-duel cap: calls mean / max and accuracy with its 95 % interval, against round
    robin's, and whether the cell meets the issue's target (accuracy >= round robin's with mean calls <= the target,
    and with every problem's calls <= the target)."""
    lines = []
    for model, n, p in sorted({(r["model"], r["n"], r["p"]) for r in rows}):
        cell = [r for r in rows if (r["model"], r["n"], r["p"]) == (model, n, p)]
        rr = next(r for r in cell if r["scheme"].startswith("round robin"))
        limit = 7 if n <= 8 else n * (n - 1) // 2 / 8
        for r in cell:
            if not r["scheme"].startswith("answer duel"):
                continue
            good = r["accuracy"] >= rr["accuracy"]
            met = "mean: " + ("met" if good and r["calls_per_set"] <= limit else "NOT met")
            met += ", max: " + ("met" if good and 0 <= r["max_calls"] <= limit else "NOT met")
            most = r["max_calls"] if r["max_calls"] >= 0 else "?"  # the scripted engine does not measure it
            lines.append(
                f"{model:<7} N={n:<3} p={p:<4} {r['scheme']:<37} calls mean {r['calls_per_set']:6.2f} max {most:>4}"
                f"  acc {100 * r['accuracy']:6.2f} ± {196 * r['se']:.2f}  round robin"
                f" {100 * rr['accuracy']:6.2f} ± {196 * rr['se']:.2f}{_paired(r.get('correct'), rr.get('correct'))}"
                f"  [{met}]"
            )
    return lines


def _targets(rows: list[dict[str, Any]]) -> list[str]:
    """Per (model, N, p): the cheapest scheme (by calls per problem) at or above round robin's accuracy, and whether
    it is within the issue's call target (7 for N = 8, 496 / 8 = 62 for N = 32; mean calls per problem)."""
    lines = []
    cells = sorted({(r["model"], r["n"], r["p"]) for r in rows})
    for model, n, p in cells:
        cell = [r for r in rows if (r["model"], r["n"], r["p"]) == (model, n, p)]
        rr = next(r for r in cell if r["scheme"].startswith("round robin"))
        limit = 7 if n <= 8 else n * (n - 1) // 2 / 8
        ok = [r for r in cell if r["accuracy"] >= rr["accuracy"] and not r["scheme"].startswith("round robin")]
        best = min(ok, key=lambda r: r["calls_per_set"], default=None)
        within = best is not None and best["calls_per_set"] <= limit
        what = (
            "none"
            if best is None
            else f"{best['scheme']} ({best['calls_per_set']:.2f} calls, {100 * best['accuracy']:.2f} %)"
        )
        lines.append(
            f"{model:<7} N={n:<3} p={p:<4} round robin {100 * rr['accuracy']:.2f} % at {rr['calls_per_set']:.0f} calls;"
            f" cheapest at least as good: {what}  [target <= {limit:g}: {'met' if within else 'NOT met'}]"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="best-of-N accuracy vs judge calls of tournament schedules")
    ap.add_argument("--n", type=int, nargs="+", default=[8, 32], help="candidates per problem (default 8 32)")
    ap.add_argument("--p", type=float, nargs="+", default=[0.6, 0.7, 0.8, 0.9], help="judge accuracies")
    ap.add_argument("--model", choices=MODELS, nargs="+", default=list(MODELS), help="candidate models")
    ap.add_argument("--sets", type=int, help="problems per cell (default 1500 for N<=8, 250 above)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--correct-rate", type=float, default=CORRECT_RATE, help="iid model: P(candidate correct)")
    ap.add_argument("--engine", choices=("sim", "scripted"), default="sim")
    ap.add_argument("--first-bias", type=float, default=0.0, help="P(the judge just picks the first response)")
    ap.add_argument("--quick", action="store_true", help="a smoke test: an eighth of the problems, p 0.6 and 0.9")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    rows_out: list[dict[str, Any]] = []
    ps = [0.6, 0.9] if args.quick and args.p == [0.6, 0.7, 0.8, 0.9] else args.p
    print(f"engine={args.engine}  first-bias={args.first_bias}  seed={args.seed}  Beta({BETA_A}, {BETA_B})")
    for model in args.model:
        for n in args.n:
            count = args.sets or (1500 if n <= 8 else 250)
            count = max(20, count // 8) if args.quick else count
            sets = synthetic_sets(count, n, args.seed, model, args.engine == "scripted", args.correct_rate)
            oracle = sum(any(c.correct for c in cs.candidates) for cs in sets) / count
            single = sum(sum(bool(c.correct) for c in cs.candidates) / n for cs in sets) / count
            print(f"\nmodel={model} N={n}: {count} problems; oracle {100 * oracle:.2f}%, single {100 * single:.2f}%")
            table: dict[str, dict[float, tuple[float, float]]] = {}
            majority: dict[float, float] = {}
            for p in ps:
                for scheme in schemes(n):
                    t0 = time.perf_counter()
                    run = run_sim if args.engine == "sim" else run_scripted
                    s = run(sets, scheme, p, args.seed, args.first_bias)
                    calls = s["spend"]["judge_calls_per_set"]
                    acc = s["accuracy"][scheme.selector]["accuracy"]
                    majority[p] = s["accuracy"]["majority"]["accuracy"]
                    bench = s.get("bench") or {}
                    most = int(bench.get("max_calls", -1))  # -1: not measured (the scripted engine)
                    table.setdefault(scheme.name, {})[p] = (calls, most, acc)
                    se = math.sqrt(acc * (1 - acc) / count)
                    rows_out.append(
                        dict(model=model, n=n, p=p, scheme=scheme.name, selector=scheme.selector, calls_per_set=calls,
                             max_calls=most, accuracy=acc, se=se, problems=count, seconds=time.perf_counter() - t0,
                             correct=bench.get("correct"))
                    )  # fmt: skip
            head = " | ".join(f"p={p}: calls (max), acc %" for p in ps)
            print(f"| schedule | {head} |")
            for name, cells in table.items():
                cols = [f"{c:.2f} ({m if m >= 0 else '?'}), {100 * a:.2f}" for c, m, a in (cells[p] for p in ps)]
                print(f"| {name} | " + " | ".join(cols) + " |")
            print("| majority vote (no judge) | " + " | ".join(f"0, {100 * majority[p]:.2f}" for p in ps) + " |")
            sys.stdout.flush()
    print("\ntargets (calls are the mean per problem; accuracy ± its 95 % interval):")
    for line in _targets(rows_out):
        print(line)
    print("\nanswer duel:")
    for line in _duel_lines(rows_out):
        print(line)
    if args.json:
        out = [{k: v for k, v in r.items() if k != "correct"} for r in rows_out]
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Best-of-N accuracy vs judge calls for tournament schedules, with a synthetic judge of known accuracy.

Synthetic candidate sets: N candidates per problem, each correct with probability 0.82 (the published
Qwen2.5-Math-7B-Instruct MATH samples' rate; REFERENCE.md). Synthetic judge of accuracy p: when exactly one of the two
candidates is correct it picks that one with probability p, otherwise it picks either with probability 1/2, and it
has no position bias — the same model as the scripted driver ``scripted:accuracy:P`` on candidates marked GOOD.

The bench drives the REAL schedule generators (rrm_eval.protocols), turns each simulated verdict into a judge
record, and scores them with the real rival table / rating / best-of-N code (rrm_eval.scoring); only the model call
is simulated. ``--engine scripted`` instead runs the full pipeline (prompts, scripted driver, journal) end to end on
fewer problems, as a cross-check.

    python bench/bench_tournament.py                 # the full table (~13 min on 2 busy cores)
    python bench/bench_tournament.py --quick         # fewer problems
    python bench/bench_tournament.py --correct-rate 0.3 --sets 1000   # hard problems: selection matters more
    python bench/bench_tournament.py --first-bias 0.3 --n 8          # a judge with position bias
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rrm_eval._seeding import stable_rng, stable_seed
from rrm_eval.protocols import SCHEDULES, AdvanceLog, GamePlan, TournamentConfig
from rrm_eval.scoring import best_of_n, rate_set, rival_rows
from rrm_eval.tasks import Candidate, CandidateSet

CORRECT_RATE = 0.82


@dataclass(frozen=True)
class Scheme:
    name: str
    config: TournamentConfig
    selectors: tuple[str, ...]


def schemes(n: int) -> list[Scheme]:
    log2n = math.ceil(math.log2(n))
    return [
        Scheme("round-robin", TournamentConfig("round-robin", games=1), ("elo", "bradley-terry", "wins")),
        Scheme("round-robin, both orders", TournamentConfig("round-robin", games=2), ("elo", "bradley-terry")),
        Scheme("knockout", TournamentConfig("knockout", games=1), ("knockout",)),
        Scheme("knockout, both orders", TournamentConfig("knockout", games=2), ("knockout",)),
        Scheme("knockout, best of 3", TournamentConfig("knockout", games=3), ("knockout",)),
        Scheme("knockout, best of 5", TournamentConfig("knockout", games=5), ("knockout",)),
        Scheme("knockout -> round robin of 4", TournamentConfig("knockout", final_size=4), ("knockout",)),
        Scheme(f"swiss {log2n} rounds", TournamentConfig("swiss", rounds=log2n), ("bradley-terry", "wins")),
        Scheme(f"swiss {log2n + 2} rounds", TournamentConfig("swiss", rounds=log2n + 2), ("bradley-terry", "wins")),
        Scheme(f"swiss {2 * log2n} rounds", TournamentConfig("swiss", rounds=2 * log2n), ("bradley-terry", "wins")),
    ]


def synthetic_sets(
    count: int, n: int, seed: int, marked: bool = False, correct_rate: float = CORRECT_RATE
) -> list[CandidateSet]:
    out = []
    for i in range(count):
        rng = stable_rng("bench-set", seed, n, i)
        cands = []
        for k in range(n):
            ok = rng.random() < correct_rate
            text = f"Solution {k} of problem {i}." + (" GOOD" if ok and marked else "")
            # answer None: majority vote is not what this bench measures (and would call math-verify per pair)
            cands.append(Candidate(f"c{k}", text, None, ok))
        out.append(CandidateSet(f"q{i}", f"Problem {i}", tuple(cands), None))
    return out


def simulate_records(
    cs: CandidateSet, cfg: TournamentConfig, p: float, seed: int, first_bias: float = 0.0, log: AdvanceLog | None = None
) -> list[dict[str, Any]]:
    """Play one set's schedule against the synthetic judge; return judge-record dicts (as the journal holds), and
    put the schedule's match decisions into ``log`` (as the journal's advance records).
    ``first_bias``: probability that the judge picks the response shown first whatever it says."""
    correct = {c.id: bool(c.correct) for c in cs.candidates}
    planner = SCHEDULES.get(cfg.schedule).planner(cs, cfg, log if log is not None else [])
    records: list[dict[str, Any]] = []
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
        try:
            plans = planner.send(outcomes)
        except StopIteration:
            return records


def run_sim(sets: list[CandidateSet], scheme: Scheme, p: float, seed: int, first_bias: float = 0.0) -> dict[str, Any]:
    cfg = TournamentConfig(**{**scheme.config.__dict__, "seed": seed})
    log: AdvanceLog = []
    records = [r for cs in sets for r in simulate_records(cs, cfg, p, seed, first_bias, log)]
    rows = rival_rows(records, sets, seed, {a.item_id: a.winner for a in log})
    by_set: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_set.setdefault(row["set_id"], []).append(row)
    per_set = [rate_set(cs, by_set.get(cs.id, []), "coin", seed) for cs in sets]
    return best_of_n(sets, per_set, rows, "coin", bootstrap=0, seed=seed)


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
            protocol=TournamentConfig(**{**scheme.config.__dict__, "seed": seed}),
            bootstrap=0,
            run_dir=str(Path(tmp) / "run"),
        )
        return run_tournament_eval(cfg).summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="best-of-N accuracy vs judge calls of tournament schedules")
    ap.add_argument("--n", type=int, nargs="+", default=[8, 32], help="candidates per problem (default 8 32)")
    ap.add_argument("--p", type=float, nargs="+", default=[0.7, 0.8, 0.9], help="judge accuracies")
    ap.add_argument("--sets", type=int, help="problems per cell (default 2000 for N<=8, 500 above)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--correct-rate", type=float, default=CORRECT_RATE, help="P(candidate correct) (default 0.82, as published)"
    )
    ap.add_argument("--engine", choices=("sim", "scripted"), default="sim")
    ap.add_argument(
        "--first-bias", type=float, default=0.0, help="P(the judge just picks the first response) (default 0)"
    )
    ap.add_argument("--quick", action="store_true", help="a quarter of the problems")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    rows_out = []
    print(f"engine={args.engine}  correct-rate={args.correct_rate}  first-bias={args.first_bias}  seed={args.seed}")
    header = f"{'N':>3} {'p':>4}  {'scheme':<30} {'selector':<14} {'calls/set':>9} {'acc %':>7} {'±se':>5}"
    for n in args.n:
        count = args.sets or (2000 if n <= 8 else 500)
        count = max(20, count // 4) if args.quick else count
        sets = synthetic_sets(count, n, args.seed, args.engine == "scripted", args.correct_rate)
        oracle = sum(any(c.correct for c in cs.candidates) for cs in sets) / count
        single = sum(sum(bool(c.correct) for c in cs.candidates) / n for cs in sets) / count
        print(f"\nN={n}: {count} problems; oracle {100 * oracle:.2f}%, single sample {100 * single:.2f}%")
        print(header)
        for p in args.p:
            for scheme in schemes(n):
                t0 = time.perf_counter()
                run = run_sim if args.engine == "sim" else run_scripted
                s = run(sets, scheme, p, args.seed, args.first_bias)
                secs = time.perf_counter() - t0
                calls = s["spend"]["judge_calls_per_set"]
                for sel in scheme.selectors:
                    acc = s["accuracy"][sel]["accuracy"]
                    se = math.sqrt(acc * (1 - acc) / count)
                    print(
                        f"{n:>3} {p:>4}  {scheme.name:<30} {sel:<14} {calls:>9.1f} {100 * acc:>7.2f} {100 * se:>5.2f}"
                    )
                    rows_out.append(
                        dict(
                            n=n,
                            p=p,
                            scheme=scheme.name,
                            selector=sel,
                            calls_per_set=calls,
                            accuracy=acc,
                            se=se,
                            problems=count,
                            seconds=secs,
                        )
                    )
                sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps(rows_out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

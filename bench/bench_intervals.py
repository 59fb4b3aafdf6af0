"""Overhead of bootstrap intervals: one run's intervals and a paired comparison, on synthetic RewardBench runs.

Items are spread over the 23 RewardBench subsets in their real proportions and score 1, 0.5 or 0 (as a judge under
the ``tie`` policy does), so the aggregation is RewardBench's own section weighting. Target (issue 10): well under a
second for a 3,000-item run with 1,000 resamples.

    python bench/bench_intervals.py [--items 3000 30000] [--resamples 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from rrm_eval.scoring import ItemScore, bootstrap_intervals, paired_bootstrap
from rrm_eval.tasks import get_task
from rrm_eval.tasks._rewardbench import SUBSET_COUNTS


def synthetic_run(n: int, accuracy: float, seed: int) -> dict[str, ItemScore]:
    rng = random.Random(seed)
    subsets = [s for s, c in SUBSET_COUNTS.items() for _ in range(c)]
    out = {}
    for k in range(n):
        u = rng.random()
        score = 1.0 if u < accuracy else 0.5 if u < accuracy + 0.05 else 0.0
        out[str(k)] = ItemScore(str(k), subsets[k % len(subsets)], score, {"AB": score}, False, None)
    return out


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, nargs="+", default=[3000, 30000])
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    task = get_task("rewardbench")
    print(f"resamples={args.resamples}, best of {args.repeat}")
    for n in args.items:
        a, b = synthetic_run(n, 0.70, 1), synthetic_run(n, 0.75, 2)
        one = best_of(args.repeat, partial(bootstrap_intervals, a, task.summarize, args.resamples, seed=0))
        two = best_of(args.repeat, partial(paired_bootstrap, a, b, task.summarize, args.resamples, seed=0))
        iv = bootstrap_intervals(a, task.summarize, args.resamples, seed=0)
        lo, hi = iv.scores["overall"]
        print(f"{n:>7,} items: intervals {1000 * one:7.1f} ms   paired comparison {1000 * two:7.1f} ms")
        print(f"{'':>14} overall 95% CI [{100 * lo:.2f}, {100 * hi:.2f}] (width {100 * (hi - lo):.2f} points)")


if __name__ == "__main__":
    main()

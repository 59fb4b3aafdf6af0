"""Harness overhead of RewardBench 2 bootstrap intervals: 1,000 resamples of a synthetic 3,000-item run shaped like
the real test split (five best-of-4 subsets, 90 Ties prompt ids with a ref and a tied row each), one run and paired.

    .venv/bin/python bench/bench_rb2_intervals.py
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from rrm_eval.scoring._intervals import paired_bootstrap_sums
from rrm_eval.scoring._rewardbench2 import RB2Scores, rb2_intervals, rb2_statistic, scored_features, ties_units

SIZES = {"Factuality": 760, "Precise IF": 260, "Math": 290, "Safety": 720, "Focus": 790}  # + 180 Ties rows = 3,000
SCORES = [0.0, 1.0, 1.0, 0.25, 0.5, 1 / 3]  # what listwise / ratings items score (ties share credit)


def synthetic(seed: int) -> RB2Scores:
    rng = random.Random(seed)
    out = RB2Scores()
    for subset, n in SIZES.items():
        out.item_scores[subset] = {f"{subset}-{k}": rng.choice(SCORES) for k in range(n)}
        out.units[subset] = list(out.item_scores[subset].values())
    for pid in range(90):
        out.ties_rows[f"ref:{pid}"] = ([rng.randint(1, 10) for _ in range(5)], 1)
        out.ties_rows[f"tied:{pid}"] = ([rng.randint(1, 10) for _ in range(12)], 3)
    out.units["Ties"] = list(ties_units(out.ties_rows))
    return out


def timed(fn: Callable[[], object], reps: int = 20) -> float:
    fn()  # warm up
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def main() -> None:
    a, b = synthetic(1), synthetic(2)
    (fa, ids), (fb, _) = scored_features(a), scored_features(b)
    n = len(ids)
    one = timed(lambda: rb2_intervals(a, 1000, seed=0, content=("rewardbench2",)))
    paired = timed(lambda: paired_bootstrap_sums(fa, fb, rb2_statistic, ids, 1000))
    print(f"one run:  {n} items, 1000 resamples: {1000 * one:.1f} ms")
    print(f"paired:   {n} items, 1000 resamples: {1000 * paired:.1f} ms")


if __name__ == "__main__":
    main()

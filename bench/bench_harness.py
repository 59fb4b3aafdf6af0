"""Harness overhead: judge records per second through render -> generate (scripted) -> parse -> journal -> score.

The scripted backend answers instantly, so this measures everything rrm-eval itself does per judge call. Target
(issue 2): >= 2,000 records/s on a 2-core machine, so the harness is never the bottleneck.

    python bench/bench_harness.py [--items 5000] [--votes 4] [--judge rrm]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rrm_eval import build_summary
from rrm_eval.judges import load_judge
from rrm_eval.models import load_model
from rrm_eval.protocols import PairwiseConfig, run_pairwise
from rrm_eval.runs import Run
from rrm_eval.tasks import PairwiseItem, TaskOptions, get_task


def synthetic_items(n: int, base: list[PairwiseItem]) -> list[PairwiseItem]:
    """n items cycling through real RewardBench rows (real prompt lengths), with unique ids."""
    return [
        PairwiseItem(f"{k}-{b.id}", b.subset, b.prompt, b.chosen, b.rejected)
        for k in range((n + len(base) - 1) // len(base))
        for b in base
    ][:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--votes", type=int, default=4)
    ap.add_argument("--judge", default="rrm")
    ap.add_argument("--order", default="both")
    args = ap.parse_args()
    task = get_task("rewardbench-sample")
    items = synthetic_items(args.items, task.load(TaskOptions()).items)
    judge = load_judge(args.judge)
    model = load_model("scripted:random")
    cfg = PairwiseConfig(order=args.order, votes=args.votes, seed=0)
    with tempfile.TemporaryDirectory() as tmp, Run(Path(tmp) / "run", {"fingerprint": "bench"}, model=model) as run:
        t0 = time.perf_counter()
        written = run_pairwise(items, judge, run, cfg)
        t1 = time.perf_counter()
        records = run.records(drop=("prompt", "raw"), kind="judge")
        summary = build_summary(records, task, "tie")
        t2 = time.perf_counter()
        size = run.journal.records_path.stat().st_size
    total = t2 - t0
    print(f"judge={args.judge} order={args.order} votes={args.votes} items={len(items)}")
    print(f"records written:            {written}")
    print(f"render+parse+journal:       {t1 - t0:.2f} s  ({written / (t1 - t0):,.0f} records/s)")
    print(f"reload+score:               {t2 - t1:.2f} s  ({written / (t2 - t1):,.0f} records/s)")
    print(f"end to end:                 {written / total:,.0f} records/s  (target >= 2,000)")
    print(f"records.jsonl size:         {size / 1e6:.1f} MB ({size / written:,.0f} bytes/record, prompts included)")
    print(f"overall score (random judge): {100 * summary['scores']['overall']:.2f}")


if __name__ == "__main__":
    main()

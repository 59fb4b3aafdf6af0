#!/usr/bin/env python
"""Ray scale-out: judging throughput vs number of workers, and the coordinator's own overhead per record.

The engine is the scripted driver with a fixed per-call latency (``--model-opt delay=SECONDS``: it sleeps that long
per request, as an engine busy on its own device would), so the ideal is exactly linear: W workers make W times the
calls per second of one. The run is the real pairwise pipeline (``evaluate_pairwise``: planning, prompts, journal,
scoring) on the bundled RewardBench sample, both orders, on a local Ray cluster on 127.0.0.1; the workers are
started before the clock starts (engine start-up is not judging throughput). Records are checked byte-identical
across worker counts.

The overhead row runs with no latency at all (delay 0): every second spent is the coordinator's (planning, sending
chunks, receiving results, writing the journal, scoring) or Ray's, divided by the records written.

    python bench/bench_ray.py                       # workers 1 2 3 4, 20 ms per call (~1.5 min)
    python bench/bench_ray.py --workers 1 2 4 8 --delay 0.05
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

from rrm_eval.models import load_model
from rrm_eval.pipelines.pairwise import PairwiseRunConfig, evaluate_pairwise
from rrm_eval.protocols import PairwiseConfig

MODEL = "scripted:accuracy:0.8"


def one_run(out: Path, workers: int, delay: float, chunk: int) -> tuple[float, int, str]:
    """(seconds judging, records written, sha256 of records.jsonl) of one pairwise run on ``workers`` Ray workers
    (0: in this process, no Ray)."""
    options = {"delay": delay, "chunk_size": chunk}
    scale = {"ray": "local", "ray_workers": workers} if workers else {}  # 0 workers: one process, no Ray
    model = load_model(MODEL, **scale, **options)  # workers up before the clock starts
    try:
        cfg = PairwiseRunConfig(
            model=MODEL,
            judge="rrm",
            task="rewardbench-sample",
            protocol=PairwiseConfig(order="both"),
            model_options=options,
            output_dir=str(out),
            bootstrap=0,
        )
        t0 = time.perf_counter()
        outcome = evaluate_pairwise(cfg, model=model)
        seconds = time.perf_counter() - t0
    finally:
        model.close()
    digest = hashlib.sha256((outcome.run_dir / "records.jsonl").read_bytes()).hexdigest()[:16]
    return seconds, outcome.written, digest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--delay", type=float, default=0.02, help="seconds per judge call (default 0.02)")
    ap.add_argument("--chunk", type=int, default=16, help="calls per chunk (--model-opt chunk_size)")
    args = ap.parse_args()

    import ray

    ray.init(address="local", num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for w in args.workers:
            seconds, n, digest = one_run(Path(tmp) / f"w{w}", w, args.delay, args.chunk)
            rows.append((w, seconds, n, digest))
        over_s, over_n, _ = one_run(Path(tmp) / "overhead", 1, 0.0, args.chunk)
        alone_s, alone_n, _ = one_run(Path(tmp) / "alone", 0, 0.0, args.chunk)
    ray.shutdown()

    base = rows[0][2] / rows[0][1] / rows[0][0]  # calls/s per worker at the smallest count
    print(f"pairwise, rewardbench-sample, both orders; scripted engine {args.delay * 1000:.0f} ms/call, "
          f"chunk {args.chunk}; local Ray cluster")  # fmt: skip
    print(
        f"{'workers':>7} {'records':>7} {'seconds':>8} {'calls/s':>8} {'ideal':>8} {'efficiency':>10}  records sha256"
    )
    for w, seconds, n, digest in rows:
        rate = n / seconds
        ideal = base * w
        print(f"{w:>7} {n:>7} {seconds:>8.2f} {rate:>8.1f} {ideal:>8.1f} {rate / ideal:>10.2f}  {digest}")
    same = len({d for *_, d in rows}) == 1
    print(f"records identical across worker counts: {same}")
    print(f"coordinator overhead (delay 0, 1 worker): {over_s / over_n * 1e3:.3f} ms per record "
          f"({over_n} records in {over_s:.2f} s); the same run in one process without Ray: "
          f"{alone_s / alone_n * 1e3:.3f} ms per record")  # fmt: skip
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

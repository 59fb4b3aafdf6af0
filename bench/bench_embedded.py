"""The embedded default judge (SmolLM2-135M-Instruct, transformers on CPU) on the bundled RewardBench sample.

For each judge: pairs/s, peak RSS (target <= 2 GB) and parse-failure rate. Each judge runs in a fresh process (so the
peak RSS is that judge's alone) into a throw-away run directory.

    python bench/bench_embedded.py                          # logprob on all 441 pairs, generating judges on 24
    python bench/bench_embedded.py --judges logprob --limit 100
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

GENERATING = {"rrm": 256, "skywork-critic": 16, "mt-bench": 256}


def one(judge: str, limit: int | None, max_new: int | None, run_dir: str) -> None:
    from rrm_eval import PairwiseRunConfig, evaluate_pairwise
    from rrm_eval.protocols import PairwiseConfig
    from rrm_eval.tasks import TaskOptions

    cfg = PairwiseRunConfig(
        model="smollm2",
        judge=judge,
        task="rewardbench-sample",
        task_options=TaskOptions(limit=limit),
        protocol=PairwiseConfig(seed=0, max_new_tokens=max_new),
        run_dir=run_dir,
    )
    t0 = time.perf_counter()
    out = evaluate_pairwise(cfg)
    seconds = time.perf_counter() - t0
    rec = out.summary["records"]
    print(
        json.dumps(
            {
                "judge": judge,
                "pairs": out.summary["n_items"],
                "seconds": round(seconds, 1),
                "pairs_per_s": round(out.summary["n_items"] / seconds, 3),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "failure_rate": rec["failure_rate"],
                "failures": rec["failures"],
                "overall": out.summary["scores"].get("overall"),
                "max_new_tokens": max_new,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--judges", default="logprob,skywork-critic,mt-bench,rrm")
    ap.add_argument("--limit", type=int, help="pairs for the logprob judge (default: all 441)")
    ap.add_argument("--gen-limit", type=int, default=24, help="pairs for generating judges (default 24)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--max-new", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--run-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one(args.one, args.limit, args.max_new, args.run_dir)
        return
    # Convert the GGUF once outside the timed runs.
    subprocess.run(
        [sys.executable, "-c", "from rrm_eval.models._embedded import converted_folder; converted_folder()"], check=True
    )
    rows = []
    for judge in args.judges.split(","):
        limit = args.limit if judge == "logprob" else args.gen_limit
        cmd = [sys.executable, __file__, "--one", judge]
        if limit:
            cmd += ["--limit", str(limit)]
        if judge in GENERATING:
            cmd += ["--max-new", str(GENERATING[judge])]
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([*cmd, "--run-dir", tmp], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'judge':<15} {'pairs':>5} {'max_new':>7} {'pairs/s':>8} {'peak RSS':>9} {'fail %':>7}  failures")
    for r in rows:
        print(
            f"{r['judge']:<15} {r['pairs']:>5} {r['max_new_tokens'] or '-':>7} {r['pairs_per_s']:>8.3f} "
            f"{r['peak_rss_mb']:>6} MB {100 * r['failure_rate']:>6.1f}  {r['failures'] or ''}"
        )


if __name__ == "__main__":
    main()

"""Bench `rrm-eval report`: build the report of a 3,000-item scripted pairwise run (both orders: 6,000 judge calls,
prompts saved) and print the build time and the file size. Target (issue 11): under 10 s on the 2-core machine.

    .venv/bin/python bench/bench_report.py [--items 3000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import rrm_eval
from rrm_eval import PairwiseConfig, PairwiseRunConfig, TaskOptions
from rrm_eval.report import build_report

SUBSETS = ["alpacaeval-easy", "mt-bench-hard", "donotanswer", "math-prm", "hep-go", "refusals-dangerous", "xstest"]


def make_run(root: Path, items: int) -> Path:
    data = root / "pairs.jsonl"
    with data.open("w", encoding="utf-8") as f:
        for n in range(items):
            row = {
                "id": n,
                "subset": SUBSETS[n % len(SUBSETS)],
                "prompt": f"Question {n}: explain the thing in a few sentences. <b>markup</b>",
                "chosen": f"GOOD answer {n} " + "with some words " * 20,
                "rejected": f"poor answer {n} " + "with other words " * 20,
            }
            f.write(json.dumps(row) + "\n")
    cfg = PairwiseRunConfig(
        model="scripted:random",
        judge="skywork-critic",
        task="rewardbench",
        task_options=TaskOptions(data=str(data)),
        protocol=PairwiseConfig(order="both"),
        output_dir=str(root / "runs"),
    )
    return rrm_eval.evaluate_pairwise(cfg).run_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=3000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        run_dir = make_run(root, args.items)
        made = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = build_report([run_dir], root / "report.html")
        built = time.perf_counter() - t0
        size = out.stat().st_size
    print(f"run of {args.items} items made in {made:.1f} s (not part of the bench)")
    print(f"report built in {built:.2f} s, {size / 1e6:.2f} MB ({size} bytes)")


if __name__ == "__main__":
    main()

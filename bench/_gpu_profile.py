"""Where a lean decode step spends its time (kernel table) and how the decode-attention variants compare.

usage (device machine): python bench/_gpu_profile.py [--batch 256] [--prompt 512]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from bench_gpu_decode import build_model

from rrm_eval.models._fastpath import LeanDecoder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--steps", type=int, default=64)
    args = ap.parse_args()
    model = build_model(28)
    prompts = torch.randint(1, 150000, (args.batch, args.prompt)).tolist()
    for variant in ("sdpa", "matmul"):
        dec = LeanDecoder(model, use_graphs=True, decode_attention=variant)
        dec.generate(prompts, 1, args.steps, [], 0, True)  # warm-up + graph capture
        torch.cuda.synchronize()
        t = time.perf_counter()
        dec.generate(prompts, 1, 1, [], 0, True)
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        dec.generate(prompts, 1, args.steps, [], 0, True)
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        step = ((t2 - t1) - (t1 - t)) / (args.steps - 1)
        print(f"{variant}: prefill {t1 - t:.2f} s, step {step * 1e3:.2f} ms (graphs)", flush=True)
        dec.use_graphs = False
        st = dec._state
        with torch.inference_mode():
            dec._step(st, 640, st.eos, 0)
            torch.cuda.synchronize()
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                for _ in range(3):
                    dec._step(st, 640, st.eos, 0)
                torch.cuda.synchronize()
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=14, max_name_column_width=70))
        dec.release()


if __name__ == "__main__":
    main()

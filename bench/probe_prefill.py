#!/usr/bin/env python
"""Where the continuous engine's prefill time goes (GPU): packed prefill of newcomers vs one padded HF forward of
the same prompts, with the KV pool at its default size (92 % of free memory) and at a small fixed size, and a
torch.profiler table of one packed prefill.

    python bench/probe_prefill.py [--layers 28] [--prompts 16]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from bench_gpu_continuous import workload
from bench_gpu_decode import build_model

from rrm_eval.models._continuous import ContinuousDecoder


def timed(fn, reps: int = 3) -> float:
    fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / reps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=28)
    ap.add_argument("--prompts", type=int, default=16)
    args = ap.parse_args()
    model = build_model(args.layers)
    vocab = model.config.vocab_size
    prompts, _ = workload(args.prompts, vocab, seed=3)
    tokens = sum(map(len, prompts))
    print(f"{args.prompts} prompts, {tokens} tokens (mean {tokens / len(prompts):.0f})")

    width = max(map(len, prompts))
    ids = torch.zeros((len(prompts), width), dtype=torch.long, device="cuda")
    for i, p in enumerate(prompts):
        ids[i, : len(p)] = torch.tensor(p)
    with torch.inference_mode():
        hf = timed(lambda: model(input_ids=ids, use_cache=False, logits_to_keep=1))
    print(f"HF padded forward: {hf * 1e3:.1f} ms, {len(prompts) * width / hf:.0f} tok/s (padded), {tokens / hf:.0f}")

    limits = [1] * len(prompts)  # one new token: the call is the prefill
    seeds = list(range(len(prompts)))
    for label, kv in (("pool 92% of free", None), ("pool 1M tokens", 1 << 20)):
        dec = ContinuousDecoder(model, kv_tokens=kv)
        t = timed(lambda dec=dec: dec.run(prompts, limits, seeds, [], greedy=True, slots=256))
        free, _ = torch.cuda.mem_get_info()
        print(f"packed prefill, {label}: {t * 1e3:.1f} ms, {tokens / t:.0f} tok/s; free after {free / 2**30:.1f} GiB")
        if kv is None:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                dec.run(prompts, limits, seeds, [], greedy=True, slots=256)
                torch.cuda.synchronize()
            print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=14, max_name_column_width=60))
            print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10, max_name_column_width=60))
        dec.release()
        del dec
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()

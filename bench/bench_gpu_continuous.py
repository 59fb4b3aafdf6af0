"""Continuous batching against today's static lean loop on a reasoning-length workload, next to the fixed-length
figures (issue 13). Random-weight Qwen2.5-7B shape, bf16, greedy, on one GPU.

Workload (seeded, ``--seed``): prompt lengths ~ lognormal(median 750, sigma 0.45) clipped to [300, 2000] tokens
(RewardBench-like judge prompts); output lengths ~ lognormal(median 1200, sigma 0.8) clipped to [64, 8192]. The
model has no EOS (random weights), so each request's length is forced through the engine's own per-request limit
(``ContinuousDecoder.run(..., limits=...)``), which ends a row exactly as an EOS at that index would.

Static path (today's ``LeanDecoder.generate``): requests sorted by prompt length (as the driver does), batches of
``min(cap, rows that fit prompt + 8192)``, each batch decoding until its longest row ends (its loop checks every 32
steps). Running those batches for real would take most of the device budget (each runs ~7k steps), so its time is
built from measured pieces: prefill of the first batch (scaled by padded tokens for the others) and the graph step
time at four attention spans (an affine fit in span), summed over each batch's real spans. Continuous runs are timed
end to end.

Floor (per cap B): prefill = (2 x params x prompt tokens + 2 x L^2 x layers x hidden per prompt) / bf16 rate;
decode = (decode tokens / B) steps, each max((weights + B x mean context x KV bytes) / bandwidth,
(2 x params x B + 4 x B x mean context x layers x heads x head_dim) / rate), mean context over every decoded token.

Breakdown (``ContinuousStats.breakdown``), up to the drain and for the whole run: prefill seconds and tokens,
decode seconds and steps, host seconds (run minus both; admission and page reservation shown apart), windows and
newcomers per admission. ``--until-drained`` stops a run when its queue empties (the steady state alone);
``--probe-steady`` then times the decode step at that state, with and without attention, the paged kernel per split
count, and a packed prefill in place. The steady figures are also given against a work-matched floor (every prompt's
prefill plus the decode tokens made by the drain) and whole runs against a schedule floor (no cap-B schedule takes
fewer than max(decode tokens / B, longest output) steps, each reading the weights).

usage (device machine): python bench/bench_gpu_continuous.py [--caps 64,128,256] [--per-cap 3] [--skip-fixed]
       CPU smoke test:   python bench/bench_gpu_continuous.py --tiny --caps 8 --per-cap 2 --until-drained --probe-steady
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import transformers
from bench_gpu_decode import build_model, floors, measure_bandwidth, measure_bf16_rate

from rrm_eval.models._continuous import ContinuousDecoder
from rrm_eval.models._continuous_attention import PagedAttention, packed_prefill_attention, reference_attention

CAP = 8192


def workload(count: int, vocab: int, seed: int) -> tuple[list[list[int]], list[int]]:
    rng = random.Random(f"bench-continuous-{seed}")
    prompts, limits = [], []
    for _ in range(count):
        lp = int(min(2000, max(300, rng.lognormvariate(math.log(750), 0.45))))
        prompts.append([rng.randrange(1, vocab) for _ in range(lp)])
        limits.append(int(min(CAP, max(64, rng.lognormvariate(math.log(1200), 0.8)))))
    return prompts, limits


def realistic_floor(model, prompts, limits, cap: int, bw: float, rate: float) -> dict:
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    kvb = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * head_dim * 2
    prefill_s = sum(2 * params * len(p) + 2 * len(p) ** 2 * cfg.num_hidden_layers * cfg.hidden_size for p in prompts)
    prefill_s /= rate
    dec_tokens = sum(lim - 1 for lim in limits)
    ctx = sum((lim - 1) * len(p) + lim * (lim - 1) / 2 for p, lim in zip(prompts, limits, strict=True)) / dec_tokens
    mem = (2 * params + cap * ctx * kvb) / bw
    cmp = (2 * params * cap + 4 * cap * ctx * cfg.num_hidden_layers * cfg.num_attention_heads * head_dim) / rate
    step = max(mem, cmp)
    total = prefill_s + dec_tokens / cap * step
    # With a cap of B slots no schedule takes fewer than max(decode tokens / B, longest output) steps, and each step
    # reads the weights once: the same floor with that step count in the weights term (the tail of one long row).
    steps = max(dec_tokens / cap, max(limits) - 1)
    sched_mem = (steps * 2 * params + dec_tokens * ctx * kvb) / bw
    sched = prefill_s + max(sched_mem, dec_tokens / cap * cmp)
    return {
        "floor_s": total,
        "floor_tok_s": sum(limits) / total,
        "step_floor_ms": step * 1e3,
        "mean_ctx": ctx,
        "prefill_floor_s": prefill_s,
        "sched_floor_s": sched,
        "sched_floor_tok_s": sum(limits) / sched,
    }


class _Drained(Exception):
    pass


class SteadyDecoder(ContinuousDecoder):
    """The engine unchanged, except that ``run`` can stop (``stop_at_drain``) at the first admission after the queue
    emptied, i.e. after the drain snapshot and one window: the steady state alone, without the long tail."""

    stop_at_drain = False

    def _admit(self, lp) -> None:  # type: ignore[no-untyped-def]
        if self.stop_at_drain and not lp.pending and lp.stats.drained_s:
            raise _Drained
        super()._admit(lp)


def _attention(dec: ContinuousDecoder, rows: int, splits: int) -> PagedAttention:
    pa = PagedAttention(rows, dec.n_kv, dec.group, dec.head_dim, 64, dec.device, dec.dtype)
    if splits != pa.splits:
        pa.splits = splits
        shape = (rows, dec.n_kv, splits, pa.gp)
        pa.m = torch.empty(shape, dtype=torch.float32, device=dec.device)
        pa.l = torch.empty(shape, dtype=torch.float32, device=dec.device)
        pa.o = torch.empty((*shape, dec.head_dim), dtype=torch.float32, device=dec.device)
    return pa


def steady_probe(dec: ContinuousDecoder, prompts: list[list[int]], reps: int = 16, kernels: bool = False) -> dict:
    """At the state the run stopped in (the drain): the decode step at that context mix, the same step with every
    row at length 1 (no attention), with ``kernels`` the paged attention kernel alone per split count and a kernel
    profile of a window; then one packed prefill of 16 prompts with the pool and the graph in place, repeated, and
    of 16 prompts of lengths the run never saw, without and with the length bucket."""
    from rrm_eval.models._continuous import _Request

    st = dec._slots
    assert st is not None
    res: dict = {}
    pos0 = st.pos.clone()
    lengths = (pos0 + 1).to(torch.int32)
    res["rows"] = st.rows
    res["mean_length"] = float(lengths.float().mean())
    res["kv_tokens"] = int(lengths.sum())

    def steps(start: Any, n: int) -> float:
        st.pos.copy_(start)
        st.widx.zero_()
        dec._run_decode(st)
        sync()
        st.pos.copy_(start)
        t = time.perf_counter()
        for i in range(n):
            if i % 8 == 0:
                st.widx.zero_()
            dec._run_decode(st)
        sync()
        return (time.perf_counter() - t) / n

    with torch.inference_mode():
        res["step_ms"] = 1e3 * steps(pos0, reps)
        res["step_no_attention_ms"] = 1e3 * steps(torch.zeros_like(pos0), reps)
        if kernels and st.attention is not None:
            q = torch.randn(st.rows, dec.n_kv, dec.group, dec.head_dim, device=dec.device, dtype=dec.dtype)
            kvb = res["kv_tokens"] * dec.n_kv * dec.head_dim * 2 * dec.embed.weight.element_size()
            per_split = {}
            for splits in sorted({st.attention.splits, 1, 2, 4, 8, 16, 32}):
                pa = _attention(dec, st.rows, splits)
                pa(q, dec._k_pool[0], dec._v_pool[0], st.table, lengths, dec.scaling)
                sync()
                t = time.perf_counter()
                for _ in range(20):
                    pa(q, dec._k_pool[0], dec._v_pool[0], st.table, lengths, dec.scaling)
                sync()
                dt = (time.perf_counter() - t) / 20
                per_split[splits] = {"layer_us": round(1e6 * dt, 1), "gb_s": round(kvb / dt / 1e9)}
            res["attention_default_splits"] = st.attention.splits
            res["attention_by_splits"] = per_split
            try:
                from torch.profiler import ProfilerActivity, profile

                st.pos.copy_(pos0)
                st.widx.zero_()
                with profile(activities=[ProfilerActivity.CUDA]) as prof:
                    for _ in range(8):
                        dec._run_decode(st)
                    sync()
                table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=16, max_name_column_width=70)
                print(table, flush=True)
                res["profile_window"] = table
            except Exception as exc:  # the figures above are what counts
                res["profile_window"] = f"{type(exc).__name__}: {exc}"
        # A packed prefill of 16 prompts in the run's own state (pool, graph, allocator), pages from 1 up.
        batch, owned, page = [], [], 1
        n_pool = int(dec._k_pool[0].shape[0])
        for i, p in enumerate(prompts[:16]):
            n = -(-len(p) // 64)
            owned.append([1 + x % (n_pool - 1) for x in range(page, page + n)])
            page += n
            batch.append((i, _Request(i, p, 1, 0)))
        dec._prefill_packed(st, batch, owned, True)
        sync()
        t = time.perf_counter()
        for _ in range(2):
            dec._prefill_packed(st, batch, owned, True)
        sync()
        dt = (time.perf_counter() - t) / 2
        res["prefill16_tokens"] = sum(len(r.prompt) for _, r in batch)
        res["prefill16_tok_s"] = res["prefill16_tokens"] / dt
        seen = {len(p) for p in prompts}
        unseen = iter(n for n in range(301, 2000, 23) if n not in seen)
        bucket, varlen = dec.prefill_bucket, dec._varlen
        variants = [("fresh_lengths_unpadded", 1, None), ("fresh_lengths_bucket", max(2, bucket), None)]
        if varlen is not None:
            variants.append(("fresh_lengths_varlen", 1, varlen))
        for label, b, fn in variants:
            dec.prefill_bucket, dec._varlen = b, fn
            fresh = [
                (i, _Request(i, (p * 3)[: next(unseen)], 1, 0)) for i, (_, r) in enumerate(batch) for p in [r.prompt]
            ]
            fo = [list(range(1, 1 + -(-len(r.prompt) // 64))) for _, r in fresh]
            sync()
            t = time.perf_counter()
            dec._prefill_packed(st, fresh, fo, True)
            sync()
            res[label + "_tok_s"] = sum(len(r.prompt) for _, r in fresh) / (time.perf_counter() - t)
        dec.prefill_bucket, dec._varlen = bucket, varlen
        res["prefill_attention"] = "varlen" if varlen is not None else f"per-prompt, bucket {bucket}"
    return res


def check(bw_dtype=torch.bfloat16) -> dict:
    """The Triton kernel against the torch reference, and the CUDA-graph loop against generate (float32 tiny)."""
    torch.manual_seed(0)
    rows, kv, group, d, page, pages = 37, 4, 7, 128, 64, 400
    kp = torch.randn(pages, kv, page, d, device="cuda", dtype=bw_dtype)
    vp = torch.randn_like(kp)
    q = torch.randn(rows, kv, group, d, device="cuda", dtype=bw_dtype)
    lengths = torch.randint(1, 64 * 9, (rows,), device="cuda", dtype=torch.int32)
    table = torch.stack([torch.randperm(pages)[:10] for _ in range(rows)]).to("cuda", torch.int32)
    ref = reference_attention(q.float(), kp.float(), vp.float(), table, lengths, d**-0.5)
    got = PagedAttention(rows, kv, group, d, page, "cuda", bw_dtype)(q, kp, vp, table, lengths, d**-0.5)
    kernel_err = float((got.float() - ref).abs().max())
    cfg = transformers.Qwen2Config(
        vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=1024,
    )  # fmt: skip
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()
    model.generation_config.eos_token_id = None
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(1, 512, (int(n),), generator=g).tolist() for n in torch.randint(5, 300, (11,))]
    limits = [int(n) for n in torch.randint(1, 200, (11,), generator=g)]
    dec = ContinuousDecoder(model)
    got_tok = dec.run(prompts, limits, list(range(11)), [], greedy=True, slots=4)
    again = dec.run(prompts, limits, list(range(11)), [], greedy=True, slots=4)  # replays the captured graph
    same = 0
    for p, lim, a, b in zip(prompts, limits, got_tok, again, strict=True):
        ref_tok = model.generate(
            torch.tensor([p], device="cuda"), max_new_tokens=lim, do_sample=False, eos_token_id=None, pad_token_id=0
        )[0, len(p) :].tolist()
        same += int(a == b == ref_tok)
    s_all = dec.run(prompts, limits, list(range(11)), [], greedy=False, slots=4)
    s_sub = dec.run(prompts[2:5], limits[2:5], [2, 3, 4], [], greedy=False, slots=8)
    # The packed varlen prefill attention against per-prompt causal SDPA in float32, on fresh random data.
    varlen_err: float | str = "unavailable"
    fn = packed_prefill_attention(torch, torch.device("cuda"), bw_dtype, d)
    if fn is not None:
        lens = [int(n) for n in torch.randint(1, 700, (9,))]
        cu = torch.tensor([0, *itertools.accumulate(lens)], device="cuda", dtype=torch.int32)
        heads = kv * group
        qv = torch.randn(sum(lens), heads, d, device="cuda", dtype=bw_dtype)
        kv_t = torch.randn(sum(lens), kv, d, device="cuda", dtype=bw_dtype)
        vv = torch.randn_like(kv_t)
        out = fn(qv, kv_t, vv, cu, max(lens), d**-0.5).float()
        refs = []
        for a, b in itertools.pairwise(cu.tolist()):
            qq = qv[a:b].float().transpose(0, 1)
            kk = kv_t[a:b].float().transpose(0, 1).repeat_interleave(group, dim=0)
            vvv = vv[a:b].float().transpose(0, 1).repeat_interleave(group, dim=0)
            o = torch.nn.functional.scaled_dot_product_attention(qq, kk, vvv, is_causal=True, scale=d**-0.5)
            refs.append(o.transpose(0, 1))
        ref_v = torch.cat(refs)
        varlen_err = float((out - ref_v).norm() / ref_v.norm())
    return {
        "kernel_max_abs_err_bf16": kernel_err,
        "varlen_prefill_rel_err_bf16": varlen_err,
        "greedy_identical_to_generate": f"{same}/11",
        "sampling_same_in_other_batch": s_sub == s_all[2:5],
    }


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _fixed_run(dec: ContinuousDecoder, path: str, prompts: list[list[int]], new: int) -> None:
    if path == "static":
        dec.generate(prompts, 1, new, [], 0, True)
    else:
        dec.run(prompts, [new] * len(prompts), [0] * len(prompts), [], greedy=True, slots=len(prompts))


def fixed_length(
    dec: ContinuousDecoder, caps: list[int], paths: list[str], bw: float, rate: float, model
) -> list[dict]:
    rows = []
    for cap in caps:
        fl = floors(model, cap, 512, 256, bw, rate)
        g = torch.Generator().manual_seed(cap)
        prompts = torch.randint(1, model.config.vocab_size, (cap, 512), generator=g).tolist()
        for path in paths:
            _fixed_run(dec, path, prompts, 256 if path == "static" else 16)  # warm-up, graph capture
            sync()
            t = time.perf_counter()
            _fixed_run(dec, path, prompts, 256)
            sync()
            dt = time.perf_counter() - t
            row = {"workload": "fixed 512+256", "cap": cap, "path": path, "tok_s": cap * 256 / dt}
            row["pct_floor"] = 100 * row["tok_s"] / fl["e2e_floor_tok_s"]
            if path == "continuous":
                stt = dec.last_stats
                row.update(step_ms=1e3 * stt.decode_s / max(1, stt.steps), occupancy=stt.occupancy)
            dec.release()
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
            rows.append(row)
    return rows


def static_model(dec: ContinuousDecoder, prompts, limits, cap: int) -> dict:
    """Today's static loop on the workload, timed from measured prefill and step times (see the module doc)."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    longest = max(len(p) for p in prompts)
    dec.release()
    rows = max(1, min(cap, dec.max_rows(longest + CAP)))
    batches = [order[b : b + rows] for b in range(0, len(order), rows)]
    first = [prompts[i] for i in batches[0]]
    dec.generate(first, 1, 1, [], 0, True)
    sync()
    t = time.perf_counter()
    dec.generate(first, 1, 1, [], 0, True)
    sync()
    prefill_per_tok = (time.perf_counter() - t) / (len(first) * max(len(p) for p in first))
    dec.release()
    length = -(-(longest + CAP) // 128) * 128
    st = dec._decode_state(-(-rows // 8) * 8, length, True, CAP)
    st.valid.fill_(True)
    spans = sorted({min(length, s) for s in (1024, 3072, 6144, length)})
    times = []
    with torch.inference_mode():
        for span in spans:
            st.col.fill_(0)
            st.step.fill_(0)
            dec._run_step(st, span, st.eos, 0)
            sync()
            t = time.perf_counter()
            for _ in range(10):
                dec._run_step(st, span, st.eos, 0)
            sync()
            times.append((time.perf_counter() - t) / 10)
    n = len(spans)
    mx, my = sum(spans) / n, sum(times) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(spans, times, strict=True)) / max(
        1e-9, sum((x - mx) ** 2 for x in spans)
    )
    total, steps, useful, decode_s = 0.0, 0, 0, 0.0
    for batch in batches:
        width = max(len(prompts[i]) for i in batch)
        longest_out = max(limits[i] for i in batch)
        n_steps = min(CAP - 1, -(-(longest_out - 1) // 32) * 32)
        total += prefill_per_tok * len(batch) * width
        for s in range(1, n_steps + 1):
            span = min(length, -(-(width + s) // 128) * 128)
            decode_s += my + slope * (span - mx)
        steps += n_steps
        useful += sum(limits[i] for i in batch)
    total += decode_s
    dec.release()
    return {
        "path": "static",
        "rows": rows,
        "tok_s": useful / total,
        "step_ms": 1e3 * decode_s / max(1, steps),
        "occupancy": sum(lim - 1 for lim in limits) / max(1, steps * rows),
        "step_ms_at_spans": dict(zip(spans, [round(1e3 * x, 2) for x in times], strict=True)),
        "time_s": total,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--caps", default="64,128,256")
    ap.add_argument("--per-cap", type=float, default=3.0, help="requests per run = per-cap x cap")
    ap.add_argument("--layers", type=int, default=28)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-fixed", action="store_true")
    ap.add_argument("--fixed-caps", default=None, help="caps of the fixed-length runs (default --caps)")
    ap.add_argument("--fixed-paths", default="static,continuous")
    ap.add_argument("--skip-static", action="store_true")
    ap.add_argument("--skip-check", action="store_true")
    ap.add_argument(
        "--until-drained", action="store_true", help="stop each realistic run when its queue empties (steady state)"
    )
    ap.add_argument("--probe-steady", action="store_true", help="after each realistic run, time its step at that state")
    ap.add_argument("--probe-kernels", action="store_true", help="with --probe-steady: attention splits, profile")
    ap.add_argument(
        "--prefill-attention", default="auto", choices=["auto", "per-prompt"],
        help="auto: one flash varlen call per pack where torch has it; per-prompt: SDPA per prompt (128-token buckets)",
    )  # fmt: skip
    ap.add_argument("--tiny", action="store_true", help="CPU smoke test: a 2-layer model, nominal roofline rates")
    args = ap.parse_args()
    caps = [int(c) for c in args.caps.split(",") if c]
    if args.tiny:
        args.skip_check = args.skip_fixed = args.skip_static = True
        device_name = "cpu (tiny)"
    else:
        import importlib

        tr = importlib.import_module("triton")
        device_name = torch.cuda.get_device_name()
        print(f"torch {torch.__version__}, transformers {transformers.__version__}, triton {tr.__version__}, "
              f"{device_name}", flush=True)  # fmt: skip
    report: dict = {"args": vars(args), "device": device_name, "runs": []}
    out = os.environ.get("OUT")

    def save() -> None:
        if out:
            Path(out, "bench_gpu_continuous.json").write_text(json.dumps(report, indent=1))

    if not args.skip_check:
        try:
            report["check"] = check()
        except Exception as exc:  # keep the measurements
            traceback.print_exc()
            report["check"] = {"error": f"{type(exc).__name__}: {exc}"}
        print("check:", report["check"], flush=True)
    if args.tiny:
        bw, rate = 50e9, 1e12
        cfg = transformers.Qwen2Config(
            vocab_size=512, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=16384,
        )  # fmt: skip
        model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
        model.generation_config.eos_token_id = None
        dec = SteadyDecoder(model, use_graphs=False, prefill_attention=args.prefill_attention)
    else:
        bw, rate = measure_bandwidth(), measure_bf16_rate()
        model = build_model(args.layers)
        dec = SteadyDecoder(model, prefill_attention=args.prefill_attention)
    report.update(bandwidth_gb_s=bw / 1e9, bf16_tflops=rate / 1e12)
    report["prefill_attention"] = "varlen" if dec._varlen is not None else f"per prompt, bucket {dec.prefill_bucket}"
    print("prefill attention:", report["prefill_attention"], flush=True)
    print(f"rates: copy bandwidth {bw / 1e9:.0f} GB/s, bf16 matmul {rate / 1e12:.0f} TFLOP/s", flush=True)
    dec.stop_at_drain = args.until_drained
    if not args.skip_fixed:
        fixed_caps = [int(c) for c in (args.fixed_caps or args.caps).split(",")]
        report["runs"] += fixed_length(dec, fixed_caps, args.fixed_paths.split(","), bw, rate, model)
        save()
    for cap in caps:
        prompts, limits = workload(int(args.per_cap * cap), model.config.vocab_size, args.seed)
        fl = realistic_floor(model, prompts, limits, cap, bw, rate)
        base = {"workload": "realistic", "cap": cap, "requests": len(prompts), **fl}
        # Warm-up at this slot count (graph capture, Triton compile) so the timed run holds none of it.
        stop, dec.stop_at_drain = dec.stop_at_drain, False
        # Rows end in waves (row i lives ~33 steps per halving of i), so the drain's narrower graphs get captured too.
        waves = [2 + 33 * (cap.bit_length() - (i + 1).bit_length()) for i in range(cap)]
        dec.run([p[:16] for p in prompts[:cap]], waves, list(range(cap)), [], greedy=True, slots=cap)
        dec.stop_at_drain = stop
        sync()
        t = time.perf_counter()
        stopped = False
        try:
            dec.run(prompts, limits, list(range(len(prompts))), [], greedy=True, slots=cap)
        except _Drained:
            stopped = True
        sync()
        dt = time.perf_counter() - t
        stt = dec.last_stats
        # Work-matched floor of the steady part: every prompt was prefilled by the drain, plus its decode tokens.
        steady_floor_s = fl["prefill_floor_s"] + stt.drained_decode_tokens / cap * fl["step_floor_ms"] / 1e3
        row = {
            **base,
            "path": "continuous" + (" (until drained)" if stopped else ""),
            "preemptions": stt.preemptions,
            "steady_tok_s": stt.drained_tokens / max(1e-9, stt.drained_s),
            "steady_occupancy": stt.steady_occupancy,
            "drained_at_s": stt.drained_s,
            "steady_floor_tok_s": stt.drained_tokens / steady_floor_s,
            "kv_pages": stt.kv_pages,
        }
        row["steady_pct_work_floor"] = 100 * row["steady_tok_s"] / row["steady_floor_tok_s"]
        if not stopped:
            assert stt.useful_tokens == sum(limits)
            row.update(
                tok_s=stt.useful_tokens / dt,
                step_ms=1e3 * stt.decode_s / max(1, stt.steps),
                occupancy=stt.occupancy,
                time_s=dt,
                prefill_s=stt.prefill_s,
                rows_stepped_share=stt.row_steps / max(1, stt.steps * stt.slots),
                moved_rows=stt.moved_rows,
                pct_sched_floor=100 * stt.useful_tokens / dt / fl["sched_floor_tok_s"],
            )
        else:
            row.update(tok_s=row["steady_tok_s"], step_ms=1e3 * stt.drained_decode_s / max(1, stt.drained_steps))
            row["occupancy"] = stt.steady_occupancy
        row["breakdown_to_drain"] = {k: round(v, 4) for k, v in stt.breakdown(drained=True).items()}
        if not stopped:
            row["breakdown_whole"] = {k: round(v, 4) for k, v in stt.breakdown(drained=False).items()}
        print("breakdown to drain:", json.dumps(row["breakdown_to_drain"]), flush=True)
        if stt.packs:
            first, rest = stt.packs[0], stt.packs[1:]
            row["packs"] = {
                "first": {"prompts": first[0], "tokens": first[1], "tok_s": round(first[1] / max(1e-9, first[2]))},
                "rest": {
                    "count": len(rest),
                    "prompts": sum(n for n, _, _ in rest),
                    "tokens": sum(t for _, t, _ in rest),
                    "tok_s": round(sum(t for _, t, _ in rest) / max(1e-9, sum(x for _, _, x in rest))),
                },
            }
            print("prefill packs:", json.dumps(row["packs"]), flush=True)
        if args.probe_steady and stopped:
            row["steady_probe"] = steady_probe(dec, prompts, kernels=args.probe_kernels)
            print("steady probe:", json.dumps({k: v for k, v in row["steady_probe"].items() if k != "profile_window"}))
        rows = [row]
        if not args.skip_static:
            rows.append({**base, **static_model(dec, prompts, limits, cap)})
        for r in rows:
            r["pct_floor"] = 100 * r["tok_s"] / fl["floor_tok_s"]
            if "steady_tok_s" in r:
                r["steady_pct_floor"] = 100 * r["steady_tok_s"] / fl["floor_tok_s"]
            short = {k: v for k, v in r.items() if k not in ("steady_probe", "breakdown_to_drain", "breakdown_whole")}
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in short.items()}), flush=True)
        if len(rows) == 2:
            row["speedup_vs_static"] = row["tok_s"] / rows[1]["tok_s"]
        report["runs"] += rows
        dec.release()
        save()
    print()
    print(
        f"{'workload':>14} {'cap':>4} {'path':>10} {'tok/s':>8} {'step ms':>8} {'occup.':>6} {'% floor':>7} {'x':>5}"
        f" {'steady tok/s':>12} {'occup.':>6} {'% floor':>7}"
    )
    for r in report["runs"]:
        print(
            f"{r['workload']:>14} {r['cap']:>4} {r['path']:>10} {r['tok_s']:>8.0f} {r.get('step_ms', 0):>8.1f} "
            f"{r.get('occupancy', 1):>6.2f} {r['pct_floor']:>7.1f} {r.get('speedup_vs_static', 0):>5.2f}"
            f" {r.get('steady_tok_s', 0):>12.0f} {r.get('steady_occupancy', 0):>6.2f}"
            f" {r.get('steady_pct_floor', 0):>7.1f}"
        )
    save()


if __name__ == "__main__":
    main()

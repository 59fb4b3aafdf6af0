"""Decode and log-prob-scoring throughput of the transformers driver on a GPU, next to the roofline floor.

The model is a random-weight Qwen2.5-7B shape (no hub on the GPU machines; the shape, not the weights, sets the
cost). Prompts are 512 tokens of a word-level tokenizer over the model's vocabulary ("t123 t9 ..."), so every prompt
is exactly 512 ids; the model has no EOS, so every row decodes exactly ``--new`` tokens.

Floors (per decode step, batch B, mean context C = prompt + new/2):
  memory  = (2 bytes x params + B x C x KV bytes per token) / measured copy bandwidth
  compute = (2 x params x B + 4 x B x C x layers x heads x head_dim) / measured bf16 matmul rate
  floor   = max(memory, compute); decode tok/s floor = B / floor.
Scoring floor: 2 x params x tokens (+ attention) / bf16 rate (it is compute-bound).

usage (device machine): python bench/bench_gpu_decode.py [--batches 64,256] [--paths generate,lean] [--layers 28]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import transformers

from rrm_eval.models import GenerateRequest, SamplingParams, ScoreRequest
from rrm_eval.models._transformers import TransformersDriver

QWEN25_7B = dict(
    hidden_size=3584,
    intermediate_size=18944,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    vocab_size=152064,
    max_position_embeddings=32768,
    rope_theta=1_000_000.0,
    tie_word_embeddings=False,
)


def sync() -> None:
    torch.cuda.synchronize()


def measure_bandwidth(gib: float = 4.0, reps: int = 10) -> float:
    n = int(gib * (1 << 30)) // 2
    a = torch.empty(n, dtype=torch.bfloat16, device="cuda")
    b = torch.empty_like(a)
    b.copy_(a)
    sync()
    t = time.perf_counter()
    for _ in range(reps):
        b.copy_(a)
    sync()
    dt = (time.perf_counter() - t) / reps
    del a, b
    return 2 * n * 2 / dt  # read + write


def measure_bf16_rate(n: int = 8192, reps: int = 10) -> float:
    a = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    a @ b
    sync()
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync()
    return 2 * n**3 * reps / (time.perf_counter() - t)


def word_tokenizer(vocab: int) -> transformers.PreTrainedTokenizerFast:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(vocab)}, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="t0", unk_token="t0")


def build_model(layers: int) -> transformers.PreTrainedModel:
    cfg = transformers.Qwen2Config(**{**QWEN25_7B, "num_hidden_layers": layers})
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model.eval()


def prompts(count: int, length: int, vocab: int, seed: int) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (count, length), generator=g)
    return [" ".join(f"t{i}" for i in row.tolist()) for row in ids]


def floors(model, batch: int, prompt: int, new: int, bw: float, rate: float) -> dict:
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    kv_per_token = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * head_dim * 2
    ctx = prompt + new / 2
    attn_flops = 4 * batch * ctx * cfg.num_hidden_layers * cfg.num_attention_heads * head_dim
    mem_s = (2 * params + batch * ctx * kv_per_token) / bw
    cmp_s = (2 * params * batch + attn_flops) / rate
    step = max(mem_s, cmp_s)
    prefill_s = 2 * params * batch * prompt / rate
    seq = prompt + new
    score_s = (2 * params * batch * seq + 2 * batch * seq * seq * cfg.num_hidden_layers * cfg.hidden_size) / rate
    return {
        "params": params,
        "step_floor_ms": step * 1e3,
        "step_bound": "memory" if mem_s >= cmp_s else "compute",
        "decode_floor_tok_s": batch / step,
        "e2e_floor_tok_s": batch * new / (prefill_s + new * step),
        "score_floor_tok_s": batch * new / score_s,
    }


def run_generate(driver, reqs, new: int) -> tuple[float, float, int]:
    """Returns (seconds for `new` tokens, seconds for prefill + 1 token, tokens generated)."""
    params = SamplingParams(max_new_tokens=new)
    sync()
    t = time.perf_counter()
    one = driver.generate(reqs, SamplingParams(max_new_tokens=1))
    sync()
    t_prefill = time.perf_counter() - t
    t = time.perf_counter()
    outs = driver.generate(reqs, params)
    sync()
    dt = time.perf_counter() - t
    assert all(len(g) == 1 and g[0].error is None for g in outs + one)
    return dt, t_prefill, sum(g[0].completion_tokens for g in outs)


def run_score(driver, sreqs) -> tuple[float, int]:
    sync()
    t = time.perf_counter()
    res = driver.score(sreqs)
    sync()
    dt = time.perf_counter() - t
    assert all(r.error is None for r in res)
    return dt, sum(len(r.token_logprobs) for r in res)


def check_cuda_graph_path() -> dict:
    """A tiny float32 model: the lean CUDA-graph loop must give the same greedy tokens and log-probs as generate."""
    torch.manual_seed(0)
    cfg = transformers.Qwen2Config(
        vocab_size=512,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
    )
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()
    model.generation_config.eos_token_id = None
    tok = word_tokenizer(512)
    reqs = [GenerateRequest(p, f"k{i}") for i, p in enumerate(prompts(5, 37, 512, 1) + prompts(3, 200, 512, 2))]
    ref = TransformersDriver.from_model(model, tok, fast_path="off").generate(reqs, SamplingParams(max_new_tokens=150))
    lean = TransformersDriver.from_model(model, tok, fast_path="on", batch_size=16)
    got = lean.generate(reqs, SamplingParams(max_new_tokens=150))
    again = lean.generate(reqs, SamplingParams(max_new_tokens=150))  # replays the captured graphs
    same = sum(a[0].text == b[0].text == c[0].text for a, b, c in zip(ref, got, again, strict=True))
    sreq = [ScoreRequest(r.prompt, " t5 t7 t9 t11") for r in reqs]
    s0 = TransformersDriver.from_model(model, tok, fast_path="off").score(sreq)
    s1 = lean.score(sreq)
    diff = max(
        abs(a - b)
        for x, y in zip(s0, s1, strict=True)
        for a, b in zip(x.token_logprobs, y.token_logprobs, strict=False)
    )
    return {"greedy_identical": f"{same}/{len(reqs)}", "max_logprob_diff": diff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", default="64,256")
    ap.add_argument("--paths", default="generate,lean", help="generate = HF generate (fast_path=off); lean")
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--new", type=int, default=256)
    ap.add_argument("--layers", type=int, default=28)
    ap.add_argument("--skip-score", action="store_true")
    ap.add_argument("--skip-check", action="store_true")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.cuda.get_device_name()}")
    report: dict = {"args": vars(args), "device": torch.cuda.get_device_name(), "runs": []}
    if not args.skip_check:
        report["check"] = check_cuda_graph_path()
        print("cuda-graph path check:", report["check"], flush=True)
    bw, rate = measure_bandwidth(), measure_bf16_rate()
    report.update(bandwidth_gb_s=bw / 1e9, bf16_tflops=rate / 1e12)
    print(f"measured: copy bandwidth {bw / 1e9:.0f} GB/s, bf16 matmul {rate / 1e12:.0f} TFLOP/s", flush=True)
    t = time.perf_counter()
    model = build_model(args.layers)
    tok = word_tokenizer(model.config.vocab_size)
    print(
        f"model: {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B params, built in "
        f"{time.perf_counter() - t:.0f} s",
        flush=True,
    )
    for batch in [int(b) for b in args.batches.split(",")]:
        fl = floors(model, batch, args.prompt, args.new, bw, rate)
        texts = prompts(batch, args.prompt, model.config.vocab_size, batch)
        reqs = [GenerateRequest(p, f"r{i}") for i, p in enumerate(texts)]
        conts = prompts(batch, args.new, model.config.vocab_size, batch + 1)
        sreqs = [ScoreRequest(p, " " + c, f"s{i}") for i, (p, c) in enumerate(zip(texts, conts, strict=True))]
        for path in args.paths.split(","):
            row = {"batch": batch, "path": path, **fl}
            try:
                fast = "on" if path == "lean" else "off"
                driver = TransformersDriver.from_model(
                    model, tok, fast_path=fast, batch_size=batch, score_tokens=max(32768, batch * 64)
                )
                driver.generate(reqs, SamplingParams(max_new_tokens=args.new if path == "lean" else 4))  # warm-up
                dt, t_prefill, n_tok = run_generate(driver, reqs, args.new)
                row.update(
                    decode_tok_s=n_tok / dt,
                    step_ms=(dt - t_prefill) / max(1, args.new - 1) * 1e3,
                    prefill_s=t_prefill,
                )
                row["pct_of_e2e_floor"] = 100 * row["decode_tok_s"] / fl["e2e_floor_tok_s"]
                row["pct_of_decode_floor"] = 100 * row["decode_tok_s"] / fl["decode_floor_tok_s"]
                row["step_pct_of_floor"] = 100 * fl["step_floor_ms"] / row["step_ms"]
                if not args.skip_score:
                    driver.score(sreqs[: max(2, batch // 16)])  # warm-up
                    st, n_sc = run_score(driver, sreqs)
                    row.update(score_tok_s=n_sc / st, score_pct_of_floor=100 * n_sc / st / fl["score_floor_tok_s"])
                if driver._lean is not None:
                    driver._lean.release()
            except Exception as exc:  # keep the other measurements
                traceback.print_exc()
                row["error"] = f"{type(exc).__name__}: {exc}"
            torch.cuda.empty_cache()
            report["runs"].append(row)
            print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    print()
    print(
        f"{'batch':>5} {'path':>9} {'tok/s':>8} {'step ms':>8} {'floor ms':>8} {'%e2e':>6} {'%dec':>6} "
        f"{'score tok/s':>11} {'%score':>7}"
    )
    for r in report["runs"]:
        print(
            f"{r['batch']:>5} {r['path']:>9} {r.get('decode_tok_s', 0):>8.0f} {r.get('step_ms', 0):>8.1f} "
            f"{r['step_floor_ms']:>8.1f} {r.get('pct_of_e2e_floor', 0):>6.1f} {r.get('pct_of_decode_floor', 0):>6.1f} "
            f"{r.get('score_tok_s', 0):>11.0f} {r.get('score_pct_of_floor', 0):>7.1f}"
        )
    out = os.environ.get("OUT")
    if out:
        Path(out, "bench_gpu_decode.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

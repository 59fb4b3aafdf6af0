"""GPU throughput of the training steps: `rrm-eval train sft` and `train dpo` code paths on a real-shaped,
random-weight model (Qwen2.5-0.5B / 1.5B configs), bf16 autocast, for a number of optimizer steps.

Prints (and writes as JSON) per phase: steady-state tokens/s per GPU (steps after the first ``--warmup`` ones),
model FLOPs utilisation against the chip's dense bf16 peak, and peak GPU memory.

FLOPs per sequence of s tokens (model FLOPs; recompute from activation checkpointing is not counted):
  6 * N_body * s                      body matmuls, forward + backward (N_body = non-embedding parameters)
  6 * L * d * s^2                     causal attention scores and values, forward + backward
  6 * d * V * t                       LM head on the t positions that carry loss (TRL's fused head skips the rest)
DPO adds the frozen reference model's forward (a third of the above) for chosen and rejected sequences.

Usage (device machine, wheels carried; see docs/training.md):
  python bench/bench_train_gpu.py --shape qwen2.5-0.5b --sft-steps 200 --dpo-steps 100 --tokenizer DIR --json OUT
On CPU it runs with --shape tiny for a smoke check.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _import_training():
    """rrm_eval.training lives in training/ (package-dir mapping); without an install, point the package at it."""
    sys.path.insert(0, str(ROOT))
    import rrm_eval

    try:
        import rrm_eval.training as training
    except ImportError:
        rrm_eval.__path__.append(str(ROOT))  # rrm_eval.training -> <repo>/training, as the install maps it
        import rrm_eval.training as training
    return training


PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense bf16 tensor-core peaks (NVIDIA datasheets)
WORDS = re.findall(
    r"\w+",
    "the answer response assistant question user compare accuracy helpful relevant detail correct error "
    "step reason because therefore however first second explain clear complete missing request follow "
    "instruction quality better worse code math proof result value example case test check verify claim "
    "source fact",
)


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def make_data(work: Path, rows: int, prompt_words: int, reason_words: int, seed: int = 0) -> tuple[Path, Path]:
    """SFT rows (judge prompt, reason, verdict) and DPO pairs of realistic lengths, as the pipeline writes them."""
    rng = random.Random(seed)
    sft, dpo = work / "sft.jsonl", work / "dpo.jsonl"
    with sft.open("w") as fs, dpo.open("w") as fd:
        for i in range(rows):
            msgs = [{"role": "user", "content": "Please judge. " + words(rng, prompt_words)}]
            target = "[[A]]" if i % 2 else "[[B]]"
            flip = "[[B]]" if i % 2 else "[[A]]"
            fs.write(
                json.dumps({"id": str(i), "messages": msgs, "reason": words(rng, reason_words), "response": target})
                + "\n"
            )
            pair = {"id": str(i), "messages": msgs, "target": target,
                    "chosen": {"reason": words(rng, reason_words), "verdict": target},
                    "rejected": {"reason": words(rng, reason_words), "verdict": flip}}  # fmt: skip
            fd.write(json.dumps(pair) + "\n")
    return sft, dpo


class StepTimer:
    """A TrainerCallback recording wall time at every optimizer step end (CUDA-synchronised)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __getattr__(self, name):  # every other callback event is a no-op
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)

    def on_train_begin(self, *a, **k):
        self._sync()
        self.times = [time.perf_counter()]

    def on_step_end(self, *a, **k):
        self._sync()
        self.times.append(time.perf_counter())

    @staticmethod
    def _sync() -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()


def flops_per_seq(cfg, s: int, trained: int, n_body: int) -> float:
    return (
        6 * n_body * s
        + 6 * cfg.num_hidden_layers * cfg.hidden_size * s * s
        + 6 * cfg.hidden_size * cfg.vocab_size * trained
    )


def run(args: argparse.Namespace) -> dict:
    import torch
    import transformers

    training = _import_training()
    from rrm_eval.training import TrainConfig, get_layout
    from rrm_eval.training._dpo import build_dpo_examples
    from rrm_eval.training._sft import build_sft_examples
    from rrm_eval.training._tiny import make_random_model

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model_dir = make_random_model(work / "model", shape=args.shape, tokenizer_dir=args.tokenizer)
    build_s = time.perf_counter() - t0
    sft_data, dpo_data = make_data(work, args.rows, args.prompt_words, args.reason_words)
    tok = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    cfg = transformers.AutoConfig.from_pretrained(str(model_dir))
    gpu = torch.cuda.is_available()
    name = torch.cuda.get_device_name(0) if gpu else "cpu"
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    layout = get_layout("chatml")
    rows = [json.loads(line) for line in sft_data.read_text().splitlines()]
    sft_ex, _ = build_sft_examples(rows, layout, tok, "reasongenrm", 1 << 20)
    pairs = [json.loads(line) for line in dpo_data.read_text().splitlines()]
    dpo_ex, _ = build_dpo_examples(pairs, layout, tok, 1 << 20)
    common = dict(micro_batch=args.micro_batch, global_batch=args.micro_batch * args.accum, bf16=gpu or None,
                  gradient_checkpointing=args.checkpointing, logging_steps=50, warmup_ratio=0.03,
                  attn_implementation=args.attn)  # fmt: skip
    results: dict = {"device": name, "shape": args.shape, "torch": torch.__version__,
                     "transformers": transformers.__version__, "build_model_s": round(build_s, 1)}  # fmt: skip

    def measure(phase: str, steps: int, fn, seq_flops: float, tokens_per_seq: float) -> None:
        timer = StepTimer()
        if gpu:
            torch.cuda.reset_peak_memory_stats()
        info = fn(steps, timer)
        w = min(args.warmup, len(timer.times) - 2)
        dt = (timer.times[-1] - timer.times[w]) / (len(timer.times) - 1 - w)
        seqs = common["global_batch"]
        tps = seqs * tokens_per_seq / dt
        out = {
            "steps": len(timer.times) - 1,
            "s_per_step": round(dt, 4),
            "tokens_per_step": round(seqs * tokens_per_seq),
            "tokens_per_s_per_gpu": round(tps),
            "tflops_per_s": round(seqs * seq_flops / dt / 1e12, 1),
            "mfu": round(seqs * seq_flops / dt / peak, 4) if peak else None,
            "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if gpu else None,
            "loss_first_last": [info["loss_history"][0]["loss"], info["loss_history"][-1]["loss"]]
            if info.get("loss_history") else None,
        }  # fmt: skip
        results[phase] = out
        print(phase, json.dumps(out), flush=True)

    model_ref = transformers.AutoModelForCausalLM.from_config(cfg)
    n_all = sum(p.numel() for p in model_ref.parameters())
    n_body = n_all - cfg.vocab_size * cfg.hidden_size * (1 if cfg.tie_word_embeddings else 2)
    del model_ref
    results["params"] = n_all
    s_len = sum(len(e["input_ids"]) for e in sft_ex) / len(sft_ex)
    s_trained = sum(sum(1 for x in e["labels"] if x != -100) for e in sft_ex) / len(sft_ex)
    sft_out = work / "sft-ckpt"

    def do_sft(steps, timer):
        c = TrainConfig(model=str(model_dir), out=str(sft_out), learning_rate=5e-6, max_steps=steps, **common)
        return training.run_sft(c, str(sft_data), callbacks=[timer])

    measure("sft", args.sft_steps, do_sft, flops_per_seq(cfg, round(s_len), round(s_trained), n_body), s_len)
    results["sft"]["seq_len"] = round(s_len)
    results["sft"]["trained_tokens_per_seq"] = round(s_trained)

    # DPO: per pair, chosen and rejected sequences through the policy (fwd+bwd) and the reference (fwd).
    lens = [
        (len(e["prompt_ids"]) + len(e["chosen_ids"]), len(e["prompt_ids"]) + len(e["rejected_ids"])) for e in dpo_ex
    ]
    d_len = sum(a + b for a, b in lens) / len(lens)
    d_trained = sum(sum(e["chosen_loss_mask"]) + sum(e["rejected_loss_mask"]) for e in dpo_ex) / len(dpo_ex)
    half = round(d_len / 2)
    pair_flops = 2 * flops_per_seq(cfg, half, round(d_trained / 2), n_body) * 4 / 3  # + reference forward

    common.update(micro_batch=args.dpo_micro_batch, global_batch=args.dpo_micro_batch * args.accum)

    def do_dpo(steps, timer):
        c = TrainConfig(model=str(sft_out), out=str(work / "dpo-ckpt"), learning_rate=5e-7, max_steps=steps, **common)
        return training.run_dpo(c, str(dpo_data), callbacks=[timer])

    measure("dpo", args.dpo_steps, do_dpo, pair_flops, d_len)
    results["dpo"]["pair_tokens"] = round(d_len)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", default="qwen2.5-0.5b", help="tiny | qwen2.5-0.5b | qwen2.5-1.5b")
    p.add_argument("--tokenizer", help="tokenizer folder (default: the embedded SmolLM2 tokenizer)")
    p.add_argument("--sft-steps", type=int, default=200)
    p.add_argument("--dpo-steps", type=int, default=100)
    p.add_argument("--micro-batch", type=int, default=8)
    p.add_argument("--dpo-micro-batch", type=int, default=4, help="pairs per forward (2 sequences each)")
    p.add_argument("--accum", type=int, default=1, help="gradient accumulation steps per optimizer step")
    p.add_argument("--rows", type=int, default=256)
    p.add_argument("--prompt-words", type=int, default=600, help="judge prompt length in words (~1 token each)")
    p.add_argument("--reason-words", type=int, default=300)
    p.add_argument("--warmup", type=int, default=10, help="steps left out of the timing")
    p.add_argument("--checkpointing", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--attn", default="sdpa")
    p.add_argument("--work", default="/tmp/bench_train_gpu")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()
    res = run(args)
    print(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()

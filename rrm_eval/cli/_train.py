"""`rrm-eval train <step>`: the ReasonGenRM / GenRM training pipeline (docs/training.md).

prepare -> generate-reasons -> score-reasons -> sft -> dpo-data -> dpo, then `rrm-eval pairwise --model hf:CKPT
--judge reasongenrm`; `export --format openrlhf` writes the datasets for OpenRLHF.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rrm_eval.cli._common import add_scale_out_options, model_options, progress_factory


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train ReasonGenRM / GenRM judges: data, reasons, SFT, DPO, export",
        description="The seeds' training recipe as steps; each step reads the previous step's output.",
    )
    steps = p.add_subparsers(dest="step", metavar="STEP", required=True)

    s = steps.add_parser("prepare", help="preference pairs (Skywork layout) -> judge prompts with target verdicts")
    s.add_argument("--data", help="local json/jsonl/parquet with chosen/rejected message lists (default: the hub)")
    s.add_argument("--hub-name", default="Skywork/Skywork-Reward-Preference-80K-v0.2", help="hub dataset")
    s.add_argument("--split", default="train")
    s.add_argument("--judge", default="skywork-critic", help="judge prompt (default skywork-critic)")
    s.add_argument("--seed", type=int, default=0, help="seed of the A/B order coin")
    s.add_argument("--both-orders", action="store_true", help="write both presentations of every pair")
    s.add_argument("--limit", type=int, help="first N source rows")
    s.add_argument("--skip-bad-rows", action="store_true", help="count malformed rows instead of stopping")
    s.add_argument("--out", required=True, help="prepared rows (.jsonl); counts go to <name>.stats.json")
    s.set_defaults(func=_prepare)

    s = steps.add_parser("generate-reasons", help="a teacher writes k reasons per prompt given the correct verdict")
    s.add_argument("--data", required=True, help="prepared rows (from `train prepare`)")
    s.add_argument("--teacher", required=True,
                   help="any model spec (hf:, vllm:, openai:, llamacpp:, scripted:, smollm2), e.g. "
                   "vllm:Qwen/Qwen2.5-72B-Instruct")  # fmt: skip
    _model_opt(s)
    s.add_argument("--k", type=int, default=16, help="reasons per prompt (recipe: 16)")
    s.add_argument("--temperature", type=float, default=1.0, help="recipe: 1.0")
    s.add_argument("--top-p", type=float, default=1.0)
    s.add_argument("--max-new-tokens", type=int, default=1024)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--prompt-file", help="teacher instruction with {judge_prompt} and {verdict} (default: built in)")
    s.add_argument("--limit", type=int, help="first N prepared rows")
    s.add_argument("--out", required=True, help="journal folder (resumable)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_generate)

    s = steps.add_parser("score-reasons", help="student P(R|U), P(A|U,R); select R*; write SFT rows")
    s.add_argument("--data", required=True, help="prepared rows")
    s.add_argument("--reasons", required=True, help="journal folder of `generate-reasons`")
    s.add_argument(
        "--student", required=True, help="the model to train (any spec that scores), e.g. hf:Qwen/Qwen2.5-7B"
    )
    _model_opt(s)
    s.add_argument("--template", default="auto", choices=("auto", "chatml", "llama3"), help="chat layout")
    s.add_argument("--formula", default="released", choices=("released", "readme"),
                   help="released: P(R|U)(2P(A|U,R)-1), drop <= 0.1; readme: P(A|U,R)P(R|U)")  # fmt: skip
    s.add_argument("--threshold", type=float, help="drop prompts whose best score is <= this (default per formula)")
    s.add_argument("--no-threshold", action="store_true", help="keep every prompt's best reason")
    s.add_argument("--verdict-span", default="full", choices=("full", "letter"),
                   help="P(A|U,R) over verdict tokens + end token (full) or the verdict letter only")  # fmt: skip
    s.add_argument("--keep-truncated", action="store_true", help="keep reasons that hit the token budget")
    s.add_argument("--out", required=True, help="folder: score journal + sft.jsonl + sft.stats.json")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_score)

    s = steps.add_parser("sft", help="ReasonGenRM (reason + verdict loss) or GenRM (verdict loss) SFT with TRL")
    s.add_argument("--data", required=True, help="sft.jsonl of score-reasons (genrm: prepared rows work too)")
    s.add_argument("--mode", default="reasongenrm", choices=("reasongenrm", "genrm"))
    _train_opts(s, lr=5e-6, epochs=2.0)
    s.set_defaults(func=_sft)

    s = steps.add_parser("dpo-data", help="on-policy reasons from the SFT model, R_score, chosen/rejected pairs")
    s.add_argument("--data", required=True, help="prepared rows")
    s.add_argument("--model", required=True,
                   help="ReasonGenRM SFT checkpoint: hf:PATH, vllm:PATH or PATH (a folder `train sft` wrote), or any "
                   "model spec whose chat template opens a reason turn")  # fmt: skip
    _model_opt(s)
    s.add_argument("--k", type=int, default=16, help="samples per prompt (seed 003: 16)")
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--top-p", type=float, default=1.0)
    s.add_argument("--max-new-tokens", type=int, default=1024)
    s.add_argument("--seed", type=int, default=0)
    from rrm_eval.training import RANK_BY, STRATEGIES

    s.add_argument("--strategy", default="correct-fluent+incorrect-fluent", choices=list(STRATEGIES))
    s.add_argument("--rank-by", default="r_score", choices=RANK_BY, help="fluency ranking (default r_score)")
    s.add_argument("--correct-by", default="sampled", choices=("sampled", "preferred"),
                   help="sampled: the model's sampled answer after the reason is the target (default); "
                   "preferred: P(target|U,R) > P(flipped|U,R)")  # fmt: skip
    s.add_argument("--verdict-span", default="full", choices=("full", "letter"))
    s.add_argument("--keep-truncated", action="store_true")
    s.add_argument("--limit", type=int)
    s.add_argument("--out", required=True, help="folder: samples/ and scores/ journals, dpo.jsonl")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_dpo_data)

    s = steps.add_parser("dpo", help="DPO on the reasoning span with TRL (policy and reference = the SFT model)")
    s.add_argument("--data", required=True, help="dpo.jsonl of dpo-data")
    _train_opts(s, lr=5e-7, epochs=1.0, beta=True)
    s.set_defaults(func=_dpo)

    s = steps.add_parser("export", help="write SFT/DPO datasets for another trainer and print its command")
    s.add_argument("--format", default="openrlhf", choices=("openrlhf",))
    s.add_argument("--sft", help="sft.jsonl (score-reasons) or prepared rows with --mode genrm")
    s.add_argument("--dpo", help="dpo.jsonl (dpo-data)")
    s.add_argument("--mode", default="reasongenrm", choices=("reasongenrm", "genrm"))
    s.add_argument("--template", choices=("chatml", "llama3"), help="chat layout (or give --model to detect it)")
    s.add_argument("--model", help="base model for SFT (its tokenizer picks the layout when --template is unset)")
    s.add_argument("--sft-model", default="SFT_CHECKPOINT", help="SFT checkpoint the DPO command starts from")
    s.add_argument("--max-len", type=int, default=4096)
    s.add_argument("--out", required=True, help="output folder")
    s.set_defaults(func=_export)


def _model_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-opt", action="append", default=[], metavar="KEY=VALUE", help="backend option, repeatable")
    add_scale_out_options(p)


def _train_opts(p: argparse.ArgumentParser, lr: float, epochs: float, beta: bool = False) -> None:
    p.add_argument("--model", required=True,
                   help="transformers weights to start from: hf:PATH, PATH, a hub id, or smollm2")  # fmt: skip
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--template", default="auto", choices=("auto", "chatml", "llama3"))
    g = p.add_argument_group("recipe (defaults = the seeds' recipe)")
    g.add_argument("--lr", type=float, default=lr, help=f"learning rate (default {lr})")
    g.add_argument("--epochs", type=float, default=epochs, help=f"default {epochs:g}")
    g.add_argument(
        "--global-batch", type=int, default=128, help="rows (SFT sequences, DPO pairs) per optimizer step (default 128)"
    )
    g.add_argument("--micro-batch", type=int, default=1, help="rows per GPU per forward (default 1)")
    g.add_argument("--min-lr-ratio", type=float, default=0.1, help="cosine decays to this x lr (default 0.1)")
    g.add_argument("--warmup-ratio", type=float, default=0.03, help="default 0.03")
    g.add_argument("--max-length", type=int, default=4096, help="longer rows are dropped (counted), never cut")
    if beta:
        g.add_argument("--beta", type=float, default=0.1, help="DPO beta (default 0.1)")
    else:  # DPO's loss is one term per pair: no token/sample choice there
        g.add_argument("--loss-reduction", default="sample", choices=("sample", "token"),
                       help="sample: per-sample mean (OpenRLHF, the seeds); token: over all tokens (TRL)")  # fmt: skip
    g.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="default: on with a GPU")
    g.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--max-steps", type=int, help="stop after N optimizer steps (benchmarks, smoke runs)")
    g.add_argument("--logging-steps", type=int, default=1)
    g.add_argument("--deepspeed", help="DeepSpeed JSON config (ZeRO-3 for multi-GPU / multi-node)")
    g.add_argument("--attn-implementation", help="e.g. sdpa, flash_attention_2")


def _train_config(args: argparse.Namespace, mode: str) -> Any:
    from rrm_eval.training import TrainConfig

    return TrainConfig(
        model=args.model,
        out=args.out,
        mode=mode,
        template=args.template,
        learning_rate=args.lr,
        epochs=args.epochs,
        global_batch=args.global_batch,
        micro_batch=args.micro_batch,
        min_lr_ratio=args.min_lr_ratio,
        warmup_ratio=args.warmup_ratio,
        max_length=args.max_length,
        loss_reduction=getattr(args, "loss_reduction", "sample"),
        beta=getattr(args, "beta", 0.1),
        bf16=args.bf16,
        gradient_checkpointing=args.gradient_checkpointing,
        seed=args.seed,
        max_steps=args.max_steps,
        logging_steps=args.logging_steps,
        deepspeed=args.deepspeed,
        attn_implementation=args.attn_implementation,
    )


def _show(title: str, data: dict[str, Any], keys: tuple[str, ...]) -> None:
    print(title)
    for k in keys:
        if k in data:
            print(f"  {k}: {json.dumps(data[k], ensure_ascii=False)}")


def _prepare(args: argparse.Namespace) -> int:
    from rrm_eval.training import PrepareConfig, run_prepare

    cfg = PrepareConfig(
        data=args.data,
        hub_name=args.hub_name,
        split=args.split,
        judge=args.judge,
        seed=args.seed,
        both_orders=args.both_orders,
        limit=args.limit,
        skip_bad_rows=args.skip_bad_rows,
    )
    stats = run_prepare(cfg, args.out)
    _show(f"prepared {args.out}", stats, ("rows_read", "pairs_kept", "rows_written", "dropped", "multi_turn_pairs"))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from rrm_eval.training import ReasonConfig, as_spec, run_generate_reasons

    cfg = ReasonConfig(
        teacher=as_spec(args.teacher),
        model_options=model_options(args),
        k=args.k,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        prompt_file=args.prompt_file,
        limit=args.limit,
    )
    stats = run_generate_reasons(cfg, args.data, args.out, progress_factory(args.quiet, unit="prompt"))
    _show(f"reasons in {args.out}", stats, ("rows", "records", "written", "reused", "finish_reasons"))
    return 0


def _score(args: argparse.Namespace) -> int:
    from rrm_eval.training import SelectConfig, as_spec, run_score_reasons

    cfg = SelectConfig(
        student=as_spec(args.student),
        model_options=model_options(args),
        template=args.template,
        formula=args.formula,
        threshold=args.threshold,
        use_default_threshold=not args.no_threshold,
        verdict_span=args.verdict_span,
        keep_truncated=args.keep_truncated,
    )
    stats = run_score_reasons(cfg, args.data, args.reasons, args.out, progress_factory(args.quiet, unit="reason"))
    _show(
        f"SFT rows in {args.out}/sft.jsonl",
        stats,
        ("rows_in", "rows_kept", "rows_dropped", "samples_dropped", "reasons_scored", "score_errors", "layout"),
    )
    sel = stats["selection"]
    print(f"  selection: formula={sel['formula']} threshold={sel['threshold_applied']} span={sel['verdict_span']}")
    return 0


def _sft(args: argparse.Namespace) -> int:
    from rrm_eval.training import run_sft

    info = run_sft(_train_config(args, args.mode), args.data)
    _print_training(args.out, info)
    return 0


def _dpo(args: argparse.Namespace) -> int:
    from rrm_eval.training import run_dpo

    info = run_dpo(_train_config(args, "dpo"), args.data)
    _print_training(args.out, info)
    return 0


def _print_training(out: str, info: dict[str, Any]) -> None:
    hist = info.get("loss_history", [])
    first, last = (hist[0]["loss"], hist[-1]["loss"]) if hist else (None, None)
    _show(f"checkpoint {out}", info, ("mode", "layout", "data", "dropped", "train"))
    print(f"  loss: first {first} -> last {last}")
    print(f"  evaluate: rrm-eval pairwise --model hf:{out} --judge {_judge_for(info)}")


def _judge_for(info: dict[str, Any]) -> str:
    return "skywork-critic" if info.get("mode") == "genrm" else "reasongenrm"


def _dpo_data(args: argparse.Namespace) -> int:
    from rrm_eval.training import DPODataConfig, as_spec, run_dpo_data

    cfg = DPODataConfig(
        model=as_spec(args.model),
        model_options=model_options(args),
        k=args.k,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        strategy=args.strategy,
        rank_by=args.rank_by,
        correct_by=args.correct_by,
        verdict_span=args.verdict_span,
        keep_truncated=args.keep_truncated,
        limit=args.limit,
    )
    stats = run_dpo_data(cfg, args.data, args.out, progress_factory(args.quiet, unit="prompt"))
    _show(f"DPO pairs in {args.out}/dpo.jsonl", stats, ("rows_in", "pairs", "rows_dropped", "samples_dropped",
                                                         "samples_unpaired", "correct_rate"))  # fmt: skip
    return 0


def _export(args: argparse.Namespace) -> int:
    from rrm_eval._errors import RRMError
    from rrm_eval.training import get_layout, layout_for_tokenizer, run_export

    if args.max_len < 1:
        raise RRMError(f"--max-len must be at least 1, got {args.max_len}")
    if args.template:
        layout = get_layout(args.template)
    elif args.model:
        from rrm_eval.training._trainer import load_tokenizer

        layout = layout_for_tokenizer(load_tokenizer(args.model))
    else:
        raise RRMError("export needs the chat layout", hint="pass --template chatml|llama3 or --model PATH")
    manifest = run_export(
        args.format,
        layout,
        args.out,
        sft=args.sft,
        dpo=args.dpo,
        mode=args.mode,
        model=args.model or "MODEL",
        sft_model=args.sft_model,
        max_len=args.max_len,
    )
    for name, path in manifest["files"].items():
        print(f"{name} data: {path}")
    for name, cmd in manifest["commands"].items():
        print(f"\n# OpenRLHF {name}:\n{cmd}")
    print("\nnotes:\n" + "\n".join(f"- {n}" for n in manifest["notes"]))
    return 0

"""What SFT and DPO share: the recipe settings, their mapping onto TRL/transformers arguments, model and tokenizer
loading for training, and the dataset wrapper. TRL, datasets and accelerate are imported lazily (``[train]`` extra).

Batching: ``global_batch`` = micro batch x gradient-accumulation steps x number of processes (``WORLD_SIZE`` under
accelerate / torchrun / deepspeed), so the recipe's global batch of 128 holds on one GPU or many.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError, require

from ._checkpoint import check_trainable, spec_path

LOSS_REDUCTIONS = ("sample", "token")


@dataclass(frozen=True)
class TrainConfig:
    """Recipe defaults are the seeds' SFT recipe (REFERENCE.md): lr 5e-6, 2 epochs, global batch 128, cosine decay to
    0.1 x lr, 3 % warmup, bf16 on GPU. DPO overrides lr / epochs and adds beta (see ``DPO_DEFAULTS``).

    ``loss_reduction``: ``sample`` = mean over each sample's trainable tokens, then mean over the samples of the
    global batch (OpenRLHF 0.5 with micro-batch 1, the seed's runs); ``token`` = one mean over all trainable tokens of
    the accumulation window (TRL 1.x / transformers 5 default). Long reasons weigh more under ``token``."""

    model: str
    out: str
    mode: str = "reasongenrm"  # reasongenrm | genrm (sft); dpo sets "dpo"
    template: str = "auto"
    learning_rate: float = 5e-6
    epochs: float = 2.0
    global_batch: int = 128
    micro_batch: int = 1
    min_lr_ratio: float = 0.1
    warmup_ratio: float = 0.03
    max_length: int = 4096
    loss_reduction: str = "sample"
    beta: float = 0.1
    bf16: bool | None = None  # None = on when a CUDA GPU is there
    gradient_checkpointing: bool | None = None  # None = on for GPU (memory), off on CPU (speed)
    seed: int = 0
    max_steps: int | None = None
    logging_steps: int = 1
    deepspeed: str | None = None
    attn_implementation: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.loss_reduction not in LOSS_REDUCTIONS:
            raise RRMError(
                f"unknown loss reduction {self.loss_reduction!r}", hint=f"use {' or '.join(LOSS_REDUCTIONS)}"
            )
        if self.global_batch < 1 or self.micro_batch < 1:
            raise RRMError("--global-batch and --micro-batch must be at least 1")
        check_trainable(self.model)
        positive = {"--lr": self.learning_rate, "--epochs": self.epochs, "--beta": self.beta}
        for flag, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise RRMError(f"{flag} must be a positive number, got {value}")
        for flag, value in (("--min-lr-ratio", self.min_lr_ratio), ("--warmup-ratio", self.warmup_ratio)):
            if not 0 <= value <= 1:
                raise RRMError(f"{flag} must be in [0, 1], got {value}")
        for flag, count in (("--max-length", self.max_length), ("--logging-steps", self.logging_steps),
                            ("--max-steps", self.max_steps)):  # fmt: skip
            if count is not None and count < 1:
                raise RRMError(f"{flag} must be at least 1, got {count}")


DPO_DEFAULTS = {"learning_rate": 5e-7, "epochs": 1.0, "beta": 0.1}


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def accumulation_steps(cfg: TrainConfig) -> int:
    per_step = cfg.micro_batch * world_size()
    if cfg.global_batch % per_step:
        raise RRMError(
            f"--global-batch {cfg.global_batch} is not a multiple of micro batch {cfg.micro_batch} x {world_size()} "
            "process(es)",
            hint="pick a global batch divisible by micro batch x GPUs",
        )
    return cfg.global_batch // per_step


def on_gpu() -> bool:
    torch = require("torch", "train", "training")
    return bool(torch.cuda.is_available())


def trainer_arguments(cfg: TrainConfig) -> dict[str, Any]:
    """Keyword arguments shared by SFTConfig and DPOConfig."""
    gpu = on_gpu()
    bf16 = gpu if cfg.bf16 is None else cfg.bf16
    if bf16 and not gpu:
        raise RRMError("bf16 training needs a GPU here", hint="drop --bf16 on CPU machines")
    ckpt = gpu if cfg.gradient_checkpointing is None else cfg.gradient_checkpointing
    args: dict[str, Any] = dict(
        output_dir=str(Path(cfg.out)),
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.micro_batch,
        gradient_accumulation_steps=accumulation_steps(cfg),
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": cfg.min_lr_ratio},
        warmup_steps=cfg.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps (transformers 5)
        bf16=bf16,
        use_cpu=not gpu,
        report_to="none",
        logging_steps=cfg.logging_steps,
        save_strategy="no",
        seed=cfg.seed,
        max_length=None,  # over-long rows are dropped (counted) before training, never truncated
    )
    args[_checkpointing_field()] = ckpt
    if cfg.max_steps:
        args["max_steps"] = cfg.max_steps
    if cfg.deepspeed:
        args["deepspeed"] = cfg.deepspeed
    args.update(cfg.extra)
    return args


def _checkpointing_field() -> str:
    """transformers 5.2x renamed ``gradient_checkpointing`` to ``activation_checkpointing`` (the old name warns)."""
    import dataclasses

    transformers = require("transformers", "train", "training")
    names = {f.name for f in dataclasses.fields(transformers.TrainingArguments)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def load_tokenizer(model: str) -> Any:
    transformers = require("transformers", "train", "training")
    path = spec_path(model)
    try:
        tok = transformers.AutoTokenizer.from_pretrained(str(path))
    except OSError as exc:
        raise RRMError(f"cannot load the tokenizer of {model!r}: {str(exc).splitlines()[0]}") from exc
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token  # pads carry label -100 / mask 0, so any id will do
    return tok


def load_for_training(model: str, cfg: TrainConfig) -> Any:
    """The weights to train (float32 master weights; bf16 runs under autocast)."""
    transformers = require("transformers", "train", "training")
    kwargs: dict[str, Any] = {"dtype": "float32"}
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    try:
        return transformers.AutoModelForCausalLM.from_pretrained(str(spec_path(model)), **kwargs)
    except OSError as exc:
        raise RRMError(f"cannot load model {model!r}: {str(exc).splitlines()[0]}") from exc


def to_dataset(examples: list[dict[str, Any]]) -> Any:
    """A ``datasets.Dataset`` over the tokenized rows, fingerprinted from their content. (``from_list`` would hash
    the Arrow table with dill, which is slow on large sets and fails on some Python 3.12 + pyarrow builds.)"""
    datasets = require("datasets", "train", "training")
    pa = require("pyarrow", "train", "training")
    from rrm_eval.tasks import fingerprint_rows

    table = datasets.table.InMemoryTable(pa.Table.from_pylist(examples))
    return datasets.Dataset(table, fingerprint=fingerprint_rows(examples))


def loss_history(trainer: Any) -> list[dict[str, Any]]:
    keep = ("step", "loss", "learning_rate", "grad_norm", "rewards/margins", "rewards/accuracies")
    return [{k: e[k] for k in keep if k in e} for e in trainer.state.log_history if "loss" in e]

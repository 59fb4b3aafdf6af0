"""`rrm-eval train sft`: ReasonGenRM SFT (loss on reason + end token and verdict + end token) or GenRM SFT (verdict
+ end token only), on TRL's SFTTrainer.

Labels are built explicitly from the layout's segments (``_layout.encode_segments``) and handed to TRL as a
``labels`` column, which TRL 1.x keeps as is -- the pitfall of older collators that rebuilt labels from
``input_ids`` and trained on the whole judge prompt (REFERENCE.md) cannot happen. The saved checkpoint carries the
reason (or GenRM) chat template with ``{% generation %}`` spans and the ``rrm_training.json`` marker.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError, require
from rrm_eval.tasks import fingerprint_rows

from ._checkpoint import save_checkpoint_files
from ._io import read_dataset
from ._layout import TRAIN_SPANS, ChatLayout, LayoutError, encode_segments, layout_for_tokenizer
from ._trainer import (
    TrainConfig,
    load_for_training,
    load_tokenizer,
    loss_history,
    to_dataset,
    trainer_arguments,
)

VERDICTS = ("[[A]]", "[[B]]")
MODES = ("reasongenrm", "genrm")


def sft_example(row: dict[str, Any], layout: ChatLayout, tokenizer: Any, mode: str) -> dict[str, Any]:
    """``input_ids`` + explicit ``labels`` of one row (raises LayoutError / RRMError for unusable rows)."""
    verdict = (row.get("response") or row.get("target") or "").strip()
    if verdict not in VERDICTS:
        raise RRMError(f"row {row.get('id')}: verdict {verdict!r} is not one of {VERDICTS}")
    reason = None
    if mode == "reasongenrm":
        reason = (row.get("reason") or "").strip()
        if not reason:
            raise LayoutError(f"row {row.get('id')}: empty reason")
    enc = encode_segments(tokenizer, layout.segments(row["messages"], verdict, reason), layout)
    labels = enc.labels(TRAIN_SPANS[mode])
    return {"input_ids": enc.input_ids, "labels": labels}


def build_sft_examples(
    rows: list[dict[str, Any]], layout: ChatLayout, tokenizer: Any, mode: str, max_length: int
) -> tuple[list[dict[str, Any]], Counter[str]]:
    dropped: Counter[str] = Counter()
    out = []
    for row in rows:
        try:
            ex = sft_example(row, layout, tokenizer, mode)
        except LayoutError as exc:
            dropped["empty_reason" if "empty reason" in exc.message else "tokenization_boundary"] += 1
            continue
        if len(ex["input_ids"]) > max_length:
            dropped["too_long"] += 1
            continue
        out.append(ex)
    return out, dropped


def _sft_trainer_class() -> type:
    trl = require("trl", "train", "SFT training")
    torch = require("torch", "train", "SFT training")

    class ReasonSFTTrainer(trl.SFTTrainer):
        """SFTTrainer with a choice of loss reduction (per token, TRL's own; or per sample, OpenRLHF's)."""

        loss_reduction = "token"

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if self.loss_reduction == "token" or return_outputs:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            inputs["use_cache"] = False
            outputs = model(**inputs, fused_lm_head=True)  # TRL's fused head: per-token log-probs, no full logits
            tokens = outputs.label_mask.sum(dim=1)
            per_sample = -outputs.log_probs.sum(dim=1) / tokens.clamp(min=1)
            loss = per_sample.sum() / max(1, per_sample.numel())
            # Mirror Trainer.training_step: when it treats the loss as already scaled for gradient accumulation it
            # does not divide by the steps, so we do; DDP then averages the per-rank means.
            scaled = self.loss_is_scaled_for_ga
            if scaled is None:
                scaled = (self.model_accepts_loss_kwargs and num_items_in_batch is not None) or (
                    self.compute_loss_func is not None
                )
            if scaled:
                loss = loss / self.current_gradient_accumulation_steps
            return loss if torch.is_tensor(loss) else torch.tensor(loss)

    return ReasonSFTTrainer


def run_sft(cfg: TrainConfig, data: str, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """``callbacks``: extra transformers TrainerCallbacks (benchmarks time the steps with one)."""
    if cfg.mode not in MODES:
        raise RRMError(f"unknown SFT mode {cfg.mode!r}", hint="use reasongenrm or genrm")
    need = ("id", "messages", "reason", "response") if cfg.mode == "reasongenrm" else ("id", "messages")
    rows = read_dataset(data, need, "sft")
    tokenizer = load_tokenizer(cfg.model)
    layout = layout_for_tokenizer(tokenizer, cfg.template)
    examples, dropped = build_sft_examples(rows, layout, tokenizer, cfg.mode, cfg.max_length)
    if not examples:
        raise RRMError(f"{data}: no trainable row (dropped: {dict(dropped)})")
    trl = require("trl", "train", "SFT training")
    args = trl.SFTConfig(**trainer_arguments(cfg), dataset_num_proc=None)
    model = load_for_training(cfg.model, cfg)
    trainer_cls = _sft_trainer_class()
    trainer = trainer_cls(
        model=model, args=args, train_dataset=to_dataset(examples), processing_class=tokenizer, callbacks=callbacks
    )
    trainer.loss_reduction = cfg.loss_reduction
    result = trainer.train()
    out = Path(cfg.out)
    trainer.save_model(str(out))
    info = {
        "base_model": cfg.model,
        "recipe": asdict(cfg),
        "data": {"path": str(data), "fingerprint": fingerprint_rows(rows), "rows": len(rows), "trained": len(examples)},
        "dropped": dict(dropped),
        "trainable_tokens": sum(sum(1 for x in e["labels"] if x != -100) for e in examples),
        "tokens": sum(len(e["input_ids"]) for e in examples),
        "train": {"steps": trainer.state.global_step, "runtime_s": result.metrics.get("train_runtime")},
        "loss_history": loss_history(trainer),
    }
    if not trainer.is_world_process_zero():  # one writer under multi-GPU launches
        return info
    return save_checkpoint_files(out, tokenizer, trainer.model, layout, cfg.mode, info)

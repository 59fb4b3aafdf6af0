"""`rrm-eval train dpo`: DPO on the reasoning span only, on TRL's DPOTrainer.

TRL's preference collator marks every completion token as trainable; the seed's DPO computes the log-probs over the
reasoning only (REFERENCE.md pitfall). So the rows are tokenized here from the layout (prompt = everything before the
reason; completion = reason + end token + assistant header + verdict + end token) with an explicit loss mask per
completion (1 on reason + its end token, 0 on header and verdict), and ``ReasonOnlyPreferenceCollator`` hands that
mask to the loss as TRL's ``completion_mask``. The rejected verdict is the flipped label (built by ``dpo-data``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError, require
from rrm_eval.tasks import fingerprint_rows

from ._checkpoint import read_marker, save_checkpoint_files
from ._io import read_dataset
from ._layout import TRAIN_SPANS, ChatLayout, LayoutError, encode_segments, get_layout
from ._trainer import (
    TrainConfig,
    load_for_training,
    load_tokenizer,
    loss_history,
    to_dataset,
    trainer_arguments,
)

PAIR_FIELDS = ("id", "messages", "chosen", "rejected")
MASK_COLUMNS = ("chosen_loss_mask", "rejected_loss_mask")


def dpo_example(pair: dict[str, Any], layout: ChatLayout, tokenizer: Any) -> dict[str, Any]:
    sides = {}
    for side in ("chosen", "rejected"):
        part = pair[side]
        reason = (part.get("reason") or "").strip()
        if not reason:
            raise LayoutError(f"pair {pair['id']}: empty {side} reason")
        enc = encode_segments(tokenizer, layout.segments(pair["messages"], part["verdict"], reason), layout)
        n_prompt = sum(1 for k in enc.kinds if k == "context")
        sides[side] = (enc.input_ids[:n_prompt], enc.input_ids[n_prompt:], enc.mask(TRAIN_SPANS["dpo"])[n_prompt:])
    (p_c, chosen, m_c), (p_r, rejected, m_r) = sides["chosen"], sides["rejected"]
    if p_c != p_r:
        raise LayoutError(f"pair {pair['id']}: chosen and rejected prompts tokenize differently")
    return {
        "prompt_ids": p_c,
        "chosen_ids": chosen,
        "rejected_ids": rejected,
        "chosen_loss_mask": m_c,
        "rejected_loss_mask": m_r,
    }


def build_dpo_examples(
    pairs: list[dict[str, Any]], layout: ChatLayout, tokenizer: Any, max_length: int
) -> tuple[list[dict[str, Any]], Counter[str]]:
    dropped: Counter[str] = Counter()
    out = []
    for pair in pairs:
        try:
            ex = dpo_example(pair, layout, tokenizer)
        except LayoutError as exc:
            dropped["empty_reason" if "empty" in exc.message else "tokenization_boundary"] += 1
            continue
        longest = len(ex["prompt_ids"]) + max(len(ex["chosen_ids"]), len(ex["rejected_ids"]))
        if longest > max_length:
            dropped["too_long"] += 1
            continue
        out.append(ex)
    return out, dropped


def _trl_classes() -> tuple[type, type]:
    trl = require("trl", "train", "DPO training")
    torch = require("torch", "train", "DPO training")
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    class ReasonOnlyPreferenceCollator(DataCollatorForPreference):
        """TRL's preference collator, with ``completion_mask`` replaced by the rows' reasoning-only loss masks."""

        def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
            out = super().torch_call(examples)
            width = out["completion_mask"].shape[1]
            rows = []
            for side in ("chosen", "rejected"):  # TRL stacks [all chosen, all rejected]
                for ex in examples:
                    m = [0] * len(ex["prompt_ids"]) + list(ex[f"{side}_loss_mask"])
                    rows.append(m[:width] + [0] * (width - len(m)))
            out["completion_mask"] = torch.tensor(rows, dtype=out["completion_mask"].dtype)
            return out

    class ReasonDPOTrainer(trl.DPOTrainer):
        """DPOTrainer over rows tokenized by the layout (its own tokenization step is skipped)."""

        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            self._signature_columns = list(dict.fromkeys([*self._signature_columns, *MASK_COLUMNS]))

    return ReasonDPOTrainer, ReasonOnlyPreferenceCollator


def run_dpo(cfg: TrainConfig, data: str, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """``callbacks``: extra transformers TrainerCallbacks (benchmarks time the steps with one)."""
    marker = read_marker(cfg.model, want="reason")
    layout = get_layout(marker["layout"])
    pairs = read_dataset(data, PAIR_FIELDS, "dpo")
    tokenizer = load_tokenizer(cfg.model)
    examples, dropped = build_dpo_examples(pairs, layout, tokenizer, cfg.max_length)
    if not examples:
        raise RRMError(f"{data}: no trainable pair (dropped: {dict(dropped)})")
    trl = require("trl", "train", "DPO training")
    args = trl.DPOConfig(**trainer_arguments(cfg), beta=cfg.beta, dataset_num_proc=None)
    trainer_cls, collator_cls = _trl_classes()
    model = load_for_training(cfg.model, cfg)
    ref_model = load_for_training(cfg.model, cfg)  # the SFT policy, frozen
    collator = collator_cls(pad_token_id=tokenizer.pad_token_id)
    trainer = trainer_cls(
        model=model,
        ref_model=ref_model,
        args=args,
        data_collator=collator,
        train_dataset=to_dataset(examples),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    result = trainer.train()
    out = Path(cfg.out)
    trainer.save_model(str(out))
    info = {
        "base_model": cfg.model,
        "sft_marker": {k: marker.get(k) for k in ("mode", "base_model", "recipe")},
        "recipe": asdict(cfg),
        "data": {
            "path": str(data),
            "fingerprint": fingerprint_rows(pairs),
            "pairs": len(pairs),
            "trained": len(examples),
        },
        "dropped": dict(dropped),
        "train": {"steps": trainer.state.global_step, "runtime_s": result.metrics.get("train_runtime")},
        "loss_history": loss_history(trainer),
    }
    if not trainer.is_world_process_zero():
        return info
    return save_checkpoint_files(out, tokenizer, trainer.model, layout, "reasongenrm-dpo", info)

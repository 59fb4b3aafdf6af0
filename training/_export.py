"""`rrm-eval train export --format openrlhf`: the SFT / DPO datasets in the fields OpenRLHF's trainers read, and the
matching command lines (OpenRLHF itself needs CUDA and flash-attn; it does not install on CPU machines).

OpenRLHF (``openrlhf.cli.train_sft`` / ``train_dpo``, read in its ``datasets/sft_dataset.py`` and
``reward_dataset.py``) takes pre-rendered text when ``--apply_chat_template`` is off: SFT rows ``input`` (prompt,
no loss) + ``output`` (loss on every output token), DPO rows ``prompt`` + ``chosen`` + ``rejected``. It strips a
trailing newline and appends ``eos_token`` unless the text already ends with it, so the tokenizer's eos must be the
layout's end-of-turn token. The SFT rows also carry seed 000's ``prompt`` / ``reason`` / ``response`` fields.

Where stock OpenRLHF differs from ``rrm-eval train sft|dpo`` (printed with the commands):
* SFT: the assistant header between the reason and the verdict (about 4 tokens) is part of ``output`` and gets loss;
* DPO: log-probs cover the whole completion, verdict included, not the reasoning only.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError

from ._io import read_dataset, write_json, write_jsonl
from ._layout import ChatLayout
from ._scoring import FLIPPED

FORMATS = ("openrlhf",)
NOTES = [
    "SFT: stock OpenRLHF puts loss on the whole `output`, so the assistant header between reason and verdict "
    "(~4 tokens) is trained too; `rrm-eval train sft` masks it.",
    "DPO: stock OpenRLHF scores the whole completion (verdict included); `rrm-eval train dpo` uses the reasoning only.",
    "OpenRLHF appends the tokenizer's eos_token to text that does not end with it: make eos the end-of-turn token.",
]


def sft_rows(rows: list[dict[str, Any]], layout: ChatLayout, mode: str) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        verdict = (r.get("response") or r.get("target") or "").strip()
        if verdict not in FLIPPED:
            raise RRMError(f"row {r.get('id')}: verdict {verdict!r} is not [[A]] or [[B]]")
        user = r["messages"][-1]["content"]
        if mode == "genrm":
            prompt, output, reason = layout.genrm_prompt(r["messages"]), verdict + layout.end, None
        else:
            reason = (r.get("reason") or "").strip()
            if not reason:
                raise RRMError(f"row {r.get('id')}: empty reason", hint="export the sft.jsonl of score-reasons")
            prompt = layout.reason_prompt(r["messages"])
            output = reason + layout.end + layout.sep + layout.header("assistant") + verdict + layout.end
        out.append(
            {"id": r["id"], "input": prompt, "output": output, "prompt": user, "reason": reason, "response": verdict}
        )
    return out


def dpo_rows(pairs: list[dict[str, Any]], layout: ChatLayout) -> list[dict[str, Any]]:
    def completion(side: dict[str, Any]) -> str:
        return (
            side["reason"].strip() + layout.end + layout.sep + layout.header("assistant") + side["verdict"] + layout.end
        )

    return [
        {
            "id": p["id"],
            "prompt": layout.reason_prompt(p["messages"]),
            "chosen": completion(p["chosen"]),
            "rejected": completion(p["rejected"]),
        }
        for p in pairs
    ]


def _cmd(module: str, args: list[tuple[str, Any]], flags: list[str]) -> str:
    parts = ["deepspeed", "--module", module]
    for k, v in args:
        parts += [f"--{k}", str(v)]
    parts += [f"--{f}" for f in flags]
    return " ".join(shlex.quote(p) for p in parts)


def run_export(
    fmt: str,
    layout: ChatLayout,
    out: str | Path,
    sft: str | None = None,
    dpo: str | None = None,
    mode: str = "reasongenrm",
    model: str = "MODEL",
    sft_model: str = "SFT_CHECKPOINT",
    max_len: int = 4096,
) -> dict[str, Any]:
    if fmt not in FORMATS:
        raise RRMError(f"unknown export format {fmt!r}", hint=f"use {', '.join(FORMATS)}")
    if not sft and not dpo:
        raise RRMError("nothing to export", hint="pass --sft DATA.jsonl and/or --dpo DPO.jsonl")
    out = Path(out)
    common = [("input_template", "{}"), ("max_len", max_len), ("train_batch_size", 128), ("micro_train_batch_size", 1)]
    flags = ["bf16", "flash_attn", "gradient_checkpointing"]
    manifest: dict[str, Any] = {"format": fmt, "layout": layout.name, "notes": NOTES, "files": {}, "commands": {}}
    if sft:
        rows = sft_rows(read_dataset(sft, ("id", "messages"), "export"), layout, mode)
        path = out / "openrlhf_sft.jsonl"
        write_jsonl(path, rows)
        manifest["files"]["sft"] = str(path)
        manifest["commands"]["sft"] = _cmd(
            "openrlhf.cli.train_sft",
            [("pretrain", model), ("dataset", path), ("input_key", "input"), ("output_key", "output"), *common,
             ("max_epochs", 2), ("learning_rate", 5e-6), ("lr_warmup_ratio", 0.03),
             ("lr_scheduler", "cosine_with_min_lr"), ("zero_stage", 3), ("save_path", out / "sft_checkpoint")],
            flags,
        )  # fmt: skip
    if dpo:
        rows = dpo_rows(read_dataset(dpo, ("id", "messages", "chosen", "rejected"), "export"), layout)
        path = out / "openrlhf_dpo.jsonl"
        write_jsonl(path, rows)
        manifest["files"]["dpo"] = str(path)
        manifest["commands"]["dpo"] = _cmd(
            "openrlhf.cli.train_dpo",
            [("pretrain", sft_model), ("dataset", path), ("prompt_key", "prompt"), ("chosen_key", "chosen"),
             ("rejected_key", "rejected"), *common, ("max_epochs", 1), ("learning_rate", 5e-7), ("beta", 0.1),
             ("zero_stage", 3), ("save_path", out / "dpo_checkpoint")],
            flags,
        )  # fmt: skip
    write_json(out / "export.json", manifest)
    return manifest

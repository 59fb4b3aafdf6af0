"""Checkpoints made by `rrm-eval train sft|dpo`: the reason (or GenRM) chat template and a marker file.

A checkpoint must carry the template it was trained with: loaded with the base model's ordinary template it would
render ``user -> assistant`` and never open the reason turn. So ``save_checkpoint_files`` writes the template into
the tokenizer (``chat_template``), adds the end-of-turn token to the generation stop ids, and writes
``rrm_training.json``; ``read_marker`` refuses a folder without them, with a message that says why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.runs import provenance, write_json

from ._layout import MARKER_TEXT, ChatLayout, get_layout

MARKER = "rrm_training.json"
FORMAT = "rrm-eval/judge-checkpoint@1"


#: Whole-spec names of the embedded model (a transformers folder converted from the packaged GGUF).
_EMBEDDED = ("smollm2", "default", "embedded")


def _prefix(model: str) -> str | None:
    """The backend prefix of a spec (``hf`` of ``hf:PATH``), None for a bare path or hub id."""
    head = model.split("/")[0]
    return model.split(":", 1)[0] if ":" in head else None


def check_trainable(model: str, flag: str = "--model") -> None:
    """Refuse, with a clear message, a spec that names no transformers checkpoint (training loads the weights with
    transformers: ``hf:PATH``, a bare local folder or hub id, or the embedded ``smollm2``)."""
    if model.strip() in _EMBEDDED:
        return
    prefix = _prefix(model.strip())
    if prefix not in (None, "hf"):
        raise RRMError(
            f"{flag} {model!r}: this step loads transformers weights (to train them, or to read the checkpoint's "
            f"{MARKER} and reason template), and {prefix}: names another backend, not a transformers checkpoint",
            hint=f"pass {flag} hf:PATH, a local checkpoint folder, a hub id or smollm2; {prefix}: models can write "
            "reasons (`train generate-reasons --teacher`), score them (`train score-reasons --student`) and sample "
            "on-policy reasons (`train dpo-data --model`)",
        )


def spec_path(model: str, flag: str = "--model") -> Path:
    """``hf:PATH`` or ``PATH`` -> PATH; ``smollm2`` -> its converted folder (training loads weights from a local
    folder or a hub id). Any other backend prefix is a clear :class:`RRMError` naming ``flag``."""
    model = model.strip()
    check_trainable(model, flag)
    if model in _EMBEDDED:
        from rrm_eval.models._embedded import converted_folder

        return converted_folder()
    return Path(model.split(":", 1)[1] if _prefix(model) == "hf" else model)


def as_spec(model: str) -> str:
    """A local folder given without a backend prefix is an ``hf:`` spec."""
    return f"hf:{model}" if _prefix(model) is None and Path(model).exists() else model


def save_checkpoint_files(
    out: Path, tokenizer: Any, model: Any, layout: ChatLayout, mode: str, info: dict[str, Any]
) -> dict[str, Any]:
    """Write template, generation stop ids and the marker next to the weights the trainer saved."""
    kind = "genrm" if mode == "genrm" else "reason"
    tokenizer.chat_template = layout.template(kind)
    tokenizer.save_pretrained(out)
    end_id = tokenizer.convert_tokens_to_ids(layout.end)
    gen = model.generation_config
    eos = gen.eos_token_id
    eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
    if end_id not in eos_ids:
        eos_ids.insert(0, end_id)  # generation (phase 1 too) stops at the end of a turn
    gen.eos_token_id = eos_ids if len(eos_ids) > 1 else eos_ids[0]
    if gen.pad_token_id is None:
        gen.pad_token_id = tokenizer.pad_token_id
    gen.save_pretrained(out)
    marker = {
        "format": FORMAT,
        "mode": mode,
        "template": kind,
        "layout": layout.name,
        "end_of_turn": layout.end,
        "reason_role": "reason" if kind == "reason" else None,
        **info,
        "provenance": provenance(),
    }
    write_json(out / MARKER, marker)
    return marker


def read_marker(model: str, want: str | None = None, flag: str = "--model") -> dict[str, Any]:
    """The marker of a checkpoint folder; ``want="reason"`` also requires the reason template."""
    path = spec_path(model, flag)
    marker_file = path / MARKER
    if not marker_file.is_file():
        raise RRMError(
            f"{flag} {path} has no {MARKER}: it is not a checkpoint saved by `rrm-eval train sft` or `train dpo`, so "
            "it does not carry the reason chat template (user -> reason -> assistant)",
            hint="train it with `rrm-eval train sft`, or pass a checkpoint folder that `train sft` wrote",
        )
    try:
        marker = json.loads(marker_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RRMError(f"{marker_file} is not valid JSON: {exc}") from exc
    if marker.get("format") != FORMAT:
        raise RRMError(f"{marker_file}: unknown format {marker.get('format')!r}", hint=f"expected {FORMAT}")
    get_layout(marker.get("layout", "?"))
    tok_cfg = path / "tokenizer_config.json"
    template = ""
    for f in (path / "chat_template.jinja", tok_cfg):
        if f.is_file():
            text = f.read_text(encoding="utf-8")
            template = text if f.suffix == ".jinja" else json.loads(text).get("chat_template") or ""
            if template:
                break
    if MARKER_TEXT not in template and "rrm-eval GenRM template" not in template:
        raise RRMError(
            f"{path}: the tokenizer's chat template is not the rrm-eval {marker.get('template')} template (was it "
            "overwritten?)",
            hint="re-save the tokenizer with the template from training/templates/ (package rrm_eval.training)",
        )
    if want and marker.get("template") != want:
        raise RRMError(
            f"{path} is a {marker.get('mode')} checkpoint (template {marker.get('template')!r}), not a {want} one",
            hint="on-policy DPO needs a ReasonGenRM SFT checkpoint (`rrm-eval train sft --mode reasongenrm`)",
        )
    return marker

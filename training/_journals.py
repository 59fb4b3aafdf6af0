"""What the model-calling training steps share about their journals (all of them are :class:`rrm_eval.runs.Run`).

* Identity: a step's ``spec["fingerprint"]`` is :func:`rrm_eval.runs.run_identity` of everything that changes its
  records -- :func:`rrm_eval.runs.model_identity` (execution-only options left out), sampling settings, prompt text,
  checkpoint marker -- and ``spec["inputs"]``, the :func:`rrm_eval.runs.file_fingerprint` of every file the step
  reads. A regenerated input is a new identity, so the step refuses its old ``--out`` instead of mixing records.
* :func:`check_out` says *which* input or setting changed before the run opens (the Run's ``check_resumable`` is the
  backstop), naming the ``--out`` to change.
* :func:`load_samples` groups a sample journal (:class:`rrm_eval.runs.SampleRecord` lines) by prompt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.models import SamplingParams
from rrm_eval.runs import IDENTITY_VERSION, RECORDS, SPEC, ProgressFactory, load_records, read_json

Progress = ProgressFactory | None  # ``progress(total, done)`` -> ``advance(n)``: the CLI's progress bar

#: spec.json keys that are bookkeeping, not settings (never named as "what changed").
_NOT_SETTINGS = frozenset({"fingerprint", "identity_version", "provenance", "inputs", "layout"})


def sampling_settings(params: SamplingParams) -> dict[str, Any]:
    return {k: v for k, v in asdict(params).items() if k != "stop"}


def check_out(out: Path, spec: Mapping[str, Any], step: str, inputs: Mapping[str, str] | None = None) -> dict | None:
    """The spec.json already in ``out`` when it may be resumed with ``spec`` (None when there is none); a clear
    :class:`RRMError` naming what changed when it may not. ``inputs``: input name -> the path it was read from."""
    path = Path(out) / SPEC
    if not path.is_file():
        return None
    old = read_json(path)
    if not isinstance(old, dict):
        return None  # RunJournal.open says it is not a run spec
    hint = f"pass another --out (or delete {out}) to run `train {step}` again; to resume it, use the inputs and "
    hint += "settings its spec.json lists"
    if old.get("identity_version") != IDENTITY_VERSION:
        raise RRMError(
            f"{out} holds a `train {step}` journal made by an earlier rrm-eval, whose fingerprint did not cover the "
            "step's inputs: adding records to it could mix records made from other data",
            hint=hint,
        )
    if old.get("fingerprint") == spec.get("fingerprint"):
        return old
    old_inputs, new_inputs = old.get("inputs") or {}, spec.get("inputs") or {}
    changed = []
    for name in sorted(set(old_inputs) | set(new_inputs)):
        if old_inputs.get(name) != new_inputs.get(name):
            where = f" ({(inputs or {}).get(name)})" if (inputs or {}).get(name) else ""
            changed.append(f"the {name} input{where} is not the one it was made from")
    settings = sorted(
        k for k in set(old) | set(spec) if k not in _NOT_SETTINGS and _setting(old.get(k)) != _setting(spec.get(k))
    )
    if settings:
        changed.append(f"other settings ({', '.join(settings)})")
    what = "; ".join(changed) or "other settings"
    raise RRMError(
        f"{out} holds a `train {step}` journal made with other inputs or settings: {what} (fingerprint "
        f"{old.get('fingerprint')} != {spec.get('fingerprint')}); resuming it would mix records",
        hint=hint,
    )


def _setting(value: Any) -> Any:
    """A spec section as a setting: what the run learned about its model once loaded (``resolved``) is no setting."""
    if isinstance(value, dict) and "resolved" in value:
        value = {k: v for k, v in value.items() if k != "resolved"}
    return value or None


def load_samples(out: Path) -> dict[str, list[dict[str, Any]]]:
    """prompt (row) id -> its :class:`~rrm_eval.runs.SampleRecord` dicts, by sample index."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for r in load_records(Path(out) / RECORDS, kind="sample"):
        grouped.setdefault(r["item_id"], []).append(r)
    for group in grouped.values():
        group.sort(key=lambda r: r["sample"])
    return grouped


def finish_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in records:
        out[r["finish_reason"]] = out.get(r["finish_reason"], 0) + 1
    return out

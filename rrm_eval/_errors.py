"""User-facing errors: every mistake a user can make ends in one of these, never a bare traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from types import ModuleType


class RRMError(Exception):
    """An error caused by input or environment, reported to the user as one clear message.

    ``hint`` says what to do about it; the CLI prints ``error: <message>`` then ``hint: <hint>`` and exits 2.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UnknownNameError(RRMError):
    """A name (judge, task, backend, parser, ...) that is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        suggestion = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        super().__init__(
            f"unknown {kind} {name!r}",
            hint=f"{suggestion}valid {kind}s: {', '.join(known)}",
        )
        self.name = name


class DataError(RRMError):
    """A malformed data row: names the source, the row and the field."""

    def __init__(self, source: str, row: int | str, field: str, problem: str) -> None:
        super().__init__(
            f"{source}: row {row}: field {field!r}: {problem}",
            hint="fix or drop the row; every other row is unaffected",
        )


class MissingDependencyError(RRMError):
    """An optional heavy engine is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the {package!r} package, which is not installed",
            hint=f"pip install 'rrm-eval[{extra}]'" if extra else f"pip install {package}",
        )


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` lazily, turning ImportError into an install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(module.split(".")[0], extra, purpose) from exc


def kind_of(value: object, array: str = "a list", table: str = "an object") -> str:
    """A parsed value's kind for messages, in the file format's own words (JSON: list/object; TOML: array/table)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return array
    if isinstance(value, dict):
        return table
    return f"a {type(value).__name__}"  # e.g. TOML dates and times

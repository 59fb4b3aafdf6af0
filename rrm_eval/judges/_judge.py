"""A judge is data: prompt templates, a parser name, labels and default sampling, loaded from a TOML file.

Everything a judge file says is checked when it is loaded, not when the first prompt is rendered hours into a run:
the type of every value, the sampling ranges, the parser name, the ``prompt_from`` chain, and the templates (only
``{question}``, ``{answer_1}`` and ``{answer_2}`` may appear, ``{{`` / ``}}`` stand for literal braces, and the user
template must show both answers to the model). Every mistake is an :class:`RRMError` naming the file and the key.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

from rrm_eval._errors import RRMError, UnknownNameError, kind_of
from rrm_eval._seeding import stable_hash
from rrm_eval.judges._parsers import PARSERS, Parser
from rrm_eval.models import Message, SamplingParams

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

JudgeMode = Literal["generate", "logprob", "reason", "listwise", "rating"]
#: The judge modes a file may name. ``generate``: the model writes a verdict that ``parser`` reads; ``logprob``: the
#: likelier of ``labels`` wins; ``reason``: two-phase ReasonGenRM (protocols/_reasoning.py).
JUDGE_MODE_NAMES: tuple[JudgeMode, ...] = ("generate", "logprob", "reason", "listwise", "rating")
#: The values a template can receive (see :meth:`Judge.messages`).
PLACEHOLDERS: tuple[str, ...] = ("question", "answer_1", "answer_2")
_SHOWN_PLACEHOLDERS = ", ".join("{" + p + "}" for p in PLACEHOLDERS)

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(question|answer_1|answer_2)\}|\{[^{}\n]*\}")
# Template tokens for validation: escapes, a {name} (any text between single braces), or a lone brace.
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_ALLOWED_KEYS = (
    "name",
    "description",
    "mode",
    "parser",
    "labels",
    "system",
    "user",
    "sampling",
    "prompt_from",
    "think_end",
)
_SAMPLING_KEYS = ("temperature", "top_p", "max_new_tokens")
_TEXT_KEYS = ("name", "description", "system", "user", "parser", "mode", "prompt_from", "think_end")
_NO_PARSER = "none"  # logprob judges read no text


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
    mode: JudgeMode = "generate"
    parser: str = "none"
    labels: tuple[str, str] = ("[[A]]", "[[B]]")
    system: str | None = None
    description: str = ""
    sampling: Sampling = field(default_factory=Sampling)
    source: str = ""
    #: The text that closes the judge's thinking (``</think>`` for R1-style reasoners); a ``--think-budget`` closes
    #: the thinking with it. None: the judge has no thinking phase to budget.
    think_end: str | None = None

    def messages(self, question: str, answer_1: str, answer_2: str) -> list[Message]:
        values = {"question": question, "answer_1": answer_1, "answer_2": answer_2}

        def sub(m: re.Match[str]) -> str:
            token = m.group(0)
            if token == "{{":
                return "{"
            if token == "}}":
                return "}"
            return values[m.group(1)] if m.group(1) else token

        # One pass: text inside the answers is never re-substituted. The system template follows the same rules
        # as the user template (load_judge validates both), so a ``{{`` there is a literal brace too.
        content = _PLACEHOLDER.sub(sub, self.user)
        out: list[Message] = []
        if self.system:
            out.append({"role": "system", "content": _PLACEHOLDER.sub(sub, self.system)})
        out.append({"role": "user", "content": content})
        return out

    def sampling_params(self, seed: int, n: int = 1, **overrides: Any) -> SamplingParams:
        base: dict[str, Any] = {
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
        """The judge's whole content (templates, parser, labels, mode, default sampling): any edit of a judge file that
        can change what a record says gives a new fingerprint. Only ``source`` (where it was read from) and the
        free-text ``description`` are left out, so a copied file with the same content is the same judge."""
        content = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("source", "description")}
        if content.get("think_end") is None:  # judges without a marker keep the fingerprints they had before it
            content.pop("think_end", None)
        content["sampling"] = asdict(self.sampling)
        return stable_hash(json.dumps(content, sort_keys=True, default=str))[:12]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "parser": self.parser,
            "labels": list(self.labels),
            "sampling": self.sampling.__dict__,
            "think_end": self.think_end,
            "fingerprint": self.fingerprint,
            "source": self.source,
        }


def _builtin_dir() -> Path:
    return Path(str(resources.files("rrm_eval.judges") / "data"))


def builtin_judges() -> dict[str, Path]:
    return {p.stem: p for p in sorted(_builtin_dir().glob("*.toml"))}


def load_judge(name_or_path: str) -> Judge:
    """A built-in judge by name, or a TOML file by path."""
    return _load(name_or_path, None, ())


class _JudgeNotFound(RRMError):
    """No judge file at that path; a ``prompt_from`` re-raises it naming the file that refers to it."""


def _resolve(name_or_path: str, relative_to: Path | None) -> Path:
    """The file a judge name or path means. A ``prompt_from`` path is looked up next to the file that names it
    first, so a folder of judge files that refer to each other works from any working directory."""
    path = Path(name_or_path)
    if relative_to is not None and not path.is_absolute() and (relative_to / path).exists():
        path = relative_to / path
    if path.is_dir():
        raise _JudgeNotFound(f"judge file {name_or_path!r} is a directory", hint="give the path of a .toml judge file")
    if name_or_path.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise _JudgeNotFound(
                f"judge file {name_or_path!r} does not exist", hint="give a path to a .toml judge file"
            )
        return path
    judges = builtin_judges()
    if name_or_path not in judges:
        raise UnknownNameError("judge", name_or_path, judges)
    return judges[name_or_path]


def _load(name_or_path: str, relative_to: Path | None, chain: tuple[tuple[Path, str], ...]) -> Judge:
    """Load one judge file; ``chain`` holds the files whose ``prompt_from`` led here (a cycle never ends)."""
    try:
        path = _resolve(name_or_path, relative_to)
        key = path.resolve()
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte, ...
        raise RRMError(f"judge file {name_or_path!r} cannot be opened ({exc})", hint="check the path") from exc
    if any(seen == key for seen, _ in chain):
        names = [shown for _, shown in chain] + [path.name]
        raise RRMError(
            f"judge file {chain[0][1]}: prompt_from cycle: {' -> '.join(names)}",
            hint="a prompt_from chain must end at a judge that has its own 'user' template",
        )
    return _from_file(path, (*chain, (key, path.name)))


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    return f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""


def _kind(value: Any) -> str:
    return kind_of(value, array="an array", table="a table")


def _read_toml(path: Path) -> dict[str, Any]:
    where = f"judge file {path}"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RRMError(
            f"{where}: cannot read it ({exc.strerror or exc})", hint="check the path and permissions"
        ) from exc
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 BOM (Windows editors): harmless, tomllib would choke on it
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RRMError(
            f"{where}: not valid UTF-8: bad byte(s) at byte offset {exc.start} ({exc.reason})",
            hint="TOML files must be UTF-8: re-save the file as UTF-8",
        ) from exc
    try:
        data: dict[str, Any] = tomllib.loads(text)
        return data
    except tomllib.TOMLDecodeError as exc:
        raise RRMError(f"{where}: {exc}", hint="fix the TOML syntax") from exc
    except (ValueError, RecursionError) as exc:  # integers past Python's digit limit, arrays nested too deeply
        raise RRMError(f"{where}: cannot read it as TOML ({exc})", hint="fix the TOML syntax") from exc


def check_template(where: str, key: str, template: str) -> set[str]:
    """The placeholders ``template`` uses; an :class:`RRMError` for anything else between braces.

    Only ``{question}``, ``{answer_1}`` and ``{answer_2}`` are filled in; ``{{`` and ``}}`` are literal braces.
    Any other ``{...}`` or lone brace would reach the model verbatim (``\\boxed{Assistant 1}`` written unescaped,
    or a mistyped ``{answer1}`` that leaves the answer out), so it is refused."""
    used: set[str] = set()
    for m in _TEMPLATE_TOKEN.finditer(template):
        token, name = m.group(0), m.group(1)
        if token in ("{{", "}}"):
            continue
        line = template.count("\n", 0, m.start()) + 1
        if name is None:
            raise RRMError(
                f"{where}: {key!r} has a lone {token!r} on line {line} of the template",
                hint=f"write {token * 2} for a literal {token}; placeholders are {_SHOWN_PLACEHOLDERS}",
            )
        if name not in PLACEHOLDERS:
            raise RRMError(
                f"{where}: {key!r} uses the unknown placeholder {token!r} (line {line} of the template)",
                hint=f"{_did_you_mean(name.strip(), PLACEHOLDERS)}placeholders are {_SHOWN_PLACEHOLDERS}; "
                "write {{ and }} for literal braces",
            )
        used.add(name)
    return used


def _number(where: str, key: str, value: Any) -> float:
    # bool is an int subclass in Python, but `temperature = true` is a mistake, not 1.0.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RRMError(f"{where}: [sampling] {key} must be a number, not {_kind(value)}", hint=_SAMPLING_HINT)
    if not math.isfinite(value):
        raise RRMError(f"{where}: [sampling] {key} must be a finite number, got {value!r}", hint=_SAMPLING_HINT)
    return float(value)


_SAMPLING_HINT = "temperature is a number >= 0, top_p a number in (0, 1], max_new_tokens a whole number >= 1"


def _sampling(where: str, table: Any) -> Sampling:
    if not isinstance(table, dict):
        raise RRMError(
            f"{where}: 'sampling' must be a [sampling] table, not {_kind(table)}",
            hint="write it as a table:\n[sampling]\ntemperature = 0.0\ntop_p = 1.0\nmax_new_tokens = 1024",
        )
    bad = sorted(set(table) - set(_SAMPLING_KEYS))
    if bad:
        raise RRMError(
            f"{where}: unknown [sampling] key {bad[0]!r}",
            hint=f"{_did_you_mean(bad[0], _SAMPLING_KEYS)}allowed: {', '.join(_SAMPLING_KEYS)}",
        )
    default = Sampling()
    temperature = _number(where, "temperature", table.get("temperature", default.temperature))
    if temperature < 0:
        raise RRMError(f"{where}: [sampling] temperature must be >= 0, got {temperature!r}", hint=_SAMPLING_HINT)
    top_p = _number(where, "top_p", table.get("top_p", default.top_p))
    if not 0 < top_p <= 1:
        raise RRMError(f"{where}: [sampling] top_p must be in (0, 1], got {top_p!r}", hint=_SAMPLING_HINT)
    tokens = table.get("max_new_tokens", default.max_new_tokens)
    if isinstance(tokens, bool) or not isinstance(tokens, int):
        raise RRMError(
            f"{where}: [sampling] max_new_tokens must be a whole number, not {_kind(tokens)}", hint=_SAMPLING_HINT
        )
    if tokens < 1:
        raise RRMError(f"{where}: [sampling] max_new_tokens must be at least 1, got {tokens}", hint=_SAMPLING_HINT)
    return Sampling(temperature=temperature, top_p=top_p, max_new_tokens=tokens)


def _labels(where: str, value: Any) -> tuple[str, str]:
    hint = 'write two different label strings, e.g. labels = ["[[A]]", "[[B]]"]'
    if not isinstance(value, list) or len(value) != 2:
        got = f"{len(value)} values" if isinstance(value, list) else _kind(value)
        raise RRMError(f"{where}: 'labels' must be an array of exactly two strings, got {got}", hint=hint)
    first, second = value
    for n, label in enumerate(value, 1):
        if not isinstance(label, str) or not label.strip():
            shown = "an empty string" if isinstance(label, str) else _kind(label)
            raise RRMError(f"{where}: 'labels' entry {n} must be a non-empty string, not {shown}", hint=hint)
    if first == second:
        raise RRMError(f"{where}: the two 'labels' are the same ({first!r})", hint=hint)
    return first, second


def _from_file(path: Path, chain: tuple[tuple[Path, str], ...]) -> Judge:
    where = f"judge file {path}"
    data = _read_toml(path)
    unknown = sorted(set(data) - set(_ALLOWED_KEYS))
    if unknown:
        raise RRMError(
            f"{where}: unknown key {unknown[0]!r}",
            hint=f"{_did_you_mean(unknown[0], _ALLOWED_KEYS)}allowed: {', '.join(_ALLOWED_KEYS)}",
        )
    for key in _TEXT_KEYS:
        if key in data and not isinstance(data[key], str):
            raise RRMError(f"{where}: {key!r} must be a string, not {_kind(data[key])}", hint=f'write {key} = "..."')
    for key in ("name", "prompt_from", "mode", "parser"):
        if key in data and not data[key].strip():
            raise RRMError(f"{where}: {key!r} is empty", hint=f"give {key} a value or leave the key out")

    user, system = data.get("user"), data.get("system")
    if "prompt_from" in data:
        try:
            base = _load(data["prompt_from"], path.parent, chain)
        except (UnknownNameError, _JudgeNotFound) as exc:  # name the file that refers to it, not only the bad name
            raise RRMError(f"{where}: prompt_from: {exc.message}", hint=exc.hint) from exc
        user = base.user if user is None else user
        system = base.system if "system" not in data else system
    if "name" not in data:
        raise RRMError(f"{where}: 'name' is missing", hint='add name = "my-judge"')
    if not user or not user.strip():
        raise RRMError(
            f"{where}: 'user' (the prompt template) is missing or empty",
            hint="add user = '''...{question}...{answer_1}...{answer_2}...''', or prompt_from = another judge",
        )
    used = check_template(where, "user", user)
    missing = [p for p in ("answer_1", "answer_2") if p not in used]
    if missing:
        raise RRMError(
            f"{where}: the 'user' template never shows {' or '.join('{' + p + '}' for p in missing)}",
            hint="both answers must reach the model: put {answer_1} and {answer_2} in the user template",
        )
    if system is not None:
        check_template(where, "system", system)

    mode = data.get("mode", "generate")
    if mode not in JUDGE_MODE_NAMES:
        raise RRMError(
            f"{where}: unknown mode {mode!r}",
            hint=f"{_did_you_mean(mode, JUDGE_MODE_NAMES)}valid modes: {', '.join(JUDGE_MODE_NAMES)}",
        )
    parser = data.get("parser", _NO_PARSER)
    if mode == "logprob" and parser == _NO_PARSER:
        pass  # the likelier label wins; no text is read
    elif parser == _NO_PARSER:
        raise RRMError(
            f"{where}: mode {mode!r} needs a 'parser' to read the verdict",
            hint=f"add parser = one of {', '.join(PARSERS.names())}",
        )
    elif parser not in PARSERS:  # an unknown parser fails now, not mid-run
        raise RRMError(
            f"{where}: unknown parser {parser!r}",
            hint=f"{_did_you_mean(parser, PARSERS.names())}valid parsers: {', '.join(PARSERS.names())}",
        )
    labels = _labels(where, data["labels"]) if "labels" in data else Judge.labels
    think_end = data.get("think_end")
    if think_end is not None and (not think_end.strip() or think_end != think_end.strip()):
        raise RRMError(
            f"{where}: 'think_end' must be the marker text itself, without surrounding spaces, got {think_end!r}",
            hint='write the end-of-thinking marker the model emits, e.g. think_end = "</think>", or leave the key out',
        )
    if think_end is not None and mode != "generate":
        raise RRMError(
            f"{where}: 'think_end' is only read by mode 'generate' judges, this one has mode {mode!r}",
            hint='remove think_end, or use mode = "generate"',
        )
    return Judge(
        name=data["name"],
        user=user,
        mode=cast(JudgeMode, mode),
        parser=parser,
        labels=labels,
        system=system,
        description=data.get("description", ""),
        sampling=_sampling(where, data.get("sampling", {})),
        source=str(path.name),
        think_end=think_end,
    )

"""Verdict parsers: pure functions from raw judge output to a typed result.

Rules shared by every parser (learned from the field's mistakes):
* bind to the LAST verdict in the text: an earlier mention inside the reasoning must not win;
* a verdict outside the offered labels is a failure (``invalid_label``), never a guess;
* if the final verdict's line names both labels, the result is ``ambiguous``;
* harmless near-misses (``\\boxed{\\text{Assistant 1}}``, ``[[ a ]]``, extra spaces) are accepted but recorded in
  ``lenient`` so their rate can be reported and the strict reading recovered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rrm_eval._registry import Registry

Verdict = Literal[1, 2, "tie"]
FailureReason = Literal[
    "no_verdict", "truncated", "no_end_of_thinking", "ambiguous", "invalid_label", "input_too_long", "backend_error"
]
#: ``truncated``: generation hit max_new_tokens before a verdict; ``no_end_of_thinking``: stopped without closing
#: ``</think>``; ``input_too_long``: the prompt did not fit the context (never sent); ``backend_error``: the engine
#: or server failed for this request after its retries.
FAILURE_REASONS: tuple[str, ...] = (
    "no_verdict",
    "truncated",
    "no_end_of_thinking",
    "ambiguous",
    "invalid_label",
    "input_too_long",
    "backend_error",
)
TRUNCATION_REASONS = ("truncated", "no_end_of_thinking")


@dataclass(frozen=True)
class ParseResult:
    """``verdict`` is the position the judge preferred (1 = shown first, 2 = shown second) or ``"tie"`` when the
    judge format offers a tie; ``None`` with a ``failure`` reason otherwise."""

    verdict: Verdict | None
    failure: FailureReason | None = None
    lenient: str | None = None
    extracted: str | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is not None


Parser = Callable[[str, str], ParseResult]  # (raw text, finish_reason) -> result
PARSERS: Registry[Parser] = Registry("parser")

THINK_END = "</think>"


def _after_thinking(text: str, finish_reason: str, require_close: bool) -> tuple[str | None, ParseResult | None]:
    """Text after the last ``</think>``; a failure when thinking never closed."""
    if THINK_END in text:
        return text.rsplit(THINK_END, 1)[1], None
    if require_close:
        reason: FailureReason = "truncated" if finish_reason == "length" else "no_end_of_thinking"
        if not text.strip():
            reason = "truncated" if finish_reason == "length" else "no_verdict"
        return None, ParseResult(None, reason)
    return text, None


def _boxed_contents(text: str) -> list[tuple[int, str]]:
    """All ``\\boxed{...}`` contents with brace matching (nested braces such as ``\\text{..}`` are kept)."""
    out = []
    for m in re.finditer(r"\\boxed\s*\{", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
            i += 1
        if depth == 0:
            out.append((m.start(), text[m.end() : i - 1]))
    return out


_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")


def _normalise(content: str) -> str:
    """Strip LaTeX wrappers, markdown emphasis, quotes and extra spacing."""
    s = content
    for _ in range(3):
        s = _WRAPPERS.sub(r"\1", s)
    s = s.replace("$", "").replace("*", "").strip().strip("\"'`.:").strip()
    return re.sub(r"\s+", " ", s)


def _parse_assistant_label(content: str) -> ParseResult:
    strict = content.strip()
    if strict in ("Assistant 1", "Assistant 2"):
        note = None if strict == content else "accepted surrounding spaces"
        return ParseResult(int(strict[-1]), lenient=note, extracted=content)  # type: ignore[arg-type]
    s = _normalise(content)
    m = re.fullmatch(r"(?i)(?:assistant|response)?\s*([12])", s)
    if m:
        note = f"accepted {content!r} as Assistant {m.group(1)}"
        return ParseResult(int(m.group(1)), lenient=note, extracted=content)  # type: ignore[arg-type]
    if re.search(r"\b1\b", s) and re.search(r"\b2\b", s):
        return ParseResult(None, "ambiguous", extracted=content)
    return ParseResult(None, "invalid_label", extracted=content)


def make_boxed_parser(require_think_close: bool) -> Parser:
    def parse(text: str, finish_reason: str = "stop") -> ParseResult:
        tail, failure = _after_thinking(text, finish_reason, require_think_close)
        if failure:
            return failure
        boxes = _boxed_contents(tail or "")
        if not boxes:
            if finish_reason == "length":
                return ParseResult(None, "truncated")
            return ParseResult(None, "no_verdict")
        return _parse_assistant_label(boxes[-1][1])

    return parse


PARSERS.add("rrm_boxed", make_boxed_parser(True), "text after </think>; last \\boxed{Assistant 1|2}")
PARSERS.add("boxed", make_boxed_parser(False), "last \\boxed{Assistant 1|2}; thinking optional")

_BRACKET = re.compile(r"\[\[\s*([^\[\]]{1,20}?)\s*\]\]")


def make_bracket_parser(labels: dict[str, Verdict]) -> Parser:
    """``[[X]]`` verdicts. ``labels`` maps the exact upper-case label to a verdict (e.g. ``{"A": 1, "B": 2}``)."""

    def parse(text: str, finish_reason: str = "stop") -> ParseResult:
        tail, _ = _after_thinking(text, finish_reason, require_close=False)
        if "<think>" in text and THINK_END not in text:
            return ParseResult(None, "truncated" if finish_reason == "length" else "no_end_of_thinking")
        matches = list(_BRACKET.finditer(tail or ""))
        if not matches:
            return ParseResult(None, "truncated" if finish_reason == "length" else "no_verdict")
        last = matches[-1]
        content = last.group(1)
        key = content.strip().upper()
        # Ambiguity: the final verdict's own line also names a different label.
        line_start = tail.rfind("\n", 0, last.start()) + 1
        line_end = tail.find("\n", last.end())
        line = tail[line_start : None if line_end < 0 else line_end]
        keys_in_line = {m.group(1).strip().upper() for m in _BRACKET.finditer(line)} & set(labels)
        if len(keys_in_line) > 1:
            return ParseResult(None, "ambiguous", extracted=line.strip())
        if key not in labels:
            return ParseResult(None, "invalid_label", extracted=content)
        note = None if content == key and last.group(0) == f"[[{key}]]" else f"accepted {last.group(0)!r}"
        return ParseResult(labels[key], lenient=note, extracted=last.group(0))

    return parse


PARSERS.add("bracket_ab", make_bracket_parser({"A": 1, "B": 2}), "last [[A]] or [[B]]")
PARSERS.add("bracket_abc", make_bracket_parser({"A": 1, "B": 2, "C": "tie"}), "last [[A]], [[B]] or [[C]] (tie)")


def get_parser(name: str) -> Parser:
    return PARSERS.get(name)

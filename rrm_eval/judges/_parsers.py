"""Verdict parsers: pure functions from raw judge output to a typed result.

Rules shared by every parser (learned from the field's mistakes):

* bind to the LAST verdict in the text (after ``</think>``): an earlier mention inside the reasoning must not win,
  also when it is on the same line ("[[A]] looks tempting at first, but on reflection my verdict is [[B]]" -> B;
  "Assistant 1 is fluent but \\boxed{Assistant 2}" -> 2). A verdict is a marked label (``[[X]]`` or
  ``\\boxed{...}``); plain words such as "Assistant 1" are never verdicts;
* a verdict the text itself rejects is skipped: one right after "not", "rather than" or "instead of" on its line
  ("I pick [[B]], not [[A]]" -> B);
* ``ambiguous`` is only for a closing statement that names both labels without choosing: the binding verdict is
  joined to a verdict of a different label by nothing but a connective on the same line -- "or", "and", "and/or",
  "nor", "vs", "vs.", "versus", "/", "," or "&", or no text at all ("[[A]] or [[B]]", "[[A]] and [[B]] are equally
  good", "[[A]]/[[B]]") -- or a single verdict names both ("\\boxed{Assistant 1 or Assistant 2}", "\\boxed{1, 2}",
  "[[A or B]]"). Any other words between two verdicts (", but on reflection", ": I choose") decide for the later;
* a verdict outside the offered labels is a failure (``invalid_label``), never a guess;
* harmless near-misses (``\\boxed{\\text{Assistant 1}}``, ``[[ a ]]``, extra spaces) are accepted but recorded in
  ``lenient`` so their rate can be reported and the strict reading recovered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

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

# Between two verdicts on one line, text that joins them without choosing. Spaces but never a newline: a verdict on
# a later line is a later statement, which binds.
_CONNECTIVE = re.compile(r"[^\S\n]*(?:(?:and/or|or|and|nor|versus|vs)\b\.?|[,/&])?[^\S\n]*", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:not|rather than|instead of)[^\S\n]*[\"'(]?$", re.IGNORECASE)


def _bind(text: str, spans: list[tuple[int, int]], keys: list[object]) -> tuple[int | None, bool]:
    """The index of the binding verdict among ``spans`` (None when every verdict is rejected by a "not") and
    whether it is ambiguous: joined by a bare connective to a verdict with another key (see the module rules)."""

    def rejected(i: int) -> bool:
        line_start = text.rfind("\n", 0, spans[i][0]) + 1
        return bool(_NEGATION.search(text, line_start, spans[i][0]))

    chosen = next((i for i in reversed(range(len(spans))) if not rejected(i)), None)
    if chosen is None:
        return None, False
    named, j = {keys[chosen]}, chosen
    while j > 0 and _CONNECTIVE.fullmatch(text, spans[j - 1][1], spans[j][0]):
        j -= 1
        named.add(keys[j])
    return chosen, len(named) > 1


def _line_of(text: str, start: int, end: int) -> str:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    return text[line_start : None if line_end < 0 else line_end].strip()


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


def _boxed_contents(text: str) -> list[tuple[int, int, str]]:
    """All ``\\boxed{...}`` as (start, end, contents), with brace matching (nested braces such as ``\\text{..}`` are
    kept); an unbalanced box is no verdict."""
    out: list[tuple[int, int, str]] = []
    for m in re.finditer(r"\\boxed\s*\{", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
            i += 1
        if depth == 0:
            out.append((m.start(), i, text[m.end() : i - 1]))
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
        text = tail or ""
        boxes = _boxed_contents(text)
        if not boxes:
            if finish_reason == "length":
                return ParseResult(None, "truncated")
            return ParseResult(None, "no_verdict")
        readings = [_parse_assistant_label(content) for _, _, content in boxes]
        # Boxes compare by what they say (1, 2, or their text when unreadable), so "\\boxed{2} or \\boxed{Assistant 2}"
        # is one label named twice, not two.
        keys: list[object] = [
            r.verdict if r.ok else _normalise(c) for r, (_, _, c) in zip(readings, boxes, strict=True)
        ]
        chosen, ambiguous = _bind(text, [(start, end) for start, end, _ in boxes], keys)
        if chosen is None:
            return ParseResult(None, "no_verdict", extracted=_line_of(text, boxes[-1][0], boxes[-1][1]))
        if ambiguous:
            return ParseResult(None, "ambiguous", extracted=_line_of(text, boxes[chosen][0], boxes[chosen][1]))
        return readings[chosen]

    return parse


PARSERS.add("rrm_boxed", make_boxed_parser(True), "text after </think>; last \\boxed{Assistant 1|2}")
PARSERS.add("boxed", make_boxed_parser(False), "last \\boxed{Assistant 1|2}; thinking optional")

_BRACKET = re.compile(r"\[\[\s*([^\[\]]{1,20}?)\s*\]\]")


def _names_several(key: str, labels: dict[str, Verdict]) -> bool:
    """``[[A or B]]``, ``[[A/B]]``, ``[[A, B]]``: one bracket naming two different offered labels."""
    parts = [p for p in re.split(r"\s*(?:\bAND/OR\b|\bOR\b|\bAND\b|\bVS\b\.?|[,/&])\s*", key) if p]
    return len(parts) > 1 and all(p in labels for p in parts) and len(set(parts)) > 1


def _marked_verdicts(
    text: str, finish_reason: str, pattern: re.Pattern[str]
) -> tuple[str, list[re.Match[str]]] | ParseResult:
    """The text after the thinking and the verdict marks ``pattern`` finds in it, or the failure when there are
    none: shared by every marked-verdict parser ([[A]], [[k]], Rating: N)."""
    tail, _ = _after_thinking(text, finish_reason, require_close=False)
    if "<think>" in text and THINK_END not in text:
        return ParseResult(None, "truncated" if finish_reason == "length" else "no_end_of_thinking")
    text = tail or ""
    matches = list(pattern.finditer(text))
    if not matches:
        return ParseResult(None, "truncated" if finish_reason == "length" else "no_verdict")
    return text, matches


def make_bracket_parser(labels: dict[str, Verdict]) -> Parser:
    """``[[X]]`` verdicts. ``labels`` maps the exact upper-case label to a verdict (e.g. ``{"A": 1, "B": 2}``)."""

    def parse(text: str, finish_reason: str = "stop") -> ParseResult:
        found = _marked_verdicts(text, finish_reason, _BRACKET)
        if isinstance(found, ParseResult):
            return found
        text, matches = found
        keys: list[object] = [m.group(1).strip().upper() for m in matches]
        chosen, ambiguous = _bind(text, [m.span() for m in matches], keys)
        if chosen is None:
            return ParseResult(None, "no_verdict", extracted=_line_of(text, *matches[-1].span()))
        last = matches[chosen]
        content = last.group(1)
        key = content.strip().upper()
        if ambiguous or _names_several(key, labels):
            return ParseResult(None, "ambiguous", extracted=_line_of(text, *last.span()))
        if key not in labels:
            return ParseResult(None, "invalid_label", extracted=content)
        note = None if content == key and last.group(0) == f"[[{key}]]" else f"accepted {last.group(0)!r}"
        return ParseResult(labels[key], lenient=note, extracted=last.group(0))

    return parse


PARSERS.add("bracket_ab", make_bracket_parser({"A": 1, "B": 2}), "last [[A]] or [[B]]")
PARSERS.add("bracket_abc", make_bracket_parser({"A": 1, "B": 2, "C": "tie"}), "last [[A]], [[B]] or [[C]] (tie)")


def get_parser(name: str) -> Parser:
    return PARSERS.get(name)


# -- best-of-N judges (RewardBench 2): a slot among N, or a rating on a scale ---------------------------------------
# ParseResult.verdict is typed for pairwise positions; these parsers put a slot (1..N) or a rating (1..10) there, which
# the record type (``int | str | None``) carries as is. Rules as above: the last verdict binds, a verdict the text
# rejects ("not [[2]]") is skipped, two verdicts joined by a bare connective (or one bracket naming two) are
# ``ambiguous``, a number outside the offered range is ``invalid_label``.
_SLOT = re.compile(r"\[\[\s*([^\[\]]{1,24}?)\s*\]\]")
_SLOT_WORDS = re.compile(r"(?i)(?:response|assistant|answer|slot)\s*#?\s*(\d+)")
_SEVERAL = re.compile(r"\d+(?:\s*(?:,|/|&|\bor\b|\band\b|\bvs\b\.?)\s*\d+)+", re.IGNORECASE)


def _read_number(content: str) -> tuple[int | None, str | None, bool]:
    """(number, lenient note, names several) for a bracket's content: ``3`` strict; ``Response 3`` / `` 3 `` lenient."""
    s = content.strip()
    if re.fullmatch(r"\d+", s):
        return int(s), None if s == content else "accepted surrounding spaces", False
    if _SEVERAL.fullmatch(s):
        return None, None, True
    m = _SLOT_WORDS.fullmatch(s)
    if m:
        return int(m.group(1)), f"accepted [[{content}]] as [[{m.group(1)}]]", False
    return None, None, False


def make_slot_parser(n: int) -> Parser:
    """``[[k]]`` with k in 1..n: the slot of the best response in a listwise prompt."""

    def parse(text: str, finish_reason: str = "stop") -> ParseResult:
        found = _marked_verdicts(text, finish_reason, _SLOT)
        if isinstance(found, ParseResult):
            return found
        text, matches = found
        readings = [_read_number(m.group(1)) for m in matches]
        keys: list[object] = [
            r[0] if r[0] is not None else m.group(1).strip() for r, m in zip(readings, matches, strict=True)
        ]
        chosen, ambiguous = _bind(text, [m.span() for m in matches], keys)
        if chosen is None:
            return ParseResult(None, "no_verdict", extracted=_line_of(text, *matches[-1].span()))
        number, note, several = readings[chosen]
        last = matches[chosen]
        if ambiguous or several:
            return ParseResult(None, "ambiguous", extracted=_line_of(text, *last.span()))
        if number is None or not 1 <= number <= n:
            return ParseResult(None, "invalid_label", extracted=last.group(0))
        return ParseResult(cast(Verdict, number), lenient=note, extracted=last.group(0))

    return parse


_RATING = re.compile(
    r"(?i)\brating\s*[:=]?\s*\**\s*(\d+(?:\.\d+)?)(\s*/\s*10)?|\[\[\s*(\d+(?:\.\d+)?)\s*(/\s*10)?\s*\]\]"
)


def make_rating_parser(low: int, high: int) -> Parser:
    """``Rating: N`` or ``[[N]]`` with a whole N in low..high; ``N/10`` is accepted and noted. The last one binds;
    a fraction (``7.5``) or a number off the scale is ``invalid_label``."""

    def parse(text: str, finish_reason: str = "stop") -> ParseResult:
        found = _marked_verdicts(text, finish_reason, _RATING)
        if isinstance(found, ParseResult):
            return found
        text, matches = found
        values = [m.group(1) or m.group(3) for m in matches]
        chosen, ambiguous = _bind(text, [m.span() for m in matches], list(values))
        if chosen is None:
            return ParseResult(None, "no_verdict", extracted=_line_of(text, *matches[-1].span()))
        last, value = matches[chosen], values[chosen]
        if ambiguous:
            return ParseResult(None, "ambiguous", extracted=_line_of(text, *last.span()))
        if "." in value or not low <= int(value) <= high:
            return ParseResult(None, "invalid_label", extracted=last.group(0))
        note = f"accepted {last.group(0)!r}" if (last.group(2) or last.group(4)) else None
        return ParseResult(cast(Verdict, int(value)), lenient=note, extracted=last.group(0))

    return parse


PARSERS.add("slot_of_4", make_slot_parser(4), "last [[k]], k in 1..4 (listwise best-of-4)")
PARSERS.add("rating_10", make_rating_parser(1, 10), "last 'Rating: N' or [[N]], N in 1..10")

"""A deterministic scripted backend for tests, benchmarks and demos of the harness itself.

``scripted:<preset>`` answers every prompt from a rule, with no model. The outputs carry a verdict in every
judge format we ship (``\\boxed{Assistant k}``, ``[[A]]``/``[[B]]``), so each parser finds the one it knows.
Presets:

* ``first`` / ``second``: always prefer the response shown first / second;
* ``random``: a fair coin seeded from the prompt (and ``seed``, sample index);
* ``marker``: picks the response whose text contains ``GOOD`` (for tests with labelled fixtures);
* ``empty``: emits nothing; ``unclosed``: opens ``<think>`` and never closes it (truncation); ``garbage``: no verdict;
* ``accuracy:P``: picks the response containing ``GOOD`` with probability P, else the other (simulated judge).

Option ``delay`` (seconds per request) simulates a slow model, for interruption tests.

Programmatic use: ``ScriptedDriver("custom", respond=lambda prompt, sample: "...")``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from rrm_eval._errors import RRMError
from rrm_eval._seeding import stable_seed
from rrm_eval.models._base import Driver
from rrm_eval.models._options import Option
from rrm_eval.models._types import (
    Completion,
    FinishReason,
    GenerateRequest,
    Message,
    SamplingParams,
    ScoreRequest,
    ScoreResult,
)

Respond = Callable[[str, int, int], str]  # (prompt, sample index, seed) -> text

_FIRST_LABELS = ("Assistant 1", "[[A]]", "A", "1")
_VERDICT_1 = "<think>\nScripted reasoning.\n</think>\n\\boxed{Assistant 1} [[A]]"
_VERDICT_2 = "<think>\nScripted reasoning.\n</think>\n\\boxed{Assistant 2} [[B]]"

# Response bodies sit between these markers in every shipped judge prompt.
_SECTION = re.compile(
    r"(?:### Assistant 1|\[The Start of Assistant A's Answer\]|\[Assistant A's Answer\])(.*?)"
    r"(?:### Assistant 2|\[The Start of Assistant B's Answer\]|\[Assistant B's Answer\])(.*)",
    re.S,
)


def _which_has_marker(prompt: str) -> int | None:
    m = _SECTION.search(prompt)
    if not m:
        return None
    first, second = "GOOD" in m.group(1), "GOOD" in m.group(2)
    if first != second:
        return 1 if first else 2
    return None


def _preset(name: str) -> Respond:
    kind, sep, arg = name.partition(":")
    if sep and kind != "accuracy":
        kind = name  # only accuracy takes an argument: "first:x" is no preset
    if kind == "first":
        return lambda p, s, seed: _VERDICT_1
    if kind == "second":
        return lambda p, s, seed: _VERDICT_2
    if kind == "random":
        return lambda p, s, seed: _VERDICT_1 if stable_seed(seed, s, p) % 2 else _VERDICT_2
    if kind == "empty":
        return lambda p, s, seed: ""
    if kind == "unclosed":
        return lambda p, s, seed: "<think>\nI keep thinking and thinking"
    if kind == "garbage":
        return lambda p, s, seed: "<think>\nhmm\n</think>\nBoth are fine."
    if kind in ("marker", "accuracy"):
        p_right = _probability(name, arg) if kind == "accuracy" else 1.0

        def respond(p: str, s: int, seed: int) -> str:
            good = _which_has_marker(p)
            if good is None:
                return _VERDICT_1 if stable_seed(seed, s, p) % 2 else _VERDICT_2
            right = (stable_seed("acc", seed, s, p) % 1_000_000) / 1_000_000 < p_right
            pick = good if right else 3 - good
            return _VERDICT_1 if pick == 1 else _VERDICT_2

        return respond
    raise RRMError(
        f"unknown scripted preset {name!r}",
        hint="use scripted:first, second, random, marker, accuracy:P, empty, unclosed or garbage",
    )


def _probability(name: str, arg: str) -> float:
    try:
        p = float(arg)
    except ValueError:
        p = math.nan
    if not 0.0 <= p <= 1.0:  # also refuses nan
        raise RRMError(
            f"scripted preset {name!r}: {arg!r} is not a probability",
            hint="write scripted:accuracy:P with P between 0 and 1, e.g. scripted:accuracy:0.7",
        )
    return p


class ScriptedDriver(Driver):
    prefix: ClassVar[str] = "scripted"
    description: ClassVar[str] = "deterministic scripted outputs for tests and benches"
    preferred_batch: ClassVar[int] = 4096
    accepted_options: ClassVar[Mapping[str, Option]] = {
        "delay": Option("float", "seconds of simulated work per request (interruption tests)", 0.0, low=0.0, high=60.0),
    }

    def __init__(self, target: str, respond: Respond | None = None, **options: Any) -> None:
        super().__init__(target, **options)
        self._respond = respond or _preset(target)
        self.calls = 0

    @property
    def name(self) -> str:
        return f"scripted-{self.target}"

    def cut_to_tokens(self, text: str, n: int) -> tuple[str, int] | None:
        # The scripted backend reports whitespace words as its tokens (its completion_tokens), so it cuts there.
        return cut_words(text, n)

    def apply_chat_template(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        text = "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages)
        return text + ("<|assistant|>\n" if add_generation_prompt else "")

    def generate(self, requests: list[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
        self.calls += len(requests)
        delay = float(self.opt("delay"))
        if delay:
            time.sleep(delay * len(requests))
        out = []
        for r in requests:
            group = []
            for s in range(params.n):
                text = self._respond(r.prompt, params.first_sample + s, params.seed)
                words = len(text.split())
                reason: FinishReason = (
                    "length"
                    if words >= params.max_new_tokens or ("</think>" not in text and "<think>" in text)
                    else "stop"
                )
                group.append(Completion(text, reason, len(r.prompt.split()), words))
            out.append(group)
        return out

    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        """Log-probs derived from the same rule: the verdict the rule would emit gets the higher probability."""
        self.calls += len(requests)
        out = []
        for r in requests:  # the wrapper has screened empty prompts and continuations
            preferred = self._respond(r.prompt, 0, 0)
            first = _VERDICT_1 in preferred
            is_first = r.continuation.strip() in _FIRST_LABELS
            p = 0.8 if first == is_first else 0.2
            if not preferred:
                p = 0.5
            out.append(ScoreResult([math.log(p)], [r.continuation], len(r.prompt.split())))
        return out


def cut_words(text: str, n: int) -> tuple[str, int]:
    """``text`` cut after its ``n``-th whitespace-separated word (the scripted backend's tokens), and the words kept."""
    words = 0
    in_word = False
    for i, ch in enumerate(text):
        if ch.isspace():
            in_word = False
        elif not in_word:
            if words == n:
                return text[:i], n
            words, in_word = words + 1, True
    return text, words

"""The driver interface: one small class per engine.

A driver implements ``generate`` and ``score`` for *batches*; the :class:`~rrm_eval.models.Model` wrapper owns
chunking, progress, token accounting, request screening (empty and over-long inputs) and error capture, so no driver
can forget them. Each driver declares the options it reads (``accepted_options``); they are checked once, here, when
the driver is created.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from rrm_eval._errors import RRMError
from rrm_eval.models._options import WRAPPER_OPTIONS, Option, check_options, looks_secret
from rrm_eval.models._types import Completion, GenerateRequest, Message, SamplingParams, ScoreRequest, ScoreResult


class Driver(ABC):
    """Base class of every backend.

    Subclasses set ``prefix`` (the spec prefix, e.g. ``"hf"``), declare ``accepted_options`` (merged along the class
    hierarchy) and are registered with :func:`rrm_eval.models.register_driver`. ``target`` is the part of the spec
    after ``prefix:``; ``options`` are the checked, typed keyword settings from the CLI (``--model-opt key=value``)
    or from code.
    """

    prefix: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: How many requests the wrapper hands over at once. Engines with their own scheduler (vLLM, servers) take the
    #: whole dataset; in-process HF batches are sized by the driver itself.
    preferred_batch: ClassVar[int] = 1 << 30
    #: The options this class reads (a subclass adds to, or overrides, its bases' declarations).
    accepted_options: ClassVar[Mapping[str, Option]] = {}
    #: Tokens a score request needs beyond prompt + continuation (engines that must generate one token to score).
    score_reserve: ClassVar[int] = 0

    def __init__(self, target: str, **options: Any) -> None:
        self.target = target
        self.options: dict[str, Any] = type(self).check_options(options)

    # -- options ----------------------------------------------------------------------------------------------
    @classmethod
    def option_table(cls) -> dict[str, Option]:
        """Every option this driver accepts, from its whole class hierarchy."""
        table: dict[str, Option] = {}
        for klass in reversed(cls.__mro__):
            table.update(getattr(klass, "accepted_options", None) or {})
        return table

    @classmethod
    def engine_option_names(cls) -> frozenset[str] | None:
        """Names handed on to the engine unchecked (vLLM's engine arguments); ``None`` = any name."""
        return frozenset()

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Typed, range-checked options, or an :class:`RRMError` naming the first bad one."""
        return check_options(
            options, cls.option_table(), cls.prefix or "model", cls.engine_option_names(), also_known=WRAPPER_OPTIONS
        )

    def opt(self, name: str) -> Any:
        """The value of a declared option, or its declared default."""
        if name in self.options:
            return self.options[name]
        return self.option_table()[name].default

    # -- identity ---------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """A readable model name for results files."""
        return self.target

    def describe(self) -> dict[str, Any]:
        """What to store in a run's spec.json (never secrets)."""
        return {"backend": self.prefix, "target": self.target, "options": redact(self.options)}

    # -- prompts ----------------------------------------------------------------------------------------------
    @abstractmethod
    def apply_chat_template(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        """Render chat messages to the exact prompt text this model expects."""

    # -- what the wrapper screens requests with -------------------------------------------------------------
    def context_length(self) -> int | None:
        """Tokens the engine holds per sequence (prompt + generated), or None when unknown."""
        return None

    def count_tokens(self, text: str) -> int | None:
        """Tokens ``text`` encodes to (no special tokens added), or None when this driver cannot count."""
        return None

    def cut_to_tokens(self, text: str, n: int) -> tuple[str, int] | None:
        """The longest prefix of ``text`` that encodes to at most ``n`` tokens, and its token count; None when this
        driver cannot count. This default needs only :meth:`count_tokens` (a binary search over character prefixes,
        so any driver that counts can cut); a driver with a tokenizer cuts the token ids themselves."""
        total = self.count_tokens(text)
        if total is None:
            return None
        if total <= n:
            return text, total
        lo, hi = 0, len(text)  # count(text[:lo]) <= n < count(text[:hi])
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if (self.count_tokens(text[:mid]) or 0) <= n:
                lo = mid
            else:
                hi = mid
        return text[:lo], self.count_tokens(text[:lo]) or 0

    # -- engine-side thinking budgets -------------------------------------------------------------------------
    def supports_think_budget(self, marker: str) -> bool:
        """Whether :meth:`generate_think_budget` can cap the thinking that ``marker`` closes inside the engine
        (vLLM's ``thinking_token_budget`` where the installed version and the engine's reasoning config have it).
        False: the judge modes fall back to two-phase generation, which works on every engine."""
        return False

    def generate_think_budget(
        self, requests: list[GenerateRequest], params: SamplingParams, budget: int, marker: str
    ) -> list[list[Completion]]:
        """Like :meth:`generate`, with the engine closing the thinking (``marker``) after ``budget`` tokens and
        going on to the answer within ``params.max_new_tokens``. Only called when :meth:`supports_think_budget`."""
        raise NotImplementedError(f"backend {self.prefix!r} has no engine-side thinking budget")

    # -- capabilities -----------------------------------------------------------------------------------------
    @abstractmethod
    def generate(self, requests: list[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
        """Return ``params.n`` completions per request, in request order."""

    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        """Token log-probs of each continuation given its prompt."""
        raise NotImplementedError(f"backend {self.prefix!r} cannot score log-probabilities")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release engine resources (servers, GPU memory)."""


class TokenizerDriver(Driver):
    """A driver that renders prompts with a local Hugging Face tokenizer (``self.tokenizer``): transformers and
    vLLM share the chat template handling and the no-special-tokens encoding (a rendered prompt already holds its
    BOS, so adding special tokens again would double it)."""

    accepted_options: ClassVar[Mapping[str, Option]] = {
        "name": Option("str", "the model name written into results files"),
        "chat_template": Option("file", "a jinja chat template file used instead of the tokenizer's"),
    }
    tokenizer: Any

    @property
    def name(self) -> str:
        return str(self.options.get("name") or os.path.basename(os.path.normpath(self.target)) or self.target)

    def apply_chat_template(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        if not self.tokenizer.chat_template:
            raise RRMError(
                f"the tokenizer of {self.target!r} has no chat template",
                hint="pass --model-opt chat_template=PATH.jinja, or use a judge that needs no template",
            )
        return str(
            self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        )

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_tokens(self, text: str) -> int | None:
        return len(self._encode(text))

    def cut_to_tokens(self, text: str, n: int) -> tuple[str, int] | None:
        ids = self._encode(text)
        if len(ids) <= n:
            return text, len(ids)
        # The text of the first n ids exactly as the engine would have emitted them (special tokens kept).
        cut = self.tokenizer.decode(ids[:n], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        return str(cut), n


def redact(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options safe to write into run files: anything that looks like a credential is replaced."""
    return {k: ("<redacted>" if looks_secret(k) else v) for k, v in options.items()}

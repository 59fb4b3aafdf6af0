"""The driver interface: one small class per engine.

A driver implements ``generate`` and ``score`` for *batches*; the :class:`~rrm_eval.models.Model` wrapper owns
chunking, progress, token accounting and error capture, so no driver can forget them.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from rrm_eval._errors import RRMError
from rrm_eval.models._types import Completion, GenerateRequest, Message, SamplingParams, ScoreRequest, ScoreResult


class Driver(ABC):
    """Base class of every backend.

    Subclasses set ``prefix`` (the spec prefix, e.g. ``"hf"``) and are registered with
    :func:`rrm_eval.models.register_driver`. ``target`` is the part of the spec after ``prefix:``; ``options`` are
    typed keyword settings from the CLI (``--model-opt key=value``) or from code.
    """

    prefix: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: How many requests the wrapper hands over at once. Engines with their own scheduler (vLLM, servers) take the
    #: whole dataset; in-process HF batches are sized by the driver itself.
    preferred_batch: ClassVar[int] = 1 << 30

    def __init__(self, target: str, **options: Any) -> None:
        self.target = target
        self.options = options

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

    tokenizer: Any

    @property
    def name(self) -> str:
        return self.options.get("name") or os.path.basename(os.path.normpath(self.target)) or self.target

    def apply_chat_template(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        if not self.tokenizer.chat_template:
            raise RRMError(
                f"the tokenizer of {self.target!r} has no chat template",
                hint="pass --model-opt chat_template=PATH.jinja, or use a judge that needs no template",
            )
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])


_SECRET_WORDS = ("key", "token", "secret", "password", "authorization")


def redact(options: dict[str, Any]) -> dict[str, Any]:
    """Options safe to write into run files: anything that looks like a credential is replaced."""
    return {k: ("<redacted>" if any(w in k.lower() for w in _SECRET_WORDS) else v) for k, v in options.items()}

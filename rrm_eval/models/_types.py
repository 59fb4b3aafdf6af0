"""Typed requests and results shared by every model driver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Message = dict[str, str]  # {"role": ..., "content": ...}

FinishReason = Literal["stop", "length", "input_too_long", "error"]
ScoreFailure = Literal["input_too_long", "backend_error"]


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings for one batch of generation requests.

    ``temperature == 0`` means greedy decoding. ``seed`` makes sampling reproducible; drivers derive per-request
    seeds from it and the request content so results do not depend on batch composition where the engine allows it.
    """

    max_new_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    seed: int = 0
    stop: tuple[str, ...] = ()
    #: Absolute index of the first of the ``n`` samples: sample ``s`` of a request is seeded as sample
    #: ``first_sample + s``, so votes drawn in a later wave (early-stop voting) are the ones a single call of
    #: ``first_sample + n`` samples would have drawn, where the driver seeds each sample on its own.
    first_sample: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass(frozen=True)
class GenerateRequest:
    """One prompt to complete. ``prompt`` is already rendered text (chat template applied, BOS included if the
    template adds it); drivers must not add special tokens again. ``key`` identifies it in logs and seeding."""

    prompt: str
    key: str = ""


@dataclass
class Completion:
    text: str
    finish_reason: FinishReason
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None  # e.g. "truncated input: 9000 prompt tokens > 8192 context"


@dataclass(frozen=True)
class ScoreRequest:
    """Log-probability of ``continuation`` given ``prompt``. Both are text; the driver tokenizes them separately
    and concatenates the ids so the boundary is exact (no merge of the last prompt token with the first
    continuation token)."""

    prompt: str
    continuation: str
    key: str = ""


@dataclass
class ScoreResult:
    token_logprobs: list[float]
    tokens: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    error: str | None = None
    #: Why there are no log-probs, typed (never read from ``error``'s wording): ``input_too_long`` (prompt and
    #: continuation do not fit the context; never sent) or ``backend_error`` (the engine failed after its retries).
    failure: ScoreFailure | None = None

    @property
    def total(self) -> float:
        return float(sum(self.token_logprobs))

    @property
    def mean(self) -> float:
        return self.total / max(1, len(self.token_logprobs))

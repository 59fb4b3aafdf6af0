"""The one wrapper every caller uses: chunking, progress, token accounting and error capture over a driver."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rrm_eval.models._base import Driver
from rrm_eval.models._spec import create_driver
from rrm_eval.models._types import Completion, GenerateRequest, Message, SamplingParams, ScoreRequest, ScoreResult


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    scored_tokens: int = 0
    requests: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Model:
    """A model behind any backend. Build one with :func:`load_model`.

    ``iter_generate``/``iter_score`` yield results chunk by chunk (chunk size = ``chunk_size`` or the driver's
    preference) so callers can journal finished work before the next chunk starts: a crash loses at most one chunk.
    """

    def __init__(self, driver: Driver, spec: str = "", chunk_size: int | None = None) -> None:
        self.driver = driver
        self.spec = spec or f"{driver.prefix}:{driver.target}"
        self.chunk_size = chunk_size or driver.preferred_batch
        self.usage = Usage()

    @property
    def name(self) -> str:
        return self.driver.name

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec, "name": self.name, **self.driver.describe()}

    def render(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        return self.driver.apply_chat_template(messages, add_generation_prompt=add_generation_prompt)

    # -- generation -------------------------------------------------------------------------------------------
    def iter_generate(
        self, requests: Sequence[GenerateRequest], params: SamplingParams, chunk_size: int | None = None
    ) -> Iterator[tuple[int, list[list[Completion]]]]:
        """Yield ``(start_index, completions)`` per chunk."""
        step = chunk_size or self.chunk_size
        for start in range(0, len(requests), step):
            chunk = list(requests[start : start + step])
            t0 = time.perf_counter()
            outs = self.driver.generate(chunk, params)
            self._account(len(chunk), t0, outs=outs)
            yield start, outs

    def generate(self, requests: Sequence[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
        out: list[list[Completion]] = []
        for _, chunk in self.iter_generate(requests, params):
            out.extend(chunk)
        return out

    # -- scoring ----------------------------------------------------------------------------------------------
    def iter_score(
        self, requests: Sequence[ScoreRequest], chunk_size: int | None = None
    ) -> Iterator[tuple[int, list[ScoreResult]]]:
        step = chunk_size or self.chunk_size
        for start in range(0, len(requests), step):
            chunk = list(requests[start : start + step])
            t0 = time.perf_counter()
            outs = self.driver.score(chunk)
            self._account(len(chunk), t0, scores=outs)
            yield start, outs

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        out: list[ScoreResult] = []
        for _, chunk in self.iter_score(requests):
            out.extend(chunk)
        return out

    def _account(self, n: int, t0: float, outs=None, scores=None) -> None:
        self.usage.requests += n
        self.usage.seconds += time.perf_counter() - t0
        for group in outs or []:
            for c in group:
                self.usage.completion_tokens += c.completion_tokens
            if group:
                self.usage.prompt_tokens += group[0].prompt_tokens
        for s in scores or []:
            self.usage.prompt_tokens += s.prompt_tokens
            self.usage.scored_tokens += len(s.token_logprobs)

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_model(spec: str, chunk_size: int | None = None, **options: Any) -> Model:
    """Build a :class:`Model` from a spec string, e.g. ``load_model("hf:./ckpt", dtype="bfloat16")``.

    ``chunk_size`` (also accepted as an option, ``--model-opt chunk_size=N``) is how many requests go to the driver
    between journal writes."""
    chunk_size = chunk_size or options.pop("chunk_size", None)
    return Model(create_driver(spec, **options), spec=spec, chunk_size=chunk_size)


ProgressFn = Callable[[int], None]

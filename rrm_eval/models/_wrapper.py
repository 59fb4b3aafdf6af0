"""The one wrapper every caller uses: request screening, chunking, progress, token accounting and error capture
over a driver.

Screening happens here, once for every driver, before a request reaches the engine: an empty prompt or an empty
score continuation, and (where the driver reports its context length and can count tokens) a prompt that does not
fit, become typed results (``finish_reason="error"|"input_too_long"``; ``ScoreResult.failure``). Drivers only talk
to their engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from rrm_eval._errors import RRMError
from rrm_eval.models._base import Driver
from rrm_eval.models._options import RAY_OPTIONS, WRAPPER_OPTIONS, coerce_option
from rrm_eval.models._spec import create_driver
from rrm_eval.models._types import Completion, GenerateRequest, Message, SamplingParams, ScoreRequest, ScoreResult

T = TypeVar("T")


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    scored_tokens: int = 0
    requests: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_messages(messages: object) -> list[Message]:
    """``messages`` if it is a list of ``{"role": str, "content": str}`` dicts; an :class:`RRMError` otherwise
    (a template fed anything else fails deep inside jinja, or renders ``None`` as text)."""
    hint = 'pass a list of {"role": "user", "content": "..."} dicts (roles: system, user, assistant)'
    if not isinstance(messages, list) or not messages:
        raise RRMError(f"chat messages must be a non-empty list, got {type(messages).__name__}", hint=hint)
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise RRMError(f"chat message {i} is a {type(m).__name__}, not a dict", hint=hint)
        for field in ("role", "content"):
            if not isinstance(m.get(field), str):
                got = "missing" if field not in m else f"a {type(m[field]).__name__}"
                raise RRMError(f"chat message {i}: field {field!r} must be a string, it is {got}", hint=hint)
        if not m["role"].strip():
            raise RRMError(f"chat message {i}: field 'role' is empty", hint=hint)
    return messages


class Model:
    """A model behind any backend. Build one with :func:`load_model`.

    ``iter_generate``/``iter_score`` yield results chunk by chunk (chunk size = ``chunk_size`` or the driver's
    preference) so callers can journal finished work before the next chunk starts: a crash loses at most one chunk.
    """

    def __init__(self, driver: Driver, spec: str = "", chunk_size: int | None = None) -> None:
        self.driver = driver
        self.spec = spec or f"{driver.prefix}:{driver.target}"
        if chunk_size is not None:
            chunk_size = int(coerce_option("chunk_size", chunk_size, WRAPPER_OPTIONS["chunk_size"]))
        self.chunk_size = chunk_size or driver.preferred_batch
        self.usage = Usage()

    @property
    def name(self) -> str:
        return self.driver.name

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec, "name": self.name, **self.driver.describe()}

    def render(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        return self.driver.apply_chat_template(check_messages(messages), add_generation_prompt=add_generation_prompt)

    # -- screening --------------------------------------------------------------------------------------------
    def _screen_generate(self, req: GenerateRequest, params: SamplingParams) -> list[Completion] | None:
        """Typed results for a prompt that must not reach the engine, else None."""
        if not req.prompt:
            return [Completion("", "error", 0, 0, "empty prompt") for _ in range(params.n)]
        ctx = self.driver.context_length()
        if ctx is None:
            return None
        n = self.driver.count_tokens(req.prompt)
        if n is None:
            return None
        if n == 0:
            return [Completion("", "error", 0, 0, "empty prompt (no tokens)") for _ in range(params.n)]
        if n + 1 > ctx:  # at least one new token must fit
            msg = f"truncated input: {n} prompt tokens > {ctx - 1} usable context"
            return [Completion("", "input_too_long", n, 0, msg) for _ in range(params.n)]
        return None

    def _screen_score(self, req: ScoreRequest, counted: dict[str, int | None]) -> ScoreResult | None:
        if not req.continuation:
            return ScoreResult([], [], 0, error="empty continuation", failure="backend_error")
        if not req.prompt:
            return ScoreResult([], [], 0, error="empty prompt", failure="backend_error")
        ctx = self.driver.context_length()
        if ctx is None:
            return None
        if req.prompt not in counted:  # the labels of one judge call share their prompt: count it once
            counted[req.prompt] = self.driver.count_tokens(req.prompt)
        n_p, n_c = counted[req.prompt], self.driver.count_tokens(req.continuation)
        if n_p is None or n_c is None:
            return None
        if n_c == 0:
            return ScoreResult([], [], n_p, error="empty continuation (no tokens)", failure="backend_error")
        if n_p == 0:
            return ScoreResult([], [], 0, error="empty prompt (no tokens)", failure="backend_error")
        usable = ctx - self.driver.score_reserve
        if n_p + n_c > usable:
            msg = f"truncated input: {n_p + n_c} tokens > {usable} context"
            return ScoreResult([], [], n_p, error=msg, failure="input_too_long")
        return None

    # -- token counting (thinking budgets) --------------------------------------------------------------------
    def _cut(self, text: str, n: int) -> tuple[str, int] | None:
        return self.driver.cut_to_tokens(text, n)

    def can_count_tokens(self) -> bool:
        return self._cut("", 0) is not None

    def cut_to_tokens(self, text: str, n: int) -> tuple[str, int]:
        """The longest prefix of ``text`` that is at most ``n`` tokens of this model, and its token count (a thinking
        budget's cut). An :class:`RRMError` for a backend that cannot count tokens."""
        if n < 0:
            raise ValueError(f"cut_to_tokens: n must be >= 0, got {n}")
        cut = self._cut(text, n)
        if cut is None:
            raise RRMError(
                f"{self.spec}: this backend cannot count tokens, so it cannot cut a thinking budget",
                hint="give the backend a local tokenizer (e.g. openai: --model-opt tokenizer=HF_FOLDER, which also "
                "selects the /completions mode), or run without --think-budget",
            )
        return cut

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` for this model (an :class:`RRMError` for a backend that cannot count)."""
        return self.cut_to_tokens(text, 1 << 62)[1]

    def generate_think_budget(
        self, requests: Sequence[GenerateRequest], params: SamplingParams, budget: int, marker: str
    ) -> list[list[Completion]] | None:
        """Completions whose thinking the engine itself closed after ``budget`` tokens, or None when the backend
        has no such support (the caller falls back to two-phase generation)."""
        if not self.driver.supports_think_budget(marker):
            return None

        def engine(reqs: list[GenerateRequest], p: SamplingParams) -> list[list[Completion]]:
            return self.driver.generate_think_budget(reqs, p, budget, marker)

        out: list[list[Completion]] = []
        for start in range(0, len(requests), self.chunk_size):
            chunk = list(requests[start : start + self.chunk_size])
            t0 = time.perf_counter()
            outs = self._generate_chunk(chunk, params, engine)
            self._account(len(chunk), t0, outs=outs)
            out.extend(outs)
        return out

    # -- generation -------------------------------------------------------------------------------------------
    def _generate_chunk(
        self,
        chunk: list[GenerateRequest],
        params: SamplingParams,
        engine: Callable[[list[GenerateRequest], SamplingParams], list[list[Completion]]] | None = None,
    ) -> list[list[Completion]]:
        results: list[list[Completion] | None] = [self._screen_generate(r, params) for r in chunk]
        runnable = [i for i, r in enumerate(results) if r is None]
        if runnable:
            outs = (engine or self.driver.generate)([chunk[i] for i in runnable], params)
            if len(outs) != len(runnable):
                raise RuntimeError(
                    f"backend {self.driver.prefix!r} returned {len(outs)} results for {len(runnable)} requests"
                )
            for i, group in zip(runnable, outs, strict=True):
                results[i] = _full_group(group, params.n)
        return [r if r is not None else [] for r in results]

    def iter_generate(
        self, requests: Sequence[GenerateRequest], params: SamplingParams, chunk_size: int | None = None
    ) -> Iterator[tuple[int, list[list[Completion]]]]:
        """Yield ``(start_index, completions)`` per chunk."""
        step = chunk_size or self.chunk_size
        for start in range(0, len(requests), step):
            chunk = list(requests[start : start + step])
            t0 = time.perf_counter()
            outs = self._generate_chunk(chunk, params)
            self._account(len(chunk), t0, outs=outs)
            yield start, outs

    def map_chunks(self, fn: Callable[..., T], jobs: Sequence[tuple[Any, ...]]) -> Iterator[tuple[int, T]]:
        """``fn(model, *job)`` for every job, yielded ``(job index, result)`` in order. A routine of several model
        calls per chunk (two-phase judging, thinking budgets) goes through here, so a model spread over workers
        (:class:`~rrm_eval.models._ray.RayModel`) runs whole chunks of it in parallel, each on one worker's engine;
        ``fn`` must be a module-level function (it is shipped to the workers) and ``job[0]`` the chunk's requests."""
        for i, job in enumerate(jobs):
            yield i, fn(self, *job)

    def generate(self, requests: Sequence[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
        out: list[list[Completion]] = []
        for _, chunk in self.iter_generate(requests, params):
            out.extend(chunk)
        return out

    # -- scoring ----------------------------------------------------------------------------------------------
    def _score_chunk(self, chunk: list[ScoreRequest]) -> list[ScoreResult]:
        counted: dict[str, int | None] = {}
        results: list[ScoreResult | None] = [self._screen_score(r, counted) for r in chunk]
        runnable = [i for i, r in enumerate(results) if r is None]
        if runnable:
            outs = self.driver.score([chunk[i] for i in runnable])
            if len(outs) != len(runnable):
                raise RuntimeError(
                    f"backend {self.driver.prefix!r} returned {len(outs)} scores for {len(runnable)} requests"
                )
            for i, res in zip(runnable, outs, strict=True):
                if res.error is not None and res.failure is None:  # every error carries its typed reason
                    res.failure = "backend_error"
                results[i] = res
        return [r for r in results if r is not None]

    def iter_score(
        self, requests: Sequence[ScoreRequest], chunk_size: int | None = None
    ) -> Iterator[tuple[int, list[ScoreResult]]]:
        step = chunk_size or self.chunk_size
        for start in range(0, len(requests), step):
            chunk = list(requests[start : start + step])
            t0 = time.perf_counter()
            outs = self._score_chunk(chunk)
            self._account(len(chunk), t0, scores=outs)
            yield start, outs

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        out: list[ScoreResult] = []
        for _, chunk in self.iter_score(requests):
            out.extend(chunk)
        return out

    def _account(
        self,
        n: int,
        t0: float,
        outs: list[list[Completion]] | None = None,
        scores: list[ScoreResult] | None = None,
    ) -> None:
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


def _full_group(group: list[Completion], n: int) -> list[Completion]:
    """Exactly ``n`` completions: a driver that came back short never makes a sample vanish from the records."""
    if len(group) >= n:
        return group[:n]
    prompt_tokens = group[0].prompt_tokens if group else 0
    missing = Completion("", "error", prompt_tokens, 0, f"backend returned {len(group)} of {n} completions")
    return group + [Completion(**missing.__dict__) for _ in range(n - len(group))]


def load_model(spec: str, chunk_size: int | None = None, **options: Any) -> Model:
    """Build a :class:`Model` from a spec string, e.g. ``load_model("hf:./ckpt", dtype="bfloat16")``.

    ``chunk_size`` (also accepted as an option, ``--model-opt chunk_size=N``) is how many requests go to the driver
    between journal writes."""
    if chunk_size is None:
        chunk_size = options.pop("chunk_size", None)
    else:
        options.pop("chunk_size", None)
    if chunk_size is not None:  # checked before the (possibly slow) model load
        chunk_size = int(coerce_option("chunk_size", chunk_size, WRAPPER_OPTIONS["chunk_size"]))
    if any(k in options for k in RAY_OPTIONS):
        from rrm_eval.models._ray import RayModel, RaySettings

        settings = RaySettings.pop_from(options)
        if settings is not None:
            return RayModel(spec, options, settings, chunk_size)
    return Model(create_driver(spec, **options), spec=spec, chunk_size=chunk_size)


ProgressFn = Callable[[int], None]

"""Judge modes as a registry: how one planned judge call becomes journal records.

A mode takes the planned calls of any protocol (pairwise presentations, tournament games) and yields their
:class:`~rrm_eval.runs.JudgeRecord` lines chunk by chunk, so the caller journals finished work before the next chunk
starts. Pairwise and tournament protocols both call :func:`judge_calls`; neither has a branch per mode.

* ``generate``: the judge writes a verdict that its parser reads; ``votes`` samples per call.
* ``logprob``: the judge scores each of its two labels as the continuation of the prompt; the likelier one wins.
  Deterministic, so one record per call whatever ``votes`` says.
* ``reason``: two-phase ReasonGenRM generation (``protocols/_reasoning.py``): a reason turn, then a verdict turn.

A thinking budget (:class:`ThinkBudget`, ``--think-budget``) is passed to :func:`judge_calls`; a mode that can
budget its judge's thinking implements :meth:`JudgeMode.judge_budgeted` (``generate`` does, through
``protocols/_reasoning.py::think_with_budget``); the others refuse it with a clear error.

A new mode (listwise, thinking-budgeted) is one subclass registered here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rrm_eval._errors import RRMError
from rrm_eval._registry import Registry
from rrm_eval._seeding import text_hash
from rrm_eval.judges import Judge, ParseResult
from rrm_eval.models import Completion, GenerateRequest, Message, Model, SamplingParams, ScoreRequest, ScoreResult
from rrm_eval.runs import JudgeRecord, record_key


@dataclass
class PlannedCall:
    """One presentation to a judge. Its records are keyed ``<item_id>|<order>|<sample>`` with samples numbered
    from ``first_sample`` (tournaments number a match's games this way)."""

    item_id: str
    subset: str
    order: str
    messages: list[Message]
    prompt: str
    meta: dict[str, Any] = field(default_factory=dict)
    first_sample: int = 0

    def key(self, sample: int) -> str:
        return record_key(self.item_id, self.order, sample)

    def keys(self, votes: int) -> list[str]:
        return [self.key(self.first_sample + s) for s in range(votes)]

    def request_key(self) -> str:
        """What drivers seed per-request sampling from: the call, not its position in a batch."""
        return f"{self.item_id}|{self.order}"


@dataclass(frozen=True)
class ThinkBudget:
    """``--think-budget``: the judge's thinking is closed (its ``think_end`` marker) after ``tokens`` tokens, and the
    verdict follows within ``verdict_tokens``."""

    tokens: int
    verdict_tokens: int = 64

    def __post_init__(self) -> None:
        if self.tokens < 1:
            raise RRMError(f"--think-budget must be at least 1 token, got {self.tokens}")
        if self.verdict_tokens < 1:
            raise RRMError(f"--verdict-budget must be at least 1 token, got {self.verdict_tokens}")


def check_think_budget(judge: Judge, think_budget: int | None) -> None:
    """Refuse, before any model loads, a thinking budget for a judge that has no end-of-thinking marker or whose
    mode cannot budget it."""
    if think_budget is None:
        return
    mode = mode_of(judge)
    if not mode.budgeted:
        raise RRMError(
            f"judge {judge.name!r} has mode {mode.name!r}, which has no thinking phase that --think-budget could cut",
            hint="use a judge of mode generate with a think_end marker (e.g. --judge rrm), or drop --think-budget",
        )
    if not judge.think_end:
        raise RRMError(
            f"judge {judge.name!r} ({judge.source or 'no file'}) has no end-of-thinking marker, so --think-budget "
            "cannot close its thinking",
            hint='add think_end = "</think>" (the marker the model writes) to a copy of the judge file and pass '
            "--judge path/to/it.toml, or drop --think-budget",
        )


def parse_completion(judge: Judge, completion: Completion) -> ParseResult:
    if completion.finish_reason == "input_too_long":
        return ParseResult(None, "input_too_long")
    if completion.finish_reason == "error":
        return ParseResult(None, "backend_error")
    return judge.get_parser()(completion.text, completion.finish_reason)


def base_record(call: PlannedCall, judge: Judge, sample: int, save_prompt: bool) -> dict[str, Any]:
    return dict(
        key=call.key(sample),
        item_id=call.item_id,
        subset=call.subset,
        order=call.order,
        sample=sample,
        judge=judge.name,
        prompt_hash=text_hash(call.prompt),
        # Votes share one prompt: store it with the call's first sample only.
        prompt=call.prompt if save_prompt and sample == call.first_sample else None,
        meta=dict(call.meta),
    )


def completion_record(
    call: PlannedCall,
    judge: Judge,
    sample: int,
    comp: Completion,
    save_prompt: bool,
    meta: dict[str, Any] | None = None,
) -> JudgeRecord:
    parsed = parse_completion(judge, comp)
    base = base_record(call, judge, sample, save_prompt)
    if meta:
        base["meta"] = {**base["meta"], **meta}
    return JudgeRecord(
        **base,
        raw=comp.text,
        finish_reason=comp.finish_reason,
        verdict=parsed.verdict,
        failure=parsed.failure,
        lenient=parsed.lenient,
        extracted=parsed.extracted,
        prompt_tokens=comp.prompt_tokens,
        completion_tokens=comp.completion_tokens,
        error=comp.error,
    )


class JudgeMode(ABC):
    name: ClassVar[str]
    #: Whether votes > 1 draws more samples (a deterministic mode makes one record per call).
    sampled: ClassVar[bool] = True
    #: The protocols whose prompts this mode's judges are written for (a best-of-N judge cannot judge a pair).
    protocols: ClassVar[tuple[str, ...]] = ("pairwise", "tournament")

    def records_per_call(self, votes: int) -> int:
        return votes if self.sampled else 1

    #: Whether :meth:`judge_budgeted` is implemented (the mode's judges think, and a budget can close that).
    budgeted: ClassVar[bool] = False

    def check(self, judge: Judge, model: Model) -> None:  # noqa: B027 - optional hook
        """Refuse a model this mode cannot use, before any call is made."""

    def judge_budgeted(
        self,
        calls: Sequence[PlannedCall],
        judge: Judge,
        model: Model,
        params: SamplingParams,
        save_prompts: bool,
        budget: ThinkBudget,
    ) -> Iterator[tuple[int, list[JudgeRecord]]]:
        """Like :meth:`judge`, with the judge's thinking closed after ``budget.tokens`` tokens."""
        check_think_budget(judge, budget.tokens)  # raises: this mode has no thinking to budget
        raise AssertionError("unreachable")  # pragma: no cover

    @abstractmethod
    def judge(
        self, calls: Sequence[PlannedCall], judge: Judge, model: Model, params: SamplingParams, save_prompts: bool
    ) -> Iterator[tuple[int, list[JudgeRecord]]]:
        """Yield ``(number of calls finished, their records)`` chunk by chunk."""


MODES: Registry[JudgeMode] = Registry("judge mode")


def register_mode(mode: JudgeMode, help: str) -> JudgeMode:
    return MODES.add(mode.name, mode, help)


class GenerateMode(JudgeMode):
    name = "generate"
    budgeted = True

    def judge(
        self, calls: Sequence[PlannedCall], judge: Judge, model: Model, params: SamplingParams, save_prompts: bool
    ) -> Iterator[tuple[int, list[JudgeRecord]]]:
        requests = [GenerateRequest(c.prompt, key=c.request_key()) for c in calls]
        for start, groups in model.iter_generate(requests, params):
            recs = [
                completion_record(calls[start + j], judge, calls[start + j].first_sample + s, comp, save_prompts)
                for j, group in enumerate(groups)
                for s, comp in enumerate(group)
            ]
            yield len(groups), recs

    def judge_budgeted(
        self,
        calls: Sequence[PlannedCall],
        judge: Judge,
        model: Model,
        params: SamplingParams,
        save_prompts: bool,
        budget: ThinkBudget,
    ) -> Iterator[tuple[int, list[JudgeRecord]]]:
        from rrm_eval.protocols._reasoning import think_with_budget

        check_think_budget(judge, budget.tokens)
        marker = judge.think_end or ""
        model.cut_to_tokens("", 0)  # a backend that cannot count tokens is refused before the first call
        # Both phases of a chunk's calls finish before its records are journaled; chunks may run in parallel on
        # the workers of a scaled-out model (``Model.map_chunks``).
        step = max(1, model.chunk_size // max(1, params.n))
        chunks = [calls[start : start + step] for start in range(0, len(calls), step)]
        jobs = [
            ([GenerateRequest(c.prompt, key=c.request_key()) for c in chunk], params, budget, marker)
            for chunk in chunks
        ]
        for i, groups in model.map_chunks(think_with_budget, jobs):
            chunk = chunks[i]
            recs = [
                completion_record(
                    call,
                    judge,
                    call.first_sample + s,
                    out.completion,
                    save_prompts,
                    {"thinking_tokens": out.thinking_tokens, "budget_cut": out.budget_cut},
                )
                for call, group in zip(chunk, groups, strict=True)
                for s, out in enumerate(group)
            ]
            yield len(chunk), recs


def logprob_record(
    call: PlannedCall, judge: Judge, first: ScoreResult, second: ScoreResult, save_prompt: bool
) -> JudgeRecord:
    failed = next((r for r in (first, second) if r.failure or r.error), None)
    lps: list[float] | None = None
    verdict: int | str | None
    if failed is not None:
        # Typed end to end: the driver (or the wrapper's screening) says why; no reading of the error's wording.
        verdict, failure = None, failed.failure or "backend_error"
    else:
        lps = [first.total, second.total]
        verdict = 1 if lps[0] > lps[1] else 2 if lps[1] > lps[0] else "tie"
        failure = None
    raw = "" if verdict is None else (judge.labels[0] if verdict == 1 else judge.labels[1] if verdict == 2 else "tie")
    return JudgeRecord(
        **base_record(call, judge, call.first_sample, save_prompt),
        raw=raw,
        finish_reason="scored",
        verdict=verdict,
        failure=failure,
        prompt_tokens=first.prompt_tokens,
        logprobs=lps,
        error=failed.error if failed is not None else None,
    )


class LogprobMode(JudgeMode):
    name = "logprob"
    sampled = False

    def judge(
        self, calls: Sequence[PlannedCall], judge: Judge, model: Model, params: SamplingParams, save_prompts: bool
    ) -> Iterator[tuple[int, list[JudgeRecord]]]:
        requests = [ScoreRequest(c.prompt, label, key=c.keys(1)[0]) for c in calls for label in judge.labels]
        # Keep both labels of a call in one chunk so a record is never half-scored.
        chunk = model.chunk_size + model.chunk_size % 2
        for start, results in model.iter_score(requests, chunk_size=chunk):
            recs = [
                logprob_record(calls[(start + j) // 2], judge, results[j], results[j + 1], save_prompts)
                for j in range(0, len(results), 2)
            ]
            yield len(recs), recs


register_mode(GenerateMode(), "the judge writes its verdict; the judge's parser reads it")
register_mode(LogprobMode(), "no generation: the likelier of the judge's two labels wins")
# ``reason`` registers itself in protocols/_reasoning.py (imported by the package).


def judge_calls(
    calls: Sequence[PlannedCall],
    judge: Judge,
    model: Model,
    params: SamplingParams,
    save_prompts: bool,
    budget: ThinkBudget | object | None = None,
) -> Iterator[tuple[int, list[JudgeRecord]]]:
    """Judge planned calls with the judge's own mode; yields ``(calls finished, records)`` per chunk. Callers run
    ``mode_of(judge).check(judge, model)`` once before rendering any prompt, so a model the mode cannot use is
    refused with the mode's own message. With ``budget`` (a :class:`ThinkBudget`, or a protocol config whose
    ``think_budget`` / ``verdict_budget`` fields say one), the judge's thinking is closed after ``budget.tokens``
    tokens (records gain ``meta.thinking_tokens`` and ``meta.budget_cut``)."""
    mode = MODES.get(judge.mode)
    if budget is not None and not isinstance(budget, ThinkBudget):
        budget = think_budget_of(budget)
    if budget is None:
        yield from mode.judge(calls, judge, model, params, save_prompts)
    else:
        yield from mode.judge_budgeted(calls, judge, model, params, save_prompts, budget)


def think_budget_of(config: object) -> ThinkBudget | None:
    """The :class:`ThinkBudget` a protocol config asks for (its ``think_budget`` / ``verdict_budget`` fields), or
    None: the one place a config becomes a budget, for pairwise runs and sweeps alike."""
    tokens = getattr(config, "think_budget", None)
    if tokens is None:
        return None
    return ThinkBudget(int(tokens), int(getattr(config, "verdict_budget", 64)))


def mode_of(judge: Judge) -> JudgeMode:
    return MODES.get(judge.mode)


def check_mode_fits(judge: Judge, protocol: str) -> None:
    """Refuse, before any model loads, a judge whose mode is written for another protocol's prompts."""
    mode = mode_of(judge)
    if protocol not in mode.protocols:
        fitting = sorted(n for n in MODES.names() if protocol in MODES.get(n).protocols)
        raise RRMError(
            f"judge {judge.name!r} has mode {mode.name!r}, which judges {' and '.join(mode.protocols)} prompts, "
            f"not {protocol} ones",
            hint=f"pick a judge of mode {', '.join(fitting)} here (see `rrm-eval list judges`)"
            + ("; best-of-N judges run with `rrm-eval bestof`" if "bestof" in mode.protocols else ""),
        )


def check_modes_match() -> None:
    """The judge loader validates ``mode`` against :data:`JUDGE_MODE_NAMES`; every such name must be registered."""
    from rrm_eval.judges import JUDGE_MODE_NAMES

    missing = set(JUDGE_MODE_NAMES) - set(MODES.names())
    if missing:  # pragma: no cover - a packaging mistake, caught by the test suite
        raise RuntimeError(f"judge modes without an implementation: {sorted(missing)}")


__all__ = [
    "MODES",
    "GenerateMode",
    "JudgeMode",
    "LogprobMode",
    "PlannedCall",
    "ThinkBudget",
    "base_record",
    "check_mode_fits",
    "check_modes_match",
    "check_think_budget",
    "completion_record",
    "judge_calls",
    "logprob_record",
    "mode_of",
    "parse_completion",
    "register_mode",
    "think_budget_of",
]

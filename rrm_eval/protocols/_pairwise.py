"""The pairwise protocol: which prompts a judge sees for each item, and the records its answers become.

It never computes scores (``rrm_eval.scoring`` does, from the records alone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rrm_eval._errors import RRMError
from rrm_eval._seeding import coin, text_hash
from rrm_eval.judges import Judge, ParseResult
from rrm_eval.models import Completion, GenerateRequest, Model, SamplingParams, ScoreRequest, ScoreResult
from rrm_eval.runs import JudgeRecord, RunJournal, record_key
from rrm_eval.tasks import PairwiseItem

Order = Literal["random", "both", "fixed"]
ORDERS = ("random", "both", "fixed")


@dataclass(frozen=True)
class PairwiseConfig:
    """``order``: ``random`` = one presentation per pair, chosen by a coin seeded from (seed, item id) — the
    published "with_shuffle"; ``both`` = A/B and B/A; ``fixed`` = chosen always first. ``votes``: samples per
    presentation, reduced by majority. ``temperature``/``top_p``/``max_new_tokens`` override the judge's defaults."""

    order: Order = "random"
    votes: int = 1
    seed: int = 0
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    save_prompts: bool = True
    overrides: dict[str, float | int] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise RRMError(f"unknown order {self.order!r}", hint=f"use one of {', '.join(ORDERS)}")
        if self.votes < 1:
            raise RRMError(f"--votes must be at least 1, got {self.votes}")


def presentation_orders(item_id: str, config: PairwiseConfig) -> list[str]:
    """``"AB"``: chosen shown first; ``"BA"``: rejected shown first."""
    if config.order == "fixed":
        return ["AB"]
    if config.order == "both":
        return ["AB", "BA"]
    return ["BA" if coin("order", config.seed, item_id) else "AB"]


@dataclass
class PlannedCall:
    item: PairwiseItem
    order: str
    prompt: str

    def keys(self, votes: int) -> list[str]:
        return [record_key(self.item.id, self.order, s) for s in range(votes)]


def plan_calls(items: Sequence[PairwiseItem], judge: Judge, model: Model, config: PairwiseConfig) -> list[PlannedCall]:
    calls = []
    for item in items:
        for order in presentation_orders(item.id, config):
            first, second = (item.chosen, item.rejected) if order == "AB" else (item.rejected, item.chosen)
            prompt = model.render(judge.messages(item.prompt, first, second))
            calls.append(PlannedCall(item, order, prompt))
    return calls


def sampling_for(judge: Judge, config: PairwiseConfig) -> SamplingParams:
    return judge.sampling_params(
        config.seed,
        n=config.votes,
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
    )


def parse_completion(judge: Judge, completion: Completion) -> ParseResult:
    if completion.finish_reason == "input_too_long":
        return ParseResult(None, "input_too_long")
    if completion.finish_reason == "error":
        return ParseResult(None, "backend_error")
    return judge.get_parser()(completion.text, completion.finish_reason)


def _base_record(call: PlannedCall, judge: Judge, sample: int, save_prompt: bool) -> dict:
    return dict(
        key=record_key(call.item.id, call.order, sample),
        item_id=call.item.id,
        subset=call.item.subset,
        order=call.order,
        sample=sample,
        judge=judge.name,
        prompt_hash=text_hash(call.prompt),
        prompt=call.prompt if save_prompt and sample == 0 else None,  # votes share one prompt: store it once
        meta=dict(call.item.meta),
    )


def generation_records(
    call: PlannedCall, judge: Judge, group: list[Completion], save_prompt: bool
) -> list[JudgeRecord]:
    out = []
    for sample, comp in enumerate(group):
        parsed = parse_completion(judge, comp)
        out.append(
            JudgeRecord(
                **_base_record(call, judge, sample, save_prompt),
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
        )
    return out


def logprob_record(
    call: PlannedCall, judge: Judge, first: ScoreResult, second: ScoreResult, save_prompt: bool
) -> JudgeRecord:
    error = first.error or second.error
    if error:
        verdict, failure = None, ("input_too_long" if "truncated input" in error else "backend_error")
        lps = None
    else:
        lps = [first.total, second.total]
        verdict = 1 if lps[0] > lps[1] else 2 if lps[1] > lps[0] else "tie"
        failure = None
    raw = "" if verdict is None else (judge.labels[0] if verdict == 1 else judge.labels[1] if verdict == 2 else "tie")
    return JudgeRecord(
        **_base_record(call, judge, 0, save_prompt),
        raw=raw,
        finish_reason="scored",
        verdict=verdict,
        failure=failure,
        prompt_tokens=first.prompt_tokens,
        logprobs=lps,
        error=error,
    )


def run_pairwise(
    items: Sequence[PairwiseItem],
    judge: Judge,
    model: Model,
    config: PairwiseConfig,
    journal: RunJournal,
    done_keys: set[str],
    advance: Callable[[int], None] | None = None,
) -> int:
    """Judge every pending call, appending records chunk by chunk. Returns the number of records written."""
    if judge.mode == "reason":  # two-phase ReasonGenRM generation (reason turn, then verdict turn)
        from rrm_eval.protocols._reasoning import run_reasoning

        return run_reasoning(items, judge, model, config, journal, done_keys, advance)
    votes = 1 if judge.mode == "logprob" else config.votes
    calls = [c for c in plan_calls(items, judge, model, config) if not set(c.keys(votes)) <= done_keys]
    written = 0
    if judge.mode == "logprob":
        requests = [ScoreRequest(c.prompt, label, key=c.keys(1)[0]) for c in calls for label in judge.labels]
        # Keep both labels of a call in one chunk so a record is never half-scored.
        chunk = model.chunk_size + model.chunk_size % 2
        for start, results in model.iter_score(requests, chunk_size=chunk):
            recs = []
            for j in range(0, len(results), 2):
                call = calls[(start + j) // 2]
                recs.append(logprob_record(call, judge, results[j], results[j + 1], config.save_prompts))
            written += journal.append(recs)
            if advance:
                advance(len(recs))
        return written
    params = sampling_for(judge, config)
    gen_requests = [GenerateRequest(c.prompt, key=f"{c.item.id}|{c.order}") for c in calls]
    for start, groups in model.iter_generate(gen_requests, params):
        recs = []
        for j, group in enumerate(groups):
            recs.extend(generation_records(calls[start + j], judge, group, config.save_prompts))
        written += journal.append(recs)
        if advance:
            advance(len(groups))
    return written

"""The pairwise protocol: which prompts a judge sees for each item, and the records its answers become.

It never computes scores (``rrm_eval.scoring`` does, from the records alone), and has no branch per judge mode: the
mode registry (``protocols/_modes.py``) turns planned calls into records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rrm_eval._errors import RRMError
from rrm_eval._seeding import coin
from rrm_eval.judges import Judge
from rrm_eval.models import Model, SamplingParams
from rrm_eval.protocols._modes import PlannedCall, judge_calls, mode_of
from rrm_eval.runs import Run, record_key
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
        check_sampling_overrides(self.temperature, self.top_p, self.max_new_tokens)


def check_sampling_overrides(temperature: float | None, top_p: float | None, max_new_tokens: int | None) -> None:
    """The same ranges the judge file's [sampling] obeys, for the command-line overrides."""
    if temperature is not None and not temperature >= 0:  # also refuses NaN
        raise RRMError(f"--temperature must be >= 0, got {temperature}", hint="0 = greedy decoding")
    if top_p is not None and not 0 < top_p <= 1:
        raise RRMError(f"--top-p must be in (0, 1], got {top_p}", hint="1 = no nucleus truncation")
    if max_new_tokens is not None and max_new_tokens < 1:
        raise RRMError(f"--max-new-tokens must be at least 1, got {max_new_tokens}")


def presentation_orders(item_id: str, config: PairwiseConfig) -> list[str]:
    """``"AB"``: chosen shown first; ``"BA"``: rejected shown first."""
    if config.order == "fixed":
        return ["AB"]
    if config.order == "both":
        return ["AB", "BA"]
    return ["BA" if coin("order", config.seed, item_id) else "AB"]


def plan_calls(items: Sequence[PairwiseItem], judge: Judge, model: Model, config: PairwiseConfig) -> list[PlannedCall]:
    calls = []
    for item in items:
        for order in presentation_orders(item.id, config):
            first, second = (item.chosen, item.rejected) if order == "AB" else (item.rejected, item.chosen)
            messages = judge.messages(item.prompt, first, second)
            calls.append(PlannedCall(item.id, item.subset, order, messages, model.render(messages), dict(item.meta)))
    return calls


def sampling_for(judge: Judge, config: PairwiseConfig) -> SamplingParams:
    return judge.sampling_params(
        config.seed,
        n=config.votes if mode_of(judge).sampled else 1,
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
    )


def expected_records(items: Sequence[PairwiseItem], judge: Judge, config: PairwiseConfig) -> int:
    return len(items) * len(presentation_orders("", config)) * mode_of(judge).records_per_call(config.votes)


def run_pairwise(items: Sequence[PairwiseItem], judge: Judge, run: Run, config: PairwiseConfig) -> int:
    """Judge every call with a record key not saved yet, appending records chunk by chunk into ``run``. A call is
    redone when any of its votes is missing (e.g. a torn write); only the missing keys are appended. Returns the
    number of records written."""
    votes = mode_of(judge).records_per_call(config.votes)
    # Pending items are found from keys alone, so a finished run never loads the model or renders a prompt.
    todo = [
        i
        for i in items
        if not run.all_saved(record_key(i.id, o, s) for o in presentation_orders(i.id, config) for s in range(votes))
    ]
    if not todo:
        return 0
    model = run.model
    mode_of(judge).check(judge, model)
    calls = [c for c in plan_calls(todo, judge, model, config) if not run.all_saved(c.keys(votes))]
    total = sum(len(presentation_orders(i.id, config)) for i in items)
    run.start_progress(total, total - len(calls))
    written = 0
    for finished, recs in judge_calls(calls, judge, model, sampling_for(judge, config), config.save_prompts):
        written += run.append(recs)
        run.advance(finished)
    return written

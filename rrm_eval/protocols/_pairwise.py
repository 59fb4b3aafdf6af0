"""The pairwise protocol: which prompts a judge sees for each item, and the records its answers become.

It never computes scores (``rrm_eval.scoring`` does, from the records alone), and has no branch per judge mode: the
mode registry (``protocols/_modes.py``) turns planned calls into records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from rrm_eval._errors import RRMError
from rrm_eval._seeding import coin
from rrm_eval.judges import Judge
from rrm_eval.models import Model, SamplingParams
from rrm_eval.protocols._early_stop import Outcome, Wave, next_wave, stop_rule, waves_drawn
from rrm_eval.protocols._modes import PlannedCall, judge_calls, mode_of
from rrm_eval.runs import Run
from rrm_eval.scoring import record_outcome
from rrm_eval.scoring._pairwise import vote_accounting
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
    #: Thinking budget (tokens) of a reasoning judge: its thinking is closed at this length and the verdict follows
    #: within ``verdict_budget`` tokens (None = no budget).
    think_budget: int | None = None
    verdict_budget: int = 64
    #: Votes drawn in waves, stopping early: "exact" (stop once the rest cannot change the majority) or
    #: "conf=P" (a posterior rule); None = all ``votes``.
    early_stop: str | None = None
    overrides: dict[str, float | int] = field(default_factory=dict, compare=False)

    def identity(self) -> dict[str, object]:
        """The settings that enter a run's identity. Test-time-compute options enter only when used, so a run made
        without them (or before they existed) keeps its identity."""
        out: dict[str, object] = {k: v for k, v in asdict(self).items() if k != "overrides"}
        if self.think_budget is None:
            out.pop("think_budget")
            out.pop("verdict_budget")
        if self.early_stop is None:
            out.pop("early_stop")
        return out

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise RRMError(f"unknown order {self.order!r}", hint=f"use one of {', '.join(ORDERS)}")
        if self.votes < 1:
            raise RRMError(f"--votes must be at least 1, got {self.votes}")
        check_sampling_overrides(self.temperature, self.top_p, self.max_new_tokens)
        if self.think_budget is not None and self.think_budget < 1:
            raise RRMError(f"--think-budget must be at least 1 token, got {self.think_budget}")
        if self.verdict_budget < 1:
            raise RRMError(f"--verdict-budget must be at least 1 token, got {self.verdict_budget}")
        rule = stop_rule(self.early_stop)
        if rule is not None:  # canonical ("conf=.95" and "conf=0.95" are one run)
            object.__setattr__(self, "early_stop", rule.spec)


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


def sampling_for(judge: Judge, config: PairwiseConfig, wave: Wave | None = None) -> SamplingParams:
    """The sampling of a presentation's votes; with ``wave``, only that wave's (``n`` votes from ``first``)."""
    params = judge.sampling_params(
        config.seed,
        n=config.votes if mode_of(judge).sampled else 1,
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
    )
    return params if wave is None else replace(params, n=wave.n, first_sample=wave.first)


def expected_records(items: Sequence[PairwiseItem], judge: Judge, config: PairwiseConfig) -> int:
    """Records of a finished run without early stop (with it, at most this many: the fast path's upper bound)."""
    return len(items) * len(presentation_orders("", config)) * mode_of(judge).records_per_call(config.votes)


Presentation = tuple[str, str]  # (item id, order)


def saved_votes(run: Run, orders: dict[str, list[str]]) -> dict[Presentation, dict[int, Outcome]]:
    """The saved votes of the given presentations, as the scorer reads them (a resumed run's waves replay them)."""
    votes: dict[Presentation, dict[int, Outcome]] = defaultdict(dict)
    for r in run.existing:
        if r.get("kind", "judge") == "judge" and r.get("order") in orders.get(r.get("item_id", ""), ()):
            votes[(r["item_id"], r["order"])][int(r["sample"])] = _outcome(r)
    return votes


def _outcome(record: Mapping[str, Any]) -> Outcome:
    o = record_outcome(record)
    return "chosen" if o == "chosen" else "rejected" if o == "rejected" else "tie" if o == "tie" else None


def _prefix(votes: dict[int, Outcome]) -> list[Outcome]:
    """Votes 0, 1, ... up to the first one missing."""
    out: list[Outcome] = []
    while len(out) in votes:
        out.append(votes[len(out)])
    return out


def run_pairwise(items: Sequence[PairwiseItem], judge: Judge, run: Run, config: PairwiseConfig) -> int:
    """Judge every presentation whose votes are not all saved, appending records chunk by chunk into ``run``;
    returns the number of records written.

    Without early stop a presentation is one call of all its votes, redone when any is missing (e.g. a torn write;
    only the missing keys are appended). With ``config.early_stop`` its votes are drawn in waves
    (``protocols/_early_stop.py``): each round judges the undecided presentations, one batch per distinct wave
    (first vote, count), until the rule settles them or all ``votes`` are drawn. Vote ``s`` is seeded as sample
    ``s`` whatever wave draws it, so its record is the one a full run would have. A deterministic mode (one record
    per call, e.g. ``logprob``) has nothing to stop early: one wave."""
    votes = mode_of(judge).records_per_call(config.votes)
    rule = stop_rule(config.early_stop) if votes > 1 else None
    orders = {i.id: presentation_orders(i.id, config) for i in items}
    # Pending work is found from saved records alone, so a finished run never loads the model or renders a prompt.
    drawn = saved_votes(run, orders)
    pending = {
        (i.id, o): w for i in items for o in orders[i.id] if (w := next_wave(_prefix(drawn[(i.id, o)]), votes, rule))
    }
    if not pending:
        return 0
    model = run.model
    mode_of(judge).check(judge, model)
    todo = [i for i in items if any((i.id, o) in pending for o in orders[i.id])]
    planned = {
        (c.item_id, c.order): c for c in plan_calls(todo, judge, model, config) if (c.item_id, c.order) in pending
    }
    total = sum(len(o) for o in orders.values())
    run.start_progress(total, total - len(planned))
    written = 0
    while pending:
        rounds: dict[Wave, list[PlannedCall]] = defaultdict(list)
        for key, wave in pending.items():
            rounds[wave].append(replace(planned[key], first_sample=wave.first))
        for wave, calls in sorted(rounds.items()):
            params = sampling_for(judge, config, wave)
            for _, recs in judge_calls(calls, judge, model, params, config.save_prompts, config):
                if wave.first:  # a full run stores the prompt with vote 0 only
                    recs = [replace(r, prompt=None) for r in recs]
                written += run.append(recs)
                touched = set()
                for r in recs:  # a vote saved before (a redrawn wave) keeps its saved reading
                    drawn[(r.item_id, r.order)].setdefault(r.sample, _outcome(r.to_dict()))
                    touched.add((r.item_id, r.order))
                settled = [k for k in touched if next_wave(_prefix(drawn[k]), votes, rule) is None]
                run.advance(len(settled))
        advanced = {k: w for k in pending if (w := next_wave(_prefix(drawn[k]), votes, rule))}
        if any(w.first <= pending[k].first for k, w in advanced.items()):
            raise RuntimeError("early-stop waves made no progress")  # a mode that returned no records for a call
        pending = advanced
    return written


def vote_summary(records: Sequence[Mapping[str, Any]], judge: Judge, config: PairwiseConfig) -> dict[str, Any]:
    """The summary's ``votes`` block: votes drawn vs ``votes`` x presentations, tokens spent and the saving
    (``rrm_eval.scoring._pairwise.vote_accounting``), the rule, and the mean number of waves it drew."""
    votes = mode_of(judge).records_per_call(config.votes)
    out = vote_accounting(records, votes)
    out["early_stop"] = config.early_stop
    if config.early_stop is not None and votes == 1:
        out["note"] = (
            f"early stop is a no-op here: judge mode {judge.mode!r} makes one record per call"
            if config.votes > 1
            else "early stop is a no-op with --votes 1"
        )
    rule = stop_rule(config.early_stop) if votes > 1 else None
    by_presentation: dict[Presentation, dict[int, Outcome]] = defaultdict(dict)
    for r in records:
        by_presentation[(r["item_id"], r["order"])][int(r["sample"])] = _outcome(r)
    waves = [waves_drawn(_prefix(v), votes, rule) for v in by_presentation.values()]
    out["mean_waves"] = sum(waves) / len(waves) if waves else None
    return out

"""The best-of-N protocol (RewardBench 2): which prompts a judge sees for one chosen among N completions, and the
records its answers become. Three ways to play, all through the judge-mode registry and one :class:`Run`:

* ``listwise``: one prompt shows the four completions in numbered slots; the chosen sits in a slot drawn from
  (seed, item id) and the three rejected fill the others in a seeded order. Record ``order`` = the permutation
  (``"2013"``: slot 1 shows completion 2, ...; completion 0 is the chosen), ``meta.chosen_slot`` = its slot.
* ``ratings``: every completion rated alone (1-10); record ``order`` = ``r<k>`` (completion k), ``meta.completion``.
  Ties rows are always played this way, whatever the mode.
* ``knockout``: the pairwise judge plays a seeded single-elimination bracket among the four (3 calls) through the
  tournament engine (``SCHEDULES["knockout"]``, :func:`run_tournament`); candidate ``c0`` is the chosen.

Nothing here computes a score (``rrm_eval.scoring._rewardbench2`` does, from the records alone).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval._seeding import stable_rng
from rrm_eval.judges import Judge
from rrm_eval.models import Model, SamplingParams
from rrm_eval.protocols._modes import GenerateMode, PlannedCall, judge_calls, mode_of, register_mode
from rrm_eval.protocols._pairwise import check_sampling_overrides
from rrm_eval.protocols._tournament import TournamentConfig, run_tournament
from rrm_eval.runs import JudgeRecord, Run, record_key
from rrm_eval.tasks import Candidate, CandidateSet
from rrm_eval.tasks._rewardbench2 import RB2Item

RB2_MODES = ("listwise", "ratings", "knockout")
#: The judge mode each way needs (knockout: any pairwise mode).
_JUDGE_MODE = {"listwise": "listwise", "ratings": "rating"}
RATING_SCALE_TOP = 10
_LAYOUT = "bestof_layout"  # meta key a best-of-N planned call carries; the listwise/rating modes require it


# -- judge modes ----------------------------------------------------------------------------------------------------
class _BestOfMode(GenerateMode):
    """Generate and parse like ``generate``; refuses calls planned by another protocol, whose templates mean
    something else (a pairwise protocol would fill ``{answer_1}``/``{answer_2}`` with a chosen and a rejected)."""

    protocols = ("bestof",)

    def judge(
        self, calls: Sequence[PlannedCall], judge: Judge, model: Model, params: SamplingParams, save_prompts: bool
    ) -> Iterator[tuple[int, list[JudgeRecord]]]:
        stray = next((c for c in calls if c.meta.get(_LAYOUT) != self.name), None)
        if stray is not None:
            raise RRMError(
                f"judge {judge.name!r} has mode {self.name!r}: it judges best-of-N prompts, not pairs or tournament "
                f"games (item {stray.item_id!r})",
                hint="run it with `rrm-eval bestof --dataset rewardbench2`, or pick a pairwise judge here",
            )
        yield from super().judge(calls, judge, model, params, save_prompts)


class ListwiseMode(_BestOfMode):
    name = "listwise"


class RatingMode(_BestOfMode):
    name = "rating"


register_mode(ListwiseMode(), "best-of-N: one prompt shows N responses; the judge names the best slot")
register_mode(RatingMode(), "best-of-N: each response rated alone on a 1-10 scale")


# -- configuration ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BestOfConfig:
    """``mode``: listwise | ratings | knockout (Ties rows are always rated). Sampling overrides as in
    :class:`~rrm_eval.protocols.PairwiseConfig`; ``seed`` seeds the slots, the brackets and sampling."""

    mode: str = "listwise"
    seed: int = 0
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    save_prompts: bool = True

    def __post_init__(self) -> None:
        if self.mode not in RB2_MODES:
            raise RRMError(f"unknown --rb2-mode {self.mode!r}", hint=f"use one of {', '.join(RB2_MODES)}")
        check_sampling_overrides(self.temperature, self.top_p, self.max_new_tokens)

    def identity(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_judge_fits(judge: Judge, way: str, role: str = "--judge") -> None:
    """Refuse a judge whose mode cannot play ``way`` before anything loads."""
    needed = _JUDGE_MODE.get(way)
    if needed is not None and judge.mode != needed:
        raise RRMError(
            f"{role} {judge.name!r} has mode {judge.mode!r}; --rb2-mode {way} needs a judge of mode {needed!r}",
            hint=f"use --judge rb2-{'listwise' if way == 'listwise' else 'ratings'} (or your own file with "
            f"mode = {needed!r})",
        )
    if needed is None and judge.mode in _JUDGE_MODE.values():
        raise RRMError(
            f"{role} {judge.name!r} has mode {judge.mode!r}; --rb2-mode knockout needs a pairwise judge",
            hint="use e.g. --judge rrm or --judge skywork-critic",
        )


def sampling(judge: Judge, cfg: BestOfConfig, offset: int = 0) -> SamplingParams:
    return judge.sampling_params(
        cfg.seed + offset, n=1, temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens
    )


# -- listwise -------------------------------------------------------------------------------------------------------
def listwise_permutation(seed: int, item_id: str, n: int) -> list[int]:
    """Which completion each slot shows (completion 0 = the chosen). The chosen's slot is one seeded draw from
    (seed, item id); the rejected fill the other slots in a seeded order. Same in every process."""
    rng = stable_rng("rb2-listwise", seed, item_id)
    slot = rng.randrange(n)
    rest = list(range(1, n))
    rng.shuffle(rest)
    return [*rest[:slot], 0, *rest[slot:]]


def permutation_order(perm: Sequence[int]) -> str:
    return "".join(str(i) for i in perm) if len(perm) <= 10 else "-".join(str(i) for i in perm)


def render_slots(texts: Sequence[str]) -> str:
    """The responses block of a listwise prompt (the judge file's ``{answer_1}``)."""
    return "\n\n".join(f"### Response {k}\n\n{text}\n\n(end of response {k})" for k, text in enumerate(texts, 1))


def _listwise_call(item: RB2Item, judge: Judge, model: Model, seed: int) -> PlannedCall:
    perm = listwise_permutation(seed, item.id, len(item.completions))
    messages = judge.messages(item.prompt, render_slots([item.completions[i] for i in perm]), str(len(perm)))
    meta = {_LAYOUT: "listwise", "permutation": perm, "chosen_slot": perm.index(0) + 1, **item.meta}
    return PlannedCall(item.id, item.subset, permutation_order(perm), messages, model.render(messages), meta)


def listwise_key(item: RB2Item, seed: int) -> str:
    return record_key(item.id, permutation_order(listwise_permutation(seed, item.id, len(item.completions))), 0)


# -- ratings --------------------------------------------------------------------------------------------------------
def rating_key(item_id: str, k: int) -> str:
    return record_key(item_id, f"r{k}", 0)


def _rating_call(item: RB2Item, k: int, judge: Judge, model: Model) -> PlannedCall:
    messages = judge.messages(item.prompt, item.completions[k], str(RATING_SCALE_TOP))
    meta = {_LAYOUT: "rating", "completion": k, "correct": k < item.num_correct, **item.meta}
    meta["num_correct"] = item.num_correct
    meta["n_completions"] = len(item.completions)
    return PlannedCall(item.id, item.subset, f"r{k}", messages, model.render(messages), meta)


# -- knockout -------------------------------------------------------------------------------------------------------
def candidate_set(item: RB2Item) -> CandidateSet:
    """The item's completions as a candidate set: ``c0`` the chosen, ``c1..`` the rejected."""
    cands = tuple(Candidate(f"c{k}", text, correct=k < item.num_correct) for k, text in enumerate(item.completions))
    return CandidateSet(item.id, item.prompt, cands, subset=item.subset)


def knockout_config(cfg: BestOfConfig) -> TournamentConfig:
    return TournamentConfig(
        schedule="knockout",
        games=1,
        seed=cfg.seed,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        max_new_tokens=cfg.max_new_tokens,
        save_prompts=cfg.save_prompts,
    )


# -- running --------------------------------------------------------------------------------------------------------
def expected_keys(items: Sequence[RB2Item], cfg: BestOfConfig) -> list[str]:
    """Keys of the listwise and rating records the items need (knockout games are planned round by round)."""
    keys: list[str] = []
    for item in items:
        if item.is_ties or cfg.mode == "ratings":
            keys += [rating_key(item.id, k) for k in range(len(item.completions))]
        elif cfg.mode == "listwise":
            keys.append(listwise_key(item, cfg.seed))
    return keys


def _judge(run: Run, calls: list[PlannedCall], judge: Judge, params: SamplingParams, save: bool) -> int:
    written = 0
    for finished, recs in judge_calls(calls, judge, run.model, params, save):
        written += run.append(recs)
        run.advance(finished)
    return written


def run_bestof(items: Sequence[RB2Item], judge: Judge, ties_judge: Judge, run: Run, cfg: BestOfConfig) -> int:
    """Judge every best-of-N call of ``items`` whose key is not saved in ``run``; returns the judge records written.
    Ties rows are rated by ``ties_judge``; the others play ``cfg.mode`` with ``judge``. A finished run renders no
    prompt and loads no model."""
    ties = [i for i in items if i.is_ties]
    rest = [i for i in items if not i.is_ties]
    written = 0
    rated = ties + (rest if cfg.mode == "ratings" else [])
    pending_ratings = [
        (item, k) for item in rated for k in range(len(item.completions)) if not run.saved(rating_key(item.id, k))
    ]
    pending_listwise = [i for i in rest if not run.saved(listwise_key(i, cfg.seed))] if cfg.mode == "listwise" else []
    if pending_ratings or pending_listwise:
        run.start_progress(len(expected_keys(items, cfg)), len(expected_keys(items, cfg)) - len(pending_ratings)
                           - len(pending_listwise))  # fmt: skip
        model = run.model
        for item_judge, group in ((ties_judge, [p for p in pending_ratings if p[0].is_ties]),
                                  (judge, [p for p in pending_ratings if not p[0].is_ties])):  # fmt: skip
            if group:
                mode_of(item_judge).check(item_judge, model)
                calls = [_rating_call(item, k, item_judge, model) for item, k in group]
                written += _judge(run, calls, item_judge, sampling(item_judge, cfg), cfg.save_prompts)
        if pending_listwise:
            mode_of(judge).check(judge, model)
            calls = [_listwise_call(i, judge, model, cfg.seed) for i in pending_listwise]
            written += _judge(run, calls, judge, sampling(judge, cfg), cfg.save_prompts)
    if cfg.mode == "knockout" and rest:
        written += run_tournament([candidate_set(i) for i in rest], judge, knockout_config(cfg), run)
    return written


__all__ = [
    "RATING_SCALE_TOP",
    "RB2_MODES",
    "BestOfConfig",
    "ListwiseMode",
    "RatingMode",
    "candidate_set",
    "check_judge_fits",
    "expected_keys",
    "knockout_config",
    "listwise_key",
    "listwise_permutation",
    "permutation_order",
    "rating_key",
    "render_slots",
    "run_bestof",
]

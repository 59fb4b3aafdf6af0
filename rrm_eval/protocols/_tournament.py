"""Tournaments over candidate sets: which games a judge plays, round by round, and the records they become.

A *game* is one judge call on (question, candidate shown first, candidate shown second), rendered with the judge's own
TOML prompt exactly like a pairwise item. A *match* between two candidates is one or more games. Schedules are
generators that yield one round of games per candidate set and receive the winners of those games before planning the
next round; :func:`run_tournament` advances every set in lockstep, so each round is ONE batch through the model.

Schedules:

* ``round-robin``: every unordered pair once (``games=1``, presentation order by a coin seeded from (seed, set id,
  pair)) or in both orders (``games=2``). A single round.
* ``knockout``: a fixed bracket file (``ppe_dataset/MMLU_knockout_bracket.json`` format) or a seeded random bracket,
  with byes when N is not a power of two; N - 1 matches. ``final_size=K`` stops when K remain and plays a round robin
  among them.
* ``swiss``: R rounds pairing candidates with equal scores that have not met yet (the chess Swiss system).

Matches of ``games=2`` show both orders; ``games=k`` (odd, >= 3) is best of k: both orders first, then more games
only while the match is undecided (best of three = a decider when the first two are split).
Who advances is :func:`rrm_eval.scoring.match_winner`: more game wins, a level match goes to a coin seeded from the
match id. Nothing here computes a rating or an accuracy.

Record keys: ``item_id`` = match id ``<set>|<phase><round>|<x>|<y>``, ``order`` = ``"<first>><second>"``, ``sample`` =
game index; resume skips every key already in the journal and replays the finished rounds from their records.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import combinations
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval._registry import Registry
from rrm_eval._seeding import coin, stable_hash, stable_rng
from rrm_eval.judges import Judge
from rrm_eval.models import Model
from rrm_eval.protocols._modes import PlannedCall, judge_calls, mode_of
from rrm_eval.runs import AdvanceRecord, JudgeRecord, Run, advance_key, record_key
from rrm_eval.scoring import match_winner
from rrm_eval.tasks import CandidateSet

#: Games per match: 1 (one seeded order), 2 (both orders), or best of an odd k (both orders first, then deciders).
GAMES_PER_MATCH = (1, 2, 3, 5, 7, 9)
#: Brackets shipped as package data (rrm_eval.ppe_dataset), by short name.
SHIPPED_BRACKETS = {"mmlu": "MMLU_knockout_bracket.json"}

Outcome = str | None  # a candidate id, "draw", or None when the verdict was unreadable


# -- brackets --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bracket:
    """First-round order of candidate positions (0-based); ``None`` is a bye. Round k pairs the winners of
    neighbouring slots, so the list alone defines the whole bracket."""

    slots: tuple[int | None, ...]
    source: str

    @property
    def size(self) -> int:
        return sum(1 for s in self.slots if s is not None)

    def check_covers(self, cs: CandidateSet) -> None:
        n = len(cs.candidates)
        placed = sorted(s for s in self.slots if s is not None)
        if placed != list(range(n)):
            missing = sorted(set(range(n)) - set(placed))
            extra = sorted(set(placed) - set(range(n)))
            raise RRMError(
                f"problem {cs.id!r}: bracket {self.source} does not cover its {n} candidates"
                + (f" (positions {missing[:8]} missing)" if missing else "")
                + (f" (positions {extra[:8]} do not exist)" if extra else ""),
                hint="use a bracket for exactly this many candidates, or omit --bracket for a seeded random one",
            )


def parse_bracket(data: Any, source: str) -> Bracket:
    """Validate ``{"round_1": [[a, b], ...], "round_2": [[a, b, c, d], ...], ...}``: round k lists groups of 2^k
    positions whose halves are groups of round k-1, i.e. every round is the same first-round order, regrouped."""
    if not isinstance(data, dict) or "round_1" not in data:
        raise RRMError(f"bracket {source}: expected an object with round_1, round_2, ... lists")
    try:
        slots = [s for pair in data["round_1"] for s in pair]
        if any(len(pair) != 2 for pair in data["round_1"]):
            raise ValueError("round_1 must list pairs")
        if any(s is not None and (not isinstance(s, int) or isinstance(s, bool) or s < 0) for s in slots):
            raise ValueError("entries must be candidate positions (integers >= 0) or null for a bye")
        if len(slots) < 2 or len(slots) & (len(slots) - 1):
            raise ValueError(f"round_1 has {len(slots)} slots; a bracket needs a power of two")
        placed = [s for s in slots if s is not None]
        if len(placed) != len(set(placed)):
            raise ValueError("a candidate appears twice in round_1")
        if any(a is None and b is None for a, b in data["round_1"]):
            raise ValueError("a round_1 pair of two byes")
        rounds = int(math.log2(len(slots)))
        for k in range(2, rounds + 1):
            groups = data.get(f"round_{k}")
            if groups is None:
                continue  # later rounds are implied by round_1; listing them is optional
            flat = [s for g in groups for s in g]
            if flat != slots or any(len(g) != 2**k for g in groups):
                raise ValueError(f"round_{k} must regroup round_1's order into groups of {2**k}")
        extra = [key for key in data if key not in {f"round_{k}" for k in range(1, rounds + 1)}]
        if extra:
            raise ValueError(f"unexpected keys {extra} for a {len(slots)}-slot bracket")
    except (TypeError, ValueError) as exc:
        raise RRMError(f"bracket {source}: {exc}", hint="see docs/tournaments.md for the bracket format") from None
    return Bracket(tuple(slots), source)


def load_bracket(name_or_path: str) -> Bracket:
    """A shipped bracket by name (``mmlu``: the published 32-candidate PPE MMLU-Pro bracket) or a JSON file."""
    if name_or_path in SHIPPED_BRACKETS:
        ref = resources.files("rrm_eval.ppe_dataset") / SHIPPED_BRACKETS[name_or_path]
        return parse_bracket(json.loads(ref.read_text(encoding="utf-8")), f"{name_or_path} ({ref.name})")
    path = Path(name_or_path)
    if not path.is_file():
        raise RRMError(
            f"bracket {name_or_path!r} is neither a shipped bracket nor a file",
            hint=f"use one of {', '.join(SHIPPED_BRACKETS)} or a path to a bracket JSON",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RRMError(f"bracket {path}: not valid JSON ({exc})") from None
    return parse_bracket(data, str(path))


def random_slots(n: int, *seed_parts: Any) -> list[int | None]:
    """A seeded random bracket for n candidates: positions shuffled; with P the next power of two, the first
    2n - P candidates play round one in pairs and the other P - n get byes (never two byes in one match)."""
    order: list[int | None] = list(range(n))
    stable_rng("bracket", *seed_parts).shuffle(order)
    size = 1 << max(1, math.ceil(math.log2(n)))
    playing = 2 * n - size
    slots = order[:playing]
    for s in order[playing:]:
        slots += [s, None]
    return slots


# -- configuration and game plans ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TournamentConfig:
    """``games``: judge calls per match (1 = one seeded order; 2 = both orders; odd k >= 3 = best of k, stopping as
    soon as a side has (k+1)/2 wins; round robin allows 1 or 2). ``bracket``: knockout's fixed bracket (None =
    seeded random per set). ``final_size``: knockout plays a round robin among the last K (0 = to the end).
    ``rounds``: Swiss rounds (default ceil(log2 N) + 1). Sampling overrides as in
    :class:`~rrm_eval.protocols.PairwiseConfig`."""

    schedule: str = "round-robin"
    games: int = 1
    seed: int = 0
    bracket: Bracket | None = None
    final_size: int = 0
    rounds: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    save_prompts: bool = True

    def __post_init__(self) -> None:
        schedule = SCHEDULES.get(self.schedule)  # unknown name -> did-you-mean error
        allowed = schedule.games
        unused = [
            name
            for name, value in (("bracket", self.bracket), ("final_size", self.final_size), ("rounds", self.rounds))
            if value not in (None, 0) and name not in schedule.options
        ]
        if unused:
            raise RRMError(f"{self.schedule} does not use {', '.join(unused)}", hint="leave it out for this schedule")
        if self.games not in allowed:
            raise RRMError(f"{self.schedule}: --games must be one of {allowed}, got {self.games}")
        if self.final_size and (self.final_size < 2 or self.final_size & (self.final_size - 1)):
            raise RRMError(f"--final-round-robin must be a power of two >= 2, got {self.final_size}")
        if self.rounds is not None and self.rounds < 1:
            raise RRMError(f"--rounds must be at least 1, got {self.rounds}")
        from rrm_eval.protocols._pairwise import check_sampling_overrides

        check_sampling_overrides(self.temperature, self.top_p, self.max_new_tokens)

    def describe(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "bracket"}
        out["bracket"] = None if self.bracket is None else {"source": self.bracket.source, "slots": self.bracket.slots}
        return out


@dataclass(frozen=True)
class GamePlan:
    set_id: str
    match_id: str
    phase: str  # "rr", "ko", "final", "sw"
    round: int
    game: int
    x: str  # the pair in candidate order (x listed before y in the set)
    y: str
    first: str  # shown as response 1 / A
    second: str

    @property
    def order(self) -> str:
        return f"{self.first}>{self.second}"

    @property
    def key(self) -> str:
        return record_key(self.match_id, self.order, self.game)


def _game(cs: CandidateSet, cfg: TournamentConfig, phase: str, rnd: int, x: str, y: str, g: int) -> GamePlan:
    """Game g of the match x-y. Game 0's order is a coin seeded from (seed, set id, pair), game 1 the reverse, later
    games a fresh coin each (and, in :func:`run_tournament`, sampling seed + g, so they are not replays)."""
    flip = coin("order", cfg.seed, cs.id, x, y) if g < 2 else coin("order", cfg.seed, cs.id, x, y, g)
    if g == 1:
        flip = not flip
    first, second = (y, x) if flip else (x, y)
    return GamePlan(cs.id, f"{cs.id}|{phase}{rnd}|{x}|{y}", phase, rnd, g, x, y, first, second)


def _canonical(cs: CandidateSet, a: str, b: str) -> tuple[str, str]:
    pos = {c.id: i for i, c in enumerate(cs.candidates)}
    return (a, b) if pos[a] < pos[b] else (b, a)


Planner = Generator[list[GamePlan], Mapping[str, Outcome], None]
#: Where a schedule puts its match decisions; the runner journals them after each round.
AdvanceLog = list[AdvanceRecord]


def _play(
    cs: CandidateSet,
    cfg: TournamentConfig,
    log: AdvanceLog,
    phase: str,
    rnd: int,
    pairs: Sequence[tuple[str, str]],
) -> Generator[list[GamePlan], Mapping[str, Outcome], dict[tuple[str, str], str]]:
    """Play matches and return who advanced from each (also journaled through ``log``). ``games`` 1 or 2: one
    batch. Best of k (odd k >= 3): first the (k+1)/2 games a side needs, then, batch by batch, only the games still
    needed by undecided matches."""
    pairs = [_canonical(cs, a, b) for a, b in pairs]
    outcomes: dict[tuple[str, str], list[Outcome]] = {p: [] for p in pairs}
    game_keys: dict[tuple[str, str], list[str]] = {p: [] for p in pairs}
    best_of = cfg.games if cfg.games >= 3 else None
    need = (cfg.games + 1) // 2 if best_of else cfg.games
    pending = list(pairs)
    while pending:
        batch = {}
        for p in pending:
            played = outcomes[p]
            lead = max(played.count(p[0]), played.count(p[1])) if best_of else 0
            more = min(need - lead, (best_of or cfg.games) - len(played))
            batch[p] = [_game(cs, cfg, phase, rnd, *p, g) for g in range(len(played), len(played) + more)]
        results = yield [g for gs in batch.values() for g in gs]
        for p, gs in batch.items():
            outcomes[p].extend(results[g.key] for g in gs)
            game_keys[p].extend(g.key for g in gs)
        pending = [] if best_of is None else [p for p in pending if _undecided(p, outcomes[p], best_of)]
    won = {}
    for p, o in outcomes.items():
        match_id = f"{cs.id}|{phase}{rnd}|{p[0]}|{p[1]}"
        won[p] = match_winner(*p, o, cfg.seed, match_id)
        log.append(AdvanceRecord(advance_key(match_id), match_id, cs.id, won[p], game_keys[p]))
    return won


def _undecided(pair: tuple[str, str], played: list[Outcome], best_of: int) -> bool:
    lead = max(played.count(pair[0]), played.count(pair[1]))
    return lead < (best_of + 1) // 2 and len(played) < best_of


def _round_robin_games(cs: CandidateSet, cfg: TournamentConfig, phase: str, rnd: int, ids: Sequence[str]) -> Planner:
    games = min(cfg.games, 2)
    yield [_game(cs, cfg, phase, rnd, *_canonical(cs, x, y), g) for x, y in combinations(ids, 2) for g in range(games)]


def round_robin(cs: CandidateSet, cfg: TournamentConfig, log: AdvanceLog) -> Planner:
    yield from _round_robin_games(cs, cfg, "rr", 1, [c.id for c in cs.candidates])


def knockout(cs: CandidateSet, cfg: TournamentConfig, log: AdvanceLog) -> Planner:
    ids = [c.id for c in cs.candidates]
    if cfg.bracket is not None:
        cfg.bracket.check_covers(cs)
        positions = list(cfg.bracket.slots)
    else:
        positions = random_slots(len(ids), cfg.seed, cs.id)
    slots = [None if p is None else ids[p] for p in positions]
    stop_at = cfg.final_size or 1
    if stop_at > 1 and stop_at >= len(slots):
        raise RRMError(f"problem {cs.id!r}: --final-round-robin {stop_at} needs more than {stop_at} bracket slots")
    rnd = 1
    while len(slots) > stop_at:
        pairs = list(zip(slots[::2], slots[1::2], strict=True))
        matches = [(a, b) for a, b in pairs if a is not None and b is not None]
        won = yield from _play(cs, cfg, log, "ko", rnd, matches)
        slots = [a if b is None else b if a is None else won[_canonical(cs, a, b)] for a, b in pairs]
        rnd += 1
    if stop_at > 1:
        yield from _round_robin_games(cs, cfg, "final", rnd, [s for s in slots if s is not None])


def swiss(cs: CandidateSet, cfg: TournamentConfig, log: AdvanceLog) -> Planner:
    ids = [c.id for c in cs.candidates]
    rounds = cfg.rounds or math.ceil(math.log2(len(ids))) + 1
    points = dict.fromkeys(ids, 0.0)
    met: set[frozenset[str]] = set()
    had_bye: set[str] = set()
    for rnd in range(1, rounds + 1):
        # Standings, ties in a seeded random order (never by position, which would favour candidate 0).
        pool = sorted(ids, key=lambda c: (-points[c], stable_hash("swiss", cfg.seed, cs.id, rnd, c)))
        if len(pool) % 2:
            bye = next((c for c in reversed(pool) if c not in had_bye), pool[-1])
            pool.remove(bye)
            had_bye.add(bye)
            points[bye] += 1.0
        pairs = []
        while pool:
            a = pool.pop(0)
            j = next((i for i, b in enumerate(pool) if frozenset((a, b)) not in met), 0)
            pairs.append((a, pool.pop(j)))
        won = yield from _play(cs, cfg, log, "sw", rnd, pairs)
        for (a, b), w in won.items():
            points[w] += 1.0
            met.add(frozenset((a, b)))


@dataclass(frozen=True)
class Schedule:
    """A tournament schedule: its planner, the options it reads, the games per match it allows, how many judge calls
    a set of n candidates needs, the rating it is reported by, and whether its matches decide who goes on (then each
    decision is journaled as an :class:`~rrm_eval.runs.AdvanceRecord`)."""

    name: str
    planner: Callable[[CandidateSet, TournamentConfig, AdvanceLog], Planner]
    games: tuple[int, ...]
    expected: Callable[[int, TournamentConfig], int]
    primary: str
    options: tuple[str, ...] = ()  # TournamentConfig fields beyond games/seed/sampling that it reads
    advances: bool = False
    help: str = ""


def _calls_per_match(cfg: TournamentConfig) -> int:
    return cfg.games if cfg.games <= 2 else (cfg.games + 1) // 2


def _rr_expected(n: int, cfg: TournamentConfig) -> int:
    return n * (n - 1) // 2 * _calls_per_match(cfg)


def _ko_expected(n: int, cfg: TournamentConfig) -> int:
    k = cfg.final_size
    if k and k < n:
        return ((n - k) + k * (k - 1) // 2) * _calls_per_match(cfg)
    return (n - 1) * _calls_per_match(cfg)


def _swiss_expected(n: int, cfg: TournamentConfig) -> int:
    return (cfg.rounds or math.ceil(math.log2(n)) + 1) * (n // 2) * _calls_per_match(cfg)


SCHEDULES: Registry[Schedule] = Registry("schedule")
for _s in (
    Schedule("round-robin", round_robin, (1, 2), _rr_expected, "elo", help="every pair once (published Elo setting)"),
    Schedule(
        "knockout", knockout, GAMES_PER_MATCH, _ko_expected, "knockout", ("bracket", "final_size"), True,
        "single elimination, N-1 matches",
    ),
    Schedule(
        "swiss", swiss, GAMES_PER_MATCH, _swiss_expected, "bradley-terry", ("rounds",), True,
        "R rounds pairing equal scores",
    ),
):  # fmt: skip
    SCHEDULES.add(_s.name, _s, _s.help)


def expected_games(n: int, cfg: TournamentConfig) -> int:
    """Judge calls for one set of n candidates (for best of k, the (k+1)/2 games a match needs at least)."""
    return SCHEDULES.get(cfg.schedule).expected(n, cfg)


# -- records ---------------------------------------------------------------------------------------------------------
def record_winner(record: JudgeRecord | Mapping[str, Any]) -> Outcome:
    """The candidate a game record declares the winner, ``"draw"`` for a tie verdict, None when unreadable."""
    rec = record.to_dict() if isinstance(record, JudgeRecord) else record
    verdict, meta = rec.get("verdict"), rec.get("meta") or {}
    if verdict is None:
        return None
    if verdict == "tie":
        return "draw"
    return str(meta["first"] if int(verdict) == 1 else meta["second"])


def _planned_call(plan: GamePlan, cs: CandidateSet, judge: Judge, model: Model) -> PlannedCall:
    texts = {c.id: c.text for c in cs.candidates}
    meta = {"set": cs.id, "phase": plan.phase, "round": plan.round, "game": plan.game, "x": plan.x, "y": plan.y}
    meta.update(first=plan.first, second=plan.second)
    messages = judge.messages(cs.question, texts[plan.first], texts[plan.second])
    return PlannedCall(
        plan.match_id, cs.subset or "candidates", plan.order, messages, model.render(messages), meta, plan.game
    )


def _judge_games(
    plans: Sequence[GamePlan], sets: Mapping[str, CandidateSet], judge: Judge, cfg: TournamentConfig, run: Run,
    done: dict[str, Outcome],
) -> int:  # fmt: skip
    written = 0
    model = run.model
    mode_of(judge).check(judge, model)
    # Games of one index share sampling settings: game g samples with seed + g, so a decider shown in game 0's order
    # is a fresh sample, not a replay (a deterministic judge, e.g. logprob or temperature 0, replays it anyway).
    for g in sorted({p.game for p in plans}):
        batch = [p for p in plans if p.game == g]
        calls = [_planned_call(p, sets[p.set_id], judge, model) for p in batch]
        params = judge.sampling_params(
            cfg.seed + g, n=1, temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens
        )
        for finished, recs in judge_calls(calls, judge, model, params, cfg.save_prompts):
            written += run.append(recs)
            done.update((r.key, record_winner(r)) for r in recs)
            run.advance(finished)
    return written


def run_tournament(sets: Sequence[CandidateSet], judge: Judge, cfg: TournamentConfig, run: Run) -> int:
    """Play every set's schedule, one round of all sets per batch; judge only games whose key is not saved in
    ``run`` (finished rounds replay from their records, so a finished run never loads a model). Each match decision
    of an advancing schedule is journaled once. Returns the number of game records written."""
    ids = {cs.id for cs in sets}
    done: dict[str, Outcome] = {
        r["key"]: record_winner(r)
        for r in run.existing
        if r.get("kind", "judge") == "judge" and (r.get("meta") or {}).get("set") in ids
    }
    by_id = {cs.id: cs for cs in sets}
    schedule = SCHEDULES.get(cfg.schedule)
    log: AdvanceLog = []
    planners = {cs.id: schedule.planner(cs, cfg, log) for cs in sets}
    batch = {sid: next(gen) for sid, gen in planners.items()}
    total = sum(schedule.expected(len(cs.candidates), cfg) for cs in sets)
    run.start_progress(total, min(len(done), total))
    written = 0
    while batch:
        todo = [p for plans in batch.values() for p in plans if p.key not in done]
        if todo:
            written += _judge_games(todo, by_id, judge, cfg, run, done)
        following = {}
        for sid, plans in batch.items():
            with contextlib.suppress(StopIteration):  # the schedule is over for this set
                following[sid] = planners[sid].send({p.key: done[p.key] for p in plans})
        run.append(log)  # decisions are not judge calls: not counted in the return value
        log.clear()
        batch = following
    return written


__all__ = [
    "GAMES_PER_MATCH",
    "SCHEDULES",
    "SHIPPED_BRACKETS",
    "Bracket",
    "GamePlan",
    "Outcome",
    "Schedule",
    "TournamentConfig",
    "expected_games",
    "knockout",
    "load_bracket",
    "parse_bracket",
    "random_slots",
    "record_winner",
    "round_robin",
    "run_tournament",
    "swiss",
]

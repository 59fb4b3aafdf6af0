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
#: How answer-aware schedules use group sizes: ``size`` = seed the bracket by group size and settle a level match
#: for the larger group; ``lead`` = as ``size``, and the larger group also starts each match ahead by half the
#: difference in group sizes (two extra samples with its answer count as one judge game won); ``none`` = a seeded random
#: bracket and a coin.
PRIORS = ("size", "lead", "none")
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
    budget: int | None = None
    prior: str = "size"
    confidence: float | None = None
    size_power: float | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    save_prompts: bool = True

    def __post_init__(self) -> None:
        schedule = SCHEDULES.get(self.schedule)  # unknown name -> did-you-mean error
        self._coerce_floats()
        allowed = schedule.games
        unused = [
            name
            for name, value in (
                ("bracket", self.bracket),
                ("final_size", self.final_size),
                ("rounds", self.rounds),
                ("budget", self.budget),
                ("prior", None if self.prior == "size" else self.prior),
                ("confidence", self.confidence),
                ("size_power", self.size_power),
            )
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
        if self.budget is not None and (isinstance(self.budget, bool) or self.budget < 1):
            raise RRMError(
                f"--budget must be at least 1 judge call per problem, got {self.budget}",
                hint="e.g. --budget 7 (a knockout of 8 candidates); leave it out for N - 1 calls",
            )
        if self.prior not in PRIORS:
            raise RRMError(f"unknown prior {self.prior!r}", hint=f"use one of {', '.join(PRIORS)}")
        if self.confidence is not None and not 0.5 < self.confidence < 1:
            raise RRMError(
                f"confidence must be between 0.5 and 1 (exclusive), got {self.confidence}",
                hint=f"e.g. confidence=0.9; the default is {DUEL_CONFIDENCE}",
            )
        if self.size_power is not None and not 0 <= self.size_power <= 8:
            raise RRMError(
                f"size_power must be between 0 and 8, got {self.size_power}",
                hint=f"0 ignores group sizes; the default is {DUEL_SIZE_POWER}",
            )
        if self.schedule == "answer-duel" and self.prior == "lead":
            raise RRMError("answer-duel has no lead prior", hint="use prior=size (size_power sets its weight) or none")
        from rrm_eval.protocols._pairwise import check_sampling_overrides

        check_sampling_overrides(self.temperature, self.top_p, self.max_new_tokens)

    def _coerce_floats(self) -> None:
        # --schedule-opt hands every value over as text; the float options are parsed here, once, with a clear error
        for name in ("confidence", "size_power"):
            value = getattr(self, name)
            if isinstance(value, str):
                try:
                    object.__setattr__(self, name, float(value))
                except ValueError:
                    raise RRMError(f"{self.schedule}: {name} must be a number, got {value!r}") from None

    def describe(self) -> dict[str, Any]:
        # options appear only when set, so runs made before they existed keep their fingerprint
        unset = {"budget": None, "prior": "size", "confidence": None, "size_power": None}
        out = {k: v for k, v in self.__dict__.items() if k != "bracket" and not (k in unset and v == unset[k])}
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


#: Yields one round of games at a time, receives their outcomes; returns the pick when the schedule makes one
#: itself (the knockouts over answer groups), None when the pick comes from ratings.
Planner = Generator[list[GamePlan], Mapping[str, Outcome], str | None]
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
    return None  # a round robin picks nothing itself: the ratings do


def round_robin(cs: CandidateSet, cfg: TournamentConfig, log: AdvanceLog) -> Planner:
    return (yield from _round_robin_games(cs, cfg, "rr", 1, [c.id for c in cs.candidates]))


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
    return None  # the champion is read from the journaled decisions


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
    return None  # Swiss is read by its Bradley-Terry ratings


# -- compute-efficient schedules: answer-aware play and adaptive repeats under a call budget ------------------------
@dataclass(frozen=True)
class AnswerGroup:
    """Candidates with one final answer; ``rep`` (a seeded choice among ``members``) is the one that plays."""

    rep: str
    members: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.members)


def answer_groups_of(cs: CandidateSet, seed: int) -> list[AnswerGroup]:
    """The set's answer groups (:func:`rrm_eval.tasks.answer_groups`: math-verify equivalence, option letters), each
    with a representative drawn by an RNG seeded from (seed, set id, the group's members) — never the first listed,
    which would tie the pick to the sampling order."""
    from rrm_eval.tasks._candidates import answer_groups

    return [
        AnswerGroup(stable_rng("representative", seed, cs.id, *g).choice(g), g) for g in answer_groups(cs.candidates)
    ]


def standard_seeding(size: int) -> list[int]:
    """Bracket order of seeds 1..size (a power of two) that keeps seeds 1 and 2 apart until the final:
    [1, 2], [1, 4, 2, 3], [1, 8, 4, 5, 2, 7, 3, 6], ...; seed s meets size + 1 - s in round one."""
    order = [1]
    while len(order) < size:
        order = [x for s in order for x in (s, 2 * len(order) + 1 - s)]
    return order


def _seeded_slots(ids: Sequence[str], sizes: Mapping[str, int], cfg: TournamentConfig, set_id: str) -> list[str | None]:
    """Bracket slots for the representatives. Prior ``size``: larger groups get the better seeds (ties in a seeded
    order), so byes go to the largest groups and the two largest meet only in the final; ``none``: a seeded random
    bracket as in :func:`random_slots`."""
    if cfg.prior == "none" or len(ids) < 2:
        return [None if p is None else ids[p] for p in random_slots(len(ids), cfg.seed, set_id)] if ids else []
    ranked = sorted(ids, key=lambda c: (-sizes[c], stable_hash("seeding", cfg.seed, set_id, c)))
    size = 1 << max(1, math.ceil(math.log2(len(ranked))))
    return [ranked[s - 1] if s <= len(ranked) else None for s in standard_seeding(size)]


def _clinch(played: Sequence[Outcome], x: str, y: str, cap: int, head: float = 0.0) -> int:
    """Fewest further games after which one side could have a lead the rest cannot erase (0 = decided): with
    ``left`` games to go and a lead ``d``, a side that wins j more in a row is uncatchable once d + j > left - j.
    ``head``: x's head start in games (negative: y's)."""
    left = cap - len(played)
    lead = abs(played.count(x) - played.count(y) + head)
    if left <= 0 or lead > left:
        return 0
    return min(left, int((left - lead) // 2) + 1)


def _decide(
    x: str, y: str, played: Sequence[Outcome], sizes: Mapping[str, int], seed: int, match_id: str, head: float = 0.0
) -> str:
    """More game wins (x's counted with its head start); a level match (also one with no games) to the larger answer
    group — the group-size prior used as a tie-break —, then to :func:`match_winner`'s seeded coin."""
    wx, wy = played.count(x) + max(head, 0), played.count(y) + max(-head, 0)
    if wx != wy:
        return x if wx > wy else y
    if wx == wy and sizes.get(x, 1) != sizes.get(y, 1):
        return x if sizes.get(x, 1) > sizes.get(y, 1) else y
    return match_winner(x, y, played, seed, match_id)


def _play_capped(
    cs: CandidateSet,
    cfg: TournamentConfig,
    log: AdvanceLog,
    phase: str,
    rnd: int,
    caps: Mapping[tuple[str, str], int],
    sizes: Mapping[str, int],
) -> Generator[list[GamePlan], Mapping[str, Outcome], tuple[dict[tuple[str, str], str], int]]:
    """Sequential matches: match p plays at most ``caps[p]`` games, in waves of the fewest games that could decide
    it (:func:`_clinch`), and stops as soon as the trailing side can no longer catch up — a 2-0 in a best of three
    is over, a split plays the decider, so only close matches cost extra calls. A cap of 0 is decided by
    :func:`_decide` without a game. Returns who went on from each match and the games played."""
    outcomes: dict[tuple[str, str], list[Outcome]] = {p: [] for p in caps}
    keys: dict[tuple[str, str], list[str]] = {p: [] for p in caps}
    lead = cfg.prior == "lead"
    heads = {p: (sizes.get(p[0], 1) - sizes.get(p[1], 1)) / 2 if lead else 0.0 for p in caps}
    pending = [p for p in caps if caps[p] > 0 and _clinch([], *p, caps[p], heads[p])]
    spent = 0
    while pending:
        batch = {}
        for p in pending:
            start = len(outcomes[p])
            batch[p] = [
                _game(cs, cfg, phase, rnd, *p, g)
                for g in range(start, start + _clinch(outcomes[p], *p, caps[p], heads[p]))
            ]
        results = yield [g for gs in batch.values() for g in gs]
        for p, gs in batch.items():
            outcomes[p].extend(results[g.key] for g in gs)
            keys[p].extend(g.key for g in gs)
            spent += len(gs)
        pending = [p for p in pending if _clinch(outcomes[p], *p, caps[p], heads[p])]
    won = {}
    for p, played in outcomes.items():
        match_id = f"{cs.id}|{phase}{rnd}|{p[0]}|{p[1]}"
        won[p] = _decide(*p, played, sizes, cfg.seed, match_id, heads[p])
        log.append(AdvanceRecord(advance_key(match_id), match_id, cs.id, won[p], keys[p]))
    return won, spent


def _round_caps(
    matches: Sequence[tuple[str, str]], later: int, left: int | None, games: int
) -> dict[tuple[str, str], int]:
    """Games allowed per match this round. Without a budget, ``games`` each (odd k = best of k). With ``left``
    calls for this round's matches and ``later`` matches still to come, an equal share of what is left, so calls a
    decided-early match saves flow to later rounds (the final, where both sides are strong, gets the most); when
    fewer calls remain than matches, the first matches get one game each and the rest are settled by the prior."""
    if left is None:
        return dict.fromkeys(matches, games)
    share = left // max(1, len(matches) + later)
    if share >= 1:
        return dict.fromkeys(matches, share)
    return {p: 1 if i < left else 0 for i, p in enumerate(matches)}


def _budgeted_knockout(
    cs: CandidateSet, cfg: TournamentConfig, log: AdvanceLog, phase: str, groups: Sequence[AnswerGroup]
) -> Generator[list[GamePlan], Mapping[str, Outcome], str]:
    """A knockout of the groups' representatives; returns the champion. ``cfg.budget`` (None = no budget: ``games``
    per match) bounds the judge calls of the whole set."""
    sizes = {g.rep: g.size for g in groups}
    if len(groups) == 1:
        return groups[0].rep  # one distinct answer: nothing to judge
    slots = _seeded_slots([g.rep for g in groups], sizes, cfg, cs.id)
    left = None if cfg.budget is None else cfg.budget
    remaining = len(groups) - 1  # matches still to play, this round included
    rnd = 1
    while len(slots) > 1:
        pairs = list(zip(slots[::2], slots[1::2], strict=True))
        matches = [_canonical(cs, a, b) for a, b in pairs if a is not None and b is not None]
        caps = _round_caps(matches, remaining - len(matches), left, cfg.games)
        won, spent = yield from _play_capped(cs, cfg, log, phase, rnd, caps, sizes)
        if left is not None:
            left -= spent
        remaining -= len(matches)
        slots = [a if b is None else b if a is None else won[_canonical(cs, a, b)] for a, b in pairs]
        rnd += 1
    champion = slots[0]
    assert champion is not None  # a bracket of >= 2 entrants never ends in a bye
    return champion


def _singletons(cs: CandidateSet) -> list[AnswerGroup]:
    return [AnswerGroup(c.id, (c.id,)) for c in cs.candidates]


def answer_knockout(cs: CandidateSet, cfg: TournamentConfig, log: AdvanceLog) -> Generator[Any, Any, str]:
    """Answer-aware knockout: one representative per distinct answer, ``games`` per match."""
    return (yield from _budgeted_knockout(cs, cfg, log, "aw", answer_groups_of(cs, cfg.seed)))


def adaptive_knockout(cs: CandidateSet, cfg: TournamentConfig, log: AdvanceLog) -> Generator[Any, Any, str]:
    """Every candidate, sequential matches under the per-set budget (default N - 1: a plain knockout's calls)."""
    budget = cfg.budget or len(cs.candidates) - 1
    return (yield from _budgeted_knockout(cs, _with_budget(cfg, budget), log, "ad", _singletons(cs)))


def answer_adaptive(cs: CandidateSet, cfg: TournamentConfig, log: AdvanceLog) -> Generator[Any, Any, str]:
    """Both: representatives of distinct answers, sequential matches under the budget (default N - 1)."""
    budget = cfg.budget or len(cs.candidates) - 1
    return (yield from _budgeted_knockout(cs, _with_budget(cfg, budget), log, "aa", answer_groups_of(cs, cfg.seed)))


def _with_budget(cfg: TournamentConfig, budget: int) -> TournamentConfig:
    from dataclasses import replace

    return replace(cfg, budget=budget) if cfg.budget != budget else cfg


# -- answer duel: Bayesian duels between answer groups, stopping per problem once confident ------------------------
#: Judge accuracies the duel averages over (a uniform prior), because the judge's accuracy is not known to the schedule:
#: a problem whose games agree with each other is read as judged by a strong judge, one whose games disagree as by a
#: weak one, and the group-size prior then counts for more. (Tuned with the lookahead below on
#: bench/bench_tournament.py: a grid reaching down to 0.55 lets coin-like games between two wrong groups pass for a
#: weak judge's verdicts for too long.)
DUEL_ACCURACIES = (0.6, 0.75, 0.9, 0.97)
#: Numbers of further games the lookahead considers for a pairing: every count up to 8, then sparser.
DUEL_HORIZONS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128)
#: Default stopping confidence and size exponent of ``answer-duel`` (tuned on bench/bench_tournament.py; see docs).
DUEL_CONFIDENCE = 0.97
DUEL_SIZE_POWER = 1.5


def duel_posterior(
    groups: Sequence[AnswerGroup], results: Sequence[tuple[str, str]], size_power: float, prior: str = "size"
) -> dict[str, float]:
    """P(group g holds the correct answer | sizes, games) for each group's representative, assuming one group is
    correct. Prior: proportional to size ** ``size_power`` (``prior="none"``: uniform). Games, ``results`` =
    (winner rep, loser rep): under "g is correct" a game g plays is won by g with probability p and any other game
    is a coin; p is averaged over :data:`DUEL_ACCURACIES` (the marginal of :func:`_duel_joint`)."""
    marginal = _duel_joint(groups, results, size_power, prior).sum(axis=1)
    return {g.rep: float(v) for g, v in zip(groups, marginal, strict=True)}


def _duel_joint(
    groups: Sequence[AnswerGroup], results: Sequence[tuple[str, str]], size_power: float, prior: str
) -> Any:
    """The posterior jointly over (correct group, judge accuracy in :data:`DUEL_ACCURACIES`), a normalised
    (groups, accuracies) array; the accuracies' prior is uniform."""
    import numpy as np

    index = {g.rep: i for i, g in enumerate(groups)}
    grid = np.array(DUEL_ACCURACIES)
    logw = np.zeros((len(groups), len(grid)))
    if prior != "none":
        logw += size_power * np.log([g.size for g in groups])[:, None]
    for winner, loser in results:  # g won: p; g lost: 1 - p; g did not play: a coin
        logw += math.log(0.5)
        logw[index[winner]] += np.log(grid) - math.log(0.5)
        logw[index[loser]] += np.log1p(-grid) - math.log(0.5)
    joint = np.exp(logw - logw.max())
    return joint / joint.sum()


def duel_next_pair(
    groups: Sequence[AnswerGroup],
    results: Sequence[tuple[str, str]],
    size_power: float,
    prior: str,
    left: int,
    order: Sequence[str],
) -> str | None:
    """The group the leader (``order[0]``) should play next, or ``None`` when no games within ``left`` calls can
    change which group is picked. A lookahead (knowledge gradient over several steps): for each other group and
    each number m of further games against the leader (:data:`DUEL_HORIZONS` up to ``left``), the chance that the
    pick is right after those m games, over every way they can end (exact, under :func:`_duel_joint`), less the
    chance now, per game; the best pairing plays one game and the question is asked again. Why not play the
    runner-up: a small correct group behind a big wrong one gains nothing from one game (one win cannot overturn
    the prior), so a one-step rule never plays it, while m games can; and groups the posterior cannot overturn
    within the budget get no calls at all."""
    import numpy as np

    index = {g.rep: i for i, g in enumerate(groups)}
    grid = np.array(DUEL_ACCURACIES)
    log_p, log_q = np.log(grid), np.log1p(-grid)
    joint = _duel_joint(groups, results, size_power, prior)
    now = float(joint.sum(axis=1).max())
    leader = index[order[0]]
    best, best_rep = 1e-9, None
    for rep in order[1:]:
        c = index[rep]
        for m in [h for h in DUEL_HORIZONS if h <= left]:
            wins = np.arange(m + 1)  # of the challenger
            ways = np.array([math.comb(m, int(k)) for k in wins], dtype=float)
            lik = np.broadcast_to(ways * 0.5**m, (len(groups), len(grid), m + 1)).copy()
            lik[c] = ways * np.exp(np.outer(log_p, wins) + np.outer(log_q, m - wins))
            lik[leader] = ways * np.exp(np.outer(log_q, wins) + np.outer(log_p, m - wins))
            gain = (float(np.einsum("gj,gjw->gw", joint, lik).max(axis=0).sum()) - now) / m
            if gain > best:
                best, best_rep = gain, rep
    return best_rep


def _duel_member(group: AnswerGroup, k: int) -> str:
    """The member of ``group`` that plays its k-th game: the representative first, then the others in turn, so
    repeated games are new texts (a deterministic judge would only replay a repeated pair)."""
    rest = [m for m in group.members if m != group.rep]
    ring = [group.rep, *rest]
    return ring[k % len(ring)]


def answer_duel(cs: CandidateSet, cfg: TournamentConfig, log: AdvanceLog) -> Generator[Any, Any, str]:
    """Duels between answer groups until one is probably right: each round the group with the highest posterior
    (:func:`duel_posterior`) plays one game against the challenger the lookahead picks (:func:`duel_next_pair`),
    until the leader's posterior reaches ``confidence``, the per-problem cap (``budget``, default 2 (N - 1)) is
    spent, or no games the cap still allows could change the pick; returns the leader's representative. One
    distinct answer costs no call, a lopsided prior few, a contested problem up to the cap — the mean stays low
    because most problems are easy. Each round is one match of one game; its decision (the
    one of the two with the higher posterior after it) is journaled."""
    groups = answer_groups_of(cs, cfg.seed)
    by_rep = {g.rep: g for g in groups}
    cap = _duel_cap(cs, cfg)
    confidence = cfg.confidence if cfg.confidence is not None else DUEL_CONFIDENCE
    power = cfg.size_power if cfg.size_power is not None else DUEL_SIZE_POWER
    pos = {c.id: i for i, c in enumerate(cs.candidates)}
    results: list[tuple[str, str]] = []
    played: dict[frozenset[str], int] = {}  # games so far between two groups (member rotation, alternating order)
    turns = dict.fromkeys(by_rep, 0)  # games so far of each group (whose member plays next)

    def ranked(post: Mapping[str, float]) -> list[str]:
        return _duel_ranked(post, cs, cfg)

    post = duel_posterior(groups, results, power, cfg.prior)
    spent, rnd = 0, 1
    while len(groups) > 1 and spent < cap and max(post.values()) < confidence:
        order = ranked(post)
        challenger = duel_next_pair(groups, results, power, cfg.prior, cap - spent, order)
        if challenger is None:
            break
        leader = order[0]
        a, b = sorted((leader, challenger), key=pos.__getitem__)  # the match in candidate order
        pair = frozenset((a, b))
        k = played.get(pair, 0)
        ma, mb = _duel_member(by_rep[a], turns[a]), _duel_member(by_rep[b], turns[b])
        # order: a seeded coin per two games of this pairing, the second of the two reversed — both orders in turn
        flip = coin("duel-order", cfg.seed, cs.id, a, b, k // 2) != (k % 2 == 1)
        x, y = _canonical(cs, ma, mb)
        first, second = (mb, ma) if flip else (ma, mb)
        match_id = f"{cs.id}|du{rnd}|{a}|{b}"
        plan = GamePlan(cs.id, match_id, "du", rnd, k, x, y, first, second)
        outcome = (yield [plan])[plan.key]
        group_of = {ma: a, mb: b}
        if outcome in group_of:  # a draw or an unreadable verdict is a call spent without evidence
            winner = group_of[outcome]
            results.append((winner, b if winner == a else a))
        played[pair] = k + 1
        turns[a] += 1
        turns[b] += 1
        spent += 1
        post = duel_posterior(groups, results, power, cfg.prior)
        went_on = ranked({a: post[a], b: post[b]})[0]
        log.append(AdvanceRecord(advance_key(match_id), match_id, cs.id, went_on, [plan.key]))
        rnd += 1
    return ranked(post)[0]


def _duel_ranked(post: Mapping[str, float], cs: CandidateSet, cfg: TournamentConfig) -> list[str]:
    """Groups by posterior, ties broken by a seeded hash (never by candidate order)."""
    return sorted(post, key=lambda r: (-post[r], stable_hash("duel", cfg.seed, cs.id, r)))


def _duel_cap(cs: CandidateSet, cfg: TournamentConfig) -> int:
    return cfg.budget or 2 * (len(cs.candidates) - 1)


def _duel_prior_decides(cs: CandidateSet, cfg: TournamentConfig) -> bool:
    groups = answer_groups_of(cs, cfg.seed)
    power = cfg.size_power if cfg.size_power is not None else DUEL_SIZE_POWER
    confidence = cfg.confidence if cfg.confidence is not None else DUEL_CONFIDENCE
    post = duel_posterior(groups, [], power, cfg.prior)
    if len(groups) < 2 or max(post.values()) >= confidence:
        return True
    return duel_next_pair(groups, [], power, cfg.prior, _duel_cap(cs, cfg), _duel_ranked(post, cs, cfg)) is None


def _duel_calls(cs: CandidateSet, cfg: TournamentConfig) -> int:
    """Fewest calls: none when there is one answer or the size prior alone is confident enough, else one game."""
    return 0 if _duel_prior_decides(cs, cfg) else 1


def _duel_most(cs: CandidateSet, cfg: TournamentConfig) -> int:
    return 0 if _duel_prior_decides(cs, cfg) else _duel_cap(cs, cfg)


def _duel_expected(n: int, cfg: TournamentConfig) -> int:
    """Calls for a set of n candidates before its answers are known: the cap (the most it may cost; most problems
    stop long before, which the summary's judge-call count reports)."""
    return cfg.budget or 2 * (n - 1)


def replay_pick(cs: CandidateSet, cfg: TournamentConfig, outcomes: Mapping[str, Outcome]) -> str | None:
    """Run the set's schedule again over known game outcomes (game key -> winner, as the rival table has them) and
    return the candidate it picks — the same decisions the run made, from the directory alone. None when a game it
    needs has no outcome (an unfinished run) or the schedule picks by rating instead."""
    planner = SCHEDULES.get(cfg.schedule).planner(cs, cfg, [])
    try:
        plans = next(planner)
        while True:
            if any(p.key not in outcomes for p in plans):
                return None
            plans = planner.send({p.key: outcomes[p.key] for p in plans})
    except StopIteration as stop:
        return stop.value if isinstance(stop.value, str) else None


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
    #: calls for one given set when they depend on its answers (else ``expected`` of its size): the fewest it needs
    calls: Callable[[CandidateSet, TournamentConfig], int] | None = None
    #: the most calls one set can cost (the budget, for budgeted schedules)
    maximum: Callable[[CandidateSet, TournamentConfig], int] | None = None
    #: the planner returns its pick (reported as the ``champion`` selector, replayed by :func:`replay_pick`)
    picks: bool = False

    def calls_for(self, cs: CandidateSet, cfg: TournamentConfig) -> int:
        return self.calls(cs, cfg) if self.calls else self.expected(len(cs.candidates), cfg)

    def most_for(self, cs: CandidateSet, cfg: TournamentConfig) -> int:
        if self.maximum:
            return self.maximum(cs, cfg)
        n = len(cs.candidates)
        return self.expected(n, cfg) if cfg.games <= 2 else self.expected(n, cfg) * cfg.games // _calls_per_match(cfg)


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


def _distinct(cs: CandidateSet, cfg: TournamentConfig) -> int:
    return len(answer_groups_of(cs, cfg.seed))


def _aw_calls(cs: CandidateSet, cfg: TournamentConfig) -> int:
    return (_distinct(cs, cfg) - 1) * _calls_per_match(cfg)


def _aw_most(cs: CandidateSet, cfg: TournamentConfig) -> int:
    return (_distinct(cs, cfg) - 1) * cfg.games


def _entrants(cs: CandidateSet, cfg: TournamentConfig) -> int:
    return _distinct(cs, cfg) if cfg.schedule == "answer-adaptive" else len(cs.candidates)


def _budget_calls(cs: CandidateSet, cfg: TournamentConfig) -> int:
    """Fewest calls: one game per match while the budget lasts."""
    return min(cfg.budget or len(cs.candidates) - 1, _entrants(cs, cfg) - 1)


def _budget_most(cs: CandidateSet, cfg: TournamentConfig) -> int:
    return 0 if _entrants(cs, cfg) < 2 else cfg.budget or len(cs.candidates) - 1


def _budget_expected(n: int, cfg: TournamentConfig) -> int:
    return min(cfg.budget or n - 1, n - 1)


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
    Schedule(
        "answer-knockout", answer_knockout, GAMES_PER_MATCH, _ko_expected, "champion", ("prior",), True,
        "one representative per distinct answer, knockout seeded by answer-group size", _aw_calls, _aw_most, True,
    ),
    Schedule(
        "adaptive-knockout", adaptive_knockout, (1,), _budget_expected, "champion", ("budget",), True,
        "knockout of sequential matches under a per-problem call budget", _budget_calls, _budget_most, True,
    ),
    Schedule(
        "answer-adaptive", answer_adaptive, (1,), _budget_expected, "champion", ("budget", "prior"), True,
        "answer-aware knockout whose matches repeat adaptively under the budget", _budget_calls, _budget_most, True,
    ),
    Schedule(
        "answer-duel", answer_duel, (1,), _duel_expected, "champion", ("budget", "prior", "confidence", "size_power"),
        True, "Bayesian duels between answer groups (lookahead challenger), stopping per problem once confident",
        _duel_calls, _duel_most, True,
    ),
):  # fmt: skip
    SCHEDULES.add(_s.name, _s, _s.help)


def expected_games(n: int, cfg: TournamentConfig) -> int:
    """Judge calls for one set of n candidates (for best of k, the (k+1)/2 games a match needs at least)."""
    return SCHEDULES.get(cfg.schedule).expected(n, cfg)


def config_from_description(desc: Mapping[str, Any]) -> TournamentConfig:
    """The :class:`TournamentConfig` a run's ``spec.json`` protocol section describes (:meth:`describe`)."""
    fields = {k: v for k, v in desc.items() if k in TournamentConfig.__dataclass_fields__ and k != "bracket"}
    bracket = desc.get("bracket")
    if bracket:
        fields["bracket"] = Bracket(tuple(bracket["slots"]), str(bracket["source"]))
    return TournamentConfig(**fields)


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
    batch = {}
    for sid, gen in planners.items():
        with contextlib.suppress(StopIteration):  # a set with one distinct answer plays no game at all
            batch[sid] = next(gen)
    total = sum(schedule.calls_for(cs, cfg) for cs in sets)
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
    "PRIORS",
    "SCHEDULES",
    "SHIPPED_BRACKETS",
    "AnswerGroup",
    "Bracket",
    "GamePlan",
    "Outcome",
    "Schedule",
    "TournamentConfig",
    "adaptive_knockout",
    "answer_adaptive",
    "answer_duel",
    "answer_groups_of",
    "answer_knockout",
    "config_from_description",
    "duel_posterior",
    "expected_games",
    "knockout",
    "load_bracket",
    "parse_bracket",
    "random_slots",
    "record_winner",
    "replay_pick",
    "round_robin",
    "run_tournament",
    "standard_seeding",
    "swiss",
]

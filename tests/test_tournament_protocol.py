"""Schedules: which games are played, in which order, with which brackets, byes and deciders."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

from rrm_eval._errors import RRMError
from rrm_eval.protocols import SCHEDULES, GamePlan, TournamentConfig, load_bracket, parse_bracket, random_slots
from rrm_eval.tasks import Candidate, CandidateSet

SHARED_BRACKET = Path("/work/shared/data/ppe/MMLU_knockout_bracket.json")


def make_set(n: int, sid: str = "q1", strong: int | None = None) -> CandidateSet:
    return CandidateSet(sid, "Q?", tuple(Candidate(f"c{i}", f"answer {i}", None, i == strong) for i in range(n)))


def play(cs: CandidateSet, cfg: TournamentConfig, decide: Callable[[GamePlan], str | None]) -> list[list[GamePlan]]:
    """Drive a schedule with a scripted outcome per game; return the batches it asked for."""
    planner = SCHEDULES.get(cfg.schedule).planner(cs, cfg, [])
    batches = [next(planner)]
    while True:
        try:
            batches.append(planner.send({g.key: decide(g) for g in batches[-1]}))
        except StopIteration:
            return batches


def lower_index_wins(g: GamePlan) -> str:
    return min(g.first, g.second, key=lambda c: int(c[1:]))


def test_round_robin_every_pair_once_in_a_seeded_order():
    cs = make_set(8)
    (batch,) = play(cs, TournamentConfig("round-robin"), lower_index_wins)
    assert len(batch) == 28 and len({frozenset((g.x, g.y)) for g in batch}) == 28
    assert len({g.key for g in batch}) == 28
    firsts = Counter(g.first == g.x for g in batch)
    assert firsts[True] and firsts[False]  # the presentation order is shuffled
    again = play(cs, TournamentConfig("round-robin"), lower_index_wins)[0]
    assert [g.order for g in again] == [g.order for g in batch]
    other_seed = play(cs, TournamentConfig("round-robin", seed=1), lower_index_wins)[0]
    assert [g.order for g in other_seed] != [g.order for g in batch]
    other_set = play(make_set(8, "q2"), TournamentConfig("round-robin"), lower_index_wins)[0]
    assert [g.order for g in other_set] != [g.order for g in batch]  # seeded from (seed, set id, pair)


def test_round_robin_both_orders():
    (batch,) = play(make_set(5), TournamentConfig("round-robin", games=2), lower_index_wins)
    assert len(batch) == 20
    for pair in {(g.x, g.y) for g in batch}:
        games = [g for g in batch if (g.x, g.y) == pair]
        assert {g.order for g in games} == {f"{pair[0]}>{pair[1]}", f"{pair[1]}>{pair[0]}"}
    with pytest.raises(RRMError, match="--games"):
        TournamentConfig("round-robin", games=3)


def test_shipped_bracket_is_the_published_one_and_plays_31_matches():
    bracket = load_bracket("mmlu")
    ref = resources.files("rrm_eval.ppe_dataset") / "MMLU_knockout_bracket.json"
    data = json.loads(ref.read_text())
    if SHARED_BRACKET.is_file():
        assert data == json.loads(SHARED_BRACKET.read_text())
    assert list(bracket.slots) == [s for pair in data["round_1"] for s in pair]
    assert bracket.size == 32 and sorted(bracket.slots) == list(range(32))
    assert load_bracket(str(ref)).slots == bracket.slots  # any path works too
    cs = make_set(32, strong=7)
    batches = play(cs, TournamentConfig("knockout", bracket=bracket), lower_index_wins)
    assert [len(b) for b in batches] == [16, 8, 4, 2, 1]  # one batch per round
    assert sum(map(len, batches)) == 31
    # round 1 is the file's round_1, in candidate positions
    assert {frozenset((g.x, g.y)) for g in batches[0]} == {frozenset((f"c{a}", f"c{b}")) for a, b in data["round_1"]}
    # round 2 pairs the winners of each round_2 group's halves
    for group in data["round_2"]:
        a, b = min(group[:2]), min(group[2:])
        assert any({g.x, g.y} == {f"c{a}", f"c{b}"} for g in batches[1])
    assert batches[-1][0].x == "c0" or batches[-1][0].y == "c0"


def test_bracket_must_cover_the_candidates():
    bracket = load_bracket("mmlu")
    with pytest.raises(RRMError, match=r"problem 'q1': bracket .* does not cover its 8 candidates"):
        play(make_set(8), TournamentConfig("knockout", bracket=bracket), lower_index_wins)


@pytest.mark.parametrize(
    "data,message",
    [
        ({"round_1": [[0, 1], [2]]}, "pairs"),
        ({"round_1": [[0, 1], [1, 2]]}, "twice"),
        ({"round_1": [[0, 1], [2, 3], [4, 5]]}, "power of two"),
        ({"round_1": [[0, 1], [2, 3]], "round_2": [[0, 2, 1, 3]]}, "regroup"),
        ({"round_1": [[0, 1], [2, "x"]]}, "integers"),
        ({"round_1": [[0, 1], [None, None]]}, "two byes"),
        ({"rounds": []}, "round_1"),
        ({"round_1": [[0, 1], [2, 3]], "round_3": []}, "unexpected keys"),
    ],
)
def test_malformed_brackets(data, message):
    with pytest.raises(RRMError, match=message):
        parse_bracket(data, "test.json")


def test_bracket_file_errors(tmp_path):
    with pytest.raises(RRMError, match="neither a shipped bracket nor a file"):
        load_bracket(str(tmp_path / "missing.json"))
    (tmp_path / "b.json").write_text("{not json")
    with pytest.raises(RRMError, match="not valid JSON"):
        load_bracket(str(tmp_path / "b.json"))


@pytest.mark.parametrize("n", [2, 3, 5, 6, 7, 8, 9, 13])
def test_random_brackets_with_byes(n):
    slots = random_slots(n, 0, "q")
    assert len(slots) & (len(slots) - 1) == 0 and sorted(s for s in slots if s is not None) == list(range(n))
    assert all(not (a is None and b is None) for a, b in zip(slots[::2], slots[1::2], strict=True))
    cs = make_set(n)
    batches = play(cs, TournamentConfig("knockout"), lower_index_wins)
    games = [g for b in batches for g in b]
    assert len(games) == n - 1  # every match eliminates one candidate
    assert batches[-1][0].round == len(batches) and len(batches[-1]) == 1
    assert "c0" in (batches[-1][0].x, batches[-1][0].y)  # the best reached the final
    assert random_slots(n, 0, "q") == slots and (n < 4 or random_slots(n, 1, "q") != slots)


def test_fixed_bracket_with_a_bye():
    bracket = parse_bracket({"round_1": [[0, 1], [2, None]]}, "bye.json")
    batches = play(make_set(3), TournamentConfig("knockout", bracket=bracket), lower_index_wins)
    assert [[(g.x, g.y) for g in b] for b in batches] == [[("c0", "c1")], [("c0", "c2")]]


def test_best_of_three_plays_a_decider_only_when_split():
    def first_wins(g: GamePlan) -> str:  # a pure position bias: both orders always split
        return g.first

    batches = play(make_set(4), TournamentConfig("knockout", games=3), first_wins)
    assert [len(b) for b in batches] == [4, 2, 2, 1]  # round 1: 2 matches x 2 games, then 2 deciders; final...
    assert {g.game for g in batches[1]} == {2}
    batches = play(make_set(4), TournamentConfig("knockout", games=3), lower_index_wins)
    assert [len(b) for b in batches] == [4, 2]  # 2-0 everywhere: no deciders


def test_best_of_five_stops_early_and_caps_at_five():
    batches = play(make_set(4), TournamentConfig("knockout", games=5), lower_index_wins)
    assert [len(b) for b in batches] == [6, 3]  # 3-0 in every match: three games each, in one batch
    unreadable = play(make_set(4), TournamentConfig("knockout", games=5), lambda g: None)
    assert [len(b) for b in unreadable] == [6, 4, 3, 2]  # never decided: 3 games, then the 2 left, per round
    games = [g.game for b in unreadable[:2] for g in b]
    assert sorted(games) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    with pytest.raises(RRMError, match="--games"):
        TournamentConfig("knockout", games=4)


def test_two_games_per_match_level_goes_to_a_seeded_coin():
    def first_wins(g: GamePlan) -> str:  # both orders always split 1-1
        return g.first

    bracket = parse_bracket({"round_1": [[0, 1], [2, 3]]}, "four.json")
    finalists = set()
    for seed in range(12):
        cfg = TournamentConfig("knockout", games=2, seed=seed, bracket=bracket)
        batches = play(make_set(4), cfg, first_wins)
        assert [len(b) for b in batches] == [4, 2]
        finalists |= {p for g in batches[1] for p in (g.x, g.y)}
    assert finalists == {"c0", "c1", "c2", "c3"}  # who went on from a level match varies with the seed


def test_knockout_then_round_robin_of_the_last_four():
    batches = play(make_set(8), TournamentConfig("knockout", final_size=4), lower_index_wins)
    assert [len(b) for b in batches] == [4, 6]
    assert {g.phase for g in batches[1]} == {"final"}
    finalists = {p for g in batches[1] for p in (g.x, g.y)}
    assert "c0" in finalists and len(finalists) == 4
    with pytest.raises(RRMError, match="power of two"):
        TournamentConfig("knockout", final_size=3)


def test_swiss_avoids_rematches_and_gives_byes():
    batches = play(make_set(8), TournamentConfig("swiss", rounds=3), lower_index_wins)
    assert [len(b) for b in batches] == [4, 4, 4]
    pairs = [frozenset((g.x, g.y)) for b in batches for g in b]
    assert len(set(pairs)) == len(pairs)
    # after 3 rounds with a transitive judge, the strongest met winners in rounds 2 and 3
    assert sum("c0" in p for p in pairs) == 3
    odd = play(make_set(7), TournamentConfig("swiss"), lower_index_wins)
    assert len(odd) == 4 and all(len(b) == 3 for b in odd)  # one bye per round
    byes = [({f"c{i}" for i in range(7)} - {p for g in b for p in (g.x, g.y)}).pop() for b in odd]
    assert len(set(byes)) == 4  # nobody gets two byes

"""Compute-efficient schedules: answer groups, call accounting, the budget, journaled decisions, resume and the CLI."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from helpers import cli, read_jsonl

from rrm_eval import TournamentRunConfig, run_tournament_eval
from rrm_eval._errors import RRMError
from rrm_eval.models import Model
from rrm_eval.models._scripted import ScriptedDriver
from rrm_eval.protocols import SCHEDULES, TournamentConfig
from rrm_eval.protocols._tournament import answer_groups_of, replay_pick, standard_seeding
from rrm_eval.scoring import rival_rows
from rrm_eval.tasks import Candidate, CandidateSet
from rrm_eval.tasks._candidates import answer_groups, final_answer, same_answer

MATH8 = Path(__file__).parent / "fixtures" / "candidates" / "math8.jsonl"


def make_set(answers: list[str | None], sid: str = "q") -> CandidateSet:
    cands = tuple(Candidate(f"c{k}", f"text {k}", a, a == "42") for k, a in enumerate(answers))
    return CandidateSet(sid, "question", cands, "42")


def play(cs: CandidateSet, cfg: TournamentConfig, judge=None):
    """Drive a planner with a judge function (plan -> winner); returns the games, the decisions and the pick."""
    log: list = []
    planner = SCHEDULES.get(cfg.schedule).planner(cs, cfg, log)
    games = []
    try:
        plans = next(planner)
        while True:
            games += plans
            plans = planner.send({p.key: (judge or (lambda p: p.first))(p) for p in plans})
    except StopIteration as stop:
        return games, log, stop.value


# -- answer groups ---------------------------------------------------------------------------------------------------
def test_math_verify_and_letter_equivalences():
    assert same_answer(r"\frac{1}{2}", "0.5") and same_answer("0.5", r"\frac{1}{2}")
    assert same_answer("4", "4.0") and not same_answer("4", "5")
    assert same_answer("(C)", "C") and same_answer(r"\text{C}", "C") and not same_answer("C", "D")
    assert final_answer("so the answer is (b).") == "B" and final_answer(r"thus \boxed{\frac{1}{2}}") == r"\frac{1}{2}"
    cs = make_set([r"\frac{1}{2}", "0.5", "3", None, r"\dfrac{1}{2}", "3.0", None])
    assert answer_groups(cs.candidates) == [("c0", "c1", "c4"), ("c2", "c5"), ("c3",), ("c6",)]


def test_representatives_are_seeded_members_and_not_always_the_first():
    cs = make_set(["42"] * 6 + ["7", "7"])
    reps = {answer_groups_of(cs, seed)[0].rep for seed in range(20)}
    assert reps <= {f"c{k}" for k in range(6)} and len(reps) > 1
    assert answer_groups_of(cs, 3) == answer_groups_of(cs, 3)


def test_standard_seeding_keeps_top_seeds_apart():
    assert standard_seeding(8) == [1, 8, 4, 5, 2, 7, 3, 6]
    assert standard_seeding(2) == [1, 2]


# -- call accounting -----------------------------------------------------------------------------------------------
def test_answer_knockout_plays_only_distinct_answers():
    cs = make_set(["42", "42", "42", "42", "7", "7", "9", "42"])  # 8 candidates, 3 distinct answers
    cfg = TournamentConfig("answer-knockout")
    games, log, pick = play(cs, cfg)
    assert len(games) == 2 == SCHEDULES.get("answer-knockout").calls_for(cs, cfg)
    reps = {g.rep for g in answer_groups_of(cs, 0)}
    assert {p for g in games for p in (g.x, g.y)} <= reps and pick in reps
    assert len(log) == 2 and all(a.games for a in log)
    games3, _, _ = play(cs, TournamentConfig("answer-knockout", games=3))
    assert len(games3) == 6  # a judge that always picks the first shown splits both orders: each match needs a decider
    both, _, _ = play(cs, TournamentConfig("answer-knockout", games=2))
    assert len(both) == 4


def test_one_distinct_answer_costs_nothing():
    cs = make_set(["42", "42.0", "42"])
    for name in ("answer-knockout", "answer-adaptive", "answer-duel"):
        cfg = TournamentConfig(name)
        games, log, pick = play(cs, cfg)
        assert games == [] and log == [] and pick in {"c0", "c1", "c2"}
        assert SCHEDULES.get(name).calls_for(cs, cfg) == 0 == SCHEDULES.get(name).most_for(cs, cfg)
        assert replay_pick(cs, cfg, {}) == pick


def test_level_match_goes_to_the_larger_group():
    cs = make_set(["7", "42", "42", "42"])  # groups: {c0} and {c1, c2, c3}
    # both orders, the judge always says "first": 1-1, so the size prior decides
    games, log, pick = play(cs, TournamentConfig("answer-knockout", games=2))
    assert len(games) == 2 and pick in {"c1", "c2", "c3"} and log[0].winner == pick


@pytest.mark.parametrize("budget", [1, 2, 3, 5, 7, 9, 14, 20])
@pytest.mark.parametrize("name", ["adaptive-knockout", "answer-adaptive", "answer-duel"])
def test_budget_is_never_exceeded(name, budget):
    rng = random.Random(budget)
    for i in range(30):
        cs = make_set([rng.choice(["42", "7", "9", str(100 + k)]) for k in range(rng.choice([3, 8, 13]))], f"s{i}")
        cfg = TournamentConfig(name, budget=budget, seed=i)
        games, log, pick = play(cs, cfg, lambda p: rng.choice([p.first, p.second, None, "draw"]))
        assert len(games) <= budget and len(games) <= SCHEDULES.get(name).most_for(cs, cfg)
        assert len({g.key for g in games}) == len(games) and pick is not None
        assert sum(len(a.games) for a in log) == len(games)


def test_sequential_match_stops_once_decided_and_spends_on_close_ones():
    cs = make_set(["42", "7"])
    cfg = TournamentConfig("adaptive-knockout", budget=5)
    one_sided, _, _ = play(cs, cfg, lambda p: "c0")  # 3-0 ends a best of 5
    assert len(one_sided) == 3
    close, _, _ = play(cs, cfg, lambda p: p.first)  # orders alternate with the seed: a close match goes longer
    assert 3 <= len(close) <= 5


def test_adaptive_default_budget_is_a_knockout():
    cs = make_set([str(k) for k in range(8)])
    games, _, _ = play(cs, TournamentConfig("adaptive-knockout"))
    assert len(games) == 7


# -- options ---------------------------------------------------------------------------------------------------------
def test_bad_options():
    with pytest.raises(RRMError, match="at least 1"):
        TournamentConfig("answer-adaptive", budget=0)
    with pytest.raises(RRMError, match="does not use budget"):
        TournamentConfig("answer-knockout", budget=3)
    with pytest.raises(RRMError, match="unknown prior"):
        TournamentConfig("answer-adaptive", prior="votes")


# -- through the pipeline and the CLI --------------------------------------------------------------------------------
class Interrupt(ScriptedDriver):
    def __init__(self, target: str, limit: int | None = None) -> None:
        super().__init__(target)
        self.limit = limit

    def generate(self, requests, params):
        if self.limit is not None and self.calls + len(requests) > self.limit:
            raise KeyboardInterrupt
        return super().generate(requests, params)


def config(run_dir: Path, schedule: str, **protocol) -> TournamentRunConfig:
    return TournamentRunConfig(
        model="scripted:first",
        judge="rrm",
        candidates=(str(MATH8),),
        protocol=TournamentConfig(schedule, seed=5, **protocol),
        run_dir=str(run_dir),
    )


@pytest.mark.parametrize(
    "schedule,protocol", [("adaptive-knockout", {"budget": 14}), ("answer-knockout", {"games": 3})]
)
def test_resume_mid_run_no_duplicate_keys_and_decisions_journaled(tmp_path, schedule, protocol):
    ref = run_tournament_eval(config(tmp_path / "ref", schedule, **protocol))
    total = ref.written
    assert total > 4
    with pytest.raises(KeyboardInterrupt):
        run_tournament_eval(
            config(tmp_path / "run", schedule, **protocol), model=Model(Interrupt("first", total // 2), chunk_size=2)
        )
    again = Interrupt("first")
    out = run_tournament_eval(config(tmp_path / "run", schedule, **protocol), model=Model(again))
    assert again.calls == total - out.reused and out.reused > 0
    records = read_jsonl(tmp_path / "run" / "records.jsonl")
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys))
    assert (tmp_path / "run" / "rivals.jsonl").read_bytes() == (tmp_path / "ref" / "rivals.jsonl").read_bytes()
    advances = {r["item_id"]: r["winner"] for r in records if r["kind"] == "advance"}
    rivals = read_jsonl(tmp_path / "run" / "rivals.jsonl")
    assert rivals and all(row["advanced"] == advances[row["match_id"]] for row in rivals)
    assert out.summary["accuracy"]["champion"]["n"] == 8 and out.summary["primary"] == "champion"


def test_rival_table_reads_the_journaled_decision_not_a_recomputed_one():
    cs = make_set(["7", "42", "42", "42"])
    cfg = TournamentConfig("answer-knockout", games=2)
    games, log, _ = play(cs, cfg)
    recs = [
        {"key": g.key, "item_id": g.match_id, "verdict": 1,
         "meta": {"set": cs.id, "phase": g.phase, "round": g.round, "game": g.game, "x": g.x, "y": g.y,
                  "first": g.first, "second": g.second}}
        for g in games
    ]  # fmt: skip
    rows = rival_rows(recs, [cs], 0, {a.item_id: a.winner for a in log})
    assert {r["advanced"] for r in rows} == {log[0].winner}
    other = next(p for p in (games[0].x, games[0].y) if p != log[0].winner)
    assert {r["advanced"] for r in rival_rows(recs, [cs], 0, {log[0].item_id: other})} == {other}


@pytest.mark.parametrize("schedule,extra", [("answer-adaptive", ["--budget", "5"]), ("answer-knockout", []),
                                            ("adaptive-knockout", ["--schedule-opt", "budget=3"])])  # fmt: skip
def test_cli_end_to_end(tmp_path, schedule, extra):
    res = cli("tournament", schedule, "--candidates", str(MATH8), "--model", "scripted:accuracy:0.8",
              "--run-dir", str(tmp_path / "run"), "--quiet", *extra)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "champion" in res.stdout
    summary = read_jsonl(tmp_path / "run" / "ratings.jsonl")
    assert len(summary) == 8 and all("champion" in s["selected"] for s in summary)
    games = [r for r in read_jsonl(tmp_path / "run" / "records.jsonl") if r["kind"] == "judge"]
    if extra:
        budget = int(extra[-1].split("=")[-1])
        per_set: dict[str, int] = {}
        for r in games:
            per_set[r["meta"]["set"]] = per_set.get(r["meta"]["set"], 0) + 1
        assert max(per_set.values()) <= budget


@pytest.mark.parametrize(
    "args,message",
    [
        (["answer-adaptive", "--budget", "0"], "at least 1"),
        (["answer-adaptive", "--schedule-opt", "rounds=3"], "unknown schedule option"),
        (["answer-knockout", "--schedule-opt", "prior=votes"], "unknown prior"),
    ],
)
def test_cli_bad_options_exit_2(tmp_path, args, message):
    res = cli("tournament", *args, "--candidates", str(MATH8), "--model", "scripted:first",
              "--run-dir", str(tmp_path / "run"), "--quiet")  # fmt: skip
    assert res.returncode == 2 and "error:" in res.stderr and message in res.stderr and "Traceback" not in res.stderr
    assert "hint:" in res.stderr or message == "unknown prior"

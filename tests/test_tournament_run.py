"""Tournaments end to end: CLI runs with the scripted judge, the result scripts, resume mid-round, policies, the
candidates command, and one real run with the embedded model."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from helpers import REPO, cli, marked_candidates, only_run, read_jsonl, summary_of, write_jsonl

from rrm_eval import (
    CandidateGenConfig,
    TournamentRunConfig,
    accuracy_results,
    generate_candidates,
    run_tournament_eval,
)
from rrm_eval.models import Model
from rrm_eval.models._scripted import ScriptedDriver
from rrm_eval.protocols import TournamentConfig
from rrm_eval.tasks import load_candidate_sets

MATH8 = Path(__file__).parent / "fixtures" / "candidates" / "math8.jsonl"


@pytest.fixture
def marked(tmp_path: Path) -> Path:
    """The math fixture with GOOD appended to every correct candidate (what the scripted marker judges look for)."""
    return marked_candidates(tmp_path)


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``scripts/NAME`` as a program (the way users run it), in a fresh process."""
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / name), *args], capture_output=True, text=True, timeout=300
    )


def test_round_robin_end_to_end_and_the_scripts_reproduce_it(tmp_path, marked):
    res = cli(
        "tournament",
        "round-robin",
        "--candidates",
        str(marked),
        "--model",
        "scripted:marker",
        "--judge",
        "rrm",
        "--output-dir",
        str(tmp_path / "runs"),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    assert "elo *" in res.stdout and "judge calls 224 (28.0 per problem)" in res.stdout
    run = only_run(tmp_path / "runs")
    records = read_jsonl(run / "records.jsonl")
    assert len(records) == 8 * 28 and len({r["key"] for r in records}) == 224
    assert all(r["meta"]["phase"] == "rr" and r["verdict"] in (1, 2) for r in records)
    s = summary_of(run)
    acc = {k: v["accuracy"] for k, v in s["accuracy"].items()}
    # the marker judge always prefers the correct answer, so every rating picks a correct one
    assert acc["oracle"] == acc["elo"] == acc["bradley-terry"] == acc["wins"] == 1.0
    assert acc["single-sample"] == pytest.approx(38 / 64)
    assert s["primary"] == "elo" and s["spend"]["judge_calls"] == 224 and s["verdicts"]["failed"] == 0
    ratings = read_jsonl(run / "ratings.jsonl")
    assert len(ratings) == 8 and set(ratings[0]["ratings"]) == {"elo", "bradley-terry", "wins"}
    p7 = next(r for r in ratings if r["set_id"] == "p7")
    assert p7["selected"]["elo"] == "s3" and p7["ratings"]["wins"]["s3"] == 7.0  # the only correct candidate

    # the two scripts, and the CLI subcommands, reproduce the run's table and numbers from the directory alone
    out = script("elo_rival_results.py", str(run), "--output", str(tmp_path / "rivals.jsonl"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "rivals.jsonl").read_bytes() == (run / "rivals.jsonl").read_bytes()
    out = script(
        "elo_accuracy_results.py",
        str(run),
        "--rivals",
        str(tmp_path / "rivals.jsonl"),
        "--output",
        str(tmp_path / "acc.json"),
    )
    assert out.returncode == 0, out.stderr
    assert "elo" in out.stdout
    assert json.loads((tmp_path / "acc.json").read_text()) == s
    res = cli("tournament", "rival-results", str(run), "--output", str(tmp_path / "r2.jsonl"))
    assert res.returncode == 0 and (tmp_path / "r2.jsonl").read_bytes() == (run / "rivals.jsonl").read_bytes()
    res = cli("tournament", "accuracy-results", str(run), "--output", str(tmp_path / "a2.json"))
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "a2.json").read_text()) == s


def test_knockout_end_to_end(tmp_path, marked):
    res = cli(
        "tournament",
        "knockout",
        "--candidates",
        str(marked),
        "--model",
        "scripted:accuracy:0.8",
        "--output-dir",
        str(tmp_path),
        "--quiet",
        "--seed",
        "3",
    )
    assert res.returncode == 0, res.stderr
    run = only_run(tmp_path)
    rivals = read_jsonl(run / "rivals.jsonl")
    assert len(rivals) == 8 * 7 and all("advanced" in r for r in rivals)
    assert Counter(r["round"] for r in rivals) == {1: 32, 2: 16, 3: 8}
    s = summary_of(run)
    assert s["primary"] == "knockout" and s["accuracy"]["knockout"]["n"] == 8
    ratings = {r["set_id"]: r for r in read_jsonl(run / "ratings.jsonl")}
    for set_id, r in ratings.items():
        final = [x for x in rivals if x["set_id"] == set_id and x["round"] == 3]
        assert len(final) == 1 and r["selected"]["knockout"] == final[0]["winner"] == final[0]["advanced"]
        # winners of round 1 and only they play round 2
        won = {x["advanced"] for x in rivals if x["set_id"] == set_id and x["round"] == 1}
        assert {p for x in rivals if x["set_id"] == set_id and x["round"] == 2 for p in (x["x"], x["y"])} == won
    assert json.loads(json.dumps(accuracy_results(run, output=tmp_path / "again.json"))) == s


def big_sets(tmp_path: Path, n: int = 32, problems: int = 2) -> Path:
    rows = [
        {
            "id": f"m{q}",
            "question": f"Question {q}",
            "candidates": [
                {"id": f"r{i}", "text": f"Answer {i}" + (" GOOD" if i % 5 == 0 else ""), "correct": i % 5 == 0}
                for i in range(n)
            ],
        }
        for q in range(problems)
    ]
    return write_jsonl(tmp_path / "big.jsonl", rows)


def test_knockout_with_the_shipped_32_bracket(tmp_path):
    res = cli(
        "tournament",
        "knockout",
        "--candidates",
        str(big_sets(tmp_path)),
        "--bracket",
        "mmlu",
        "--model",
        "scripted:marker",
        "--judge",
        "skywork-critic",
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    rivals = read_jsonl(tmp_path / "run" / "rivals.jsonl")
    assert len(rivals) == 2 * 31
    first = {frozenset((int(r["x"][1:]), int(r["y"][1:]))) for r in rivals if r["round"] == 1 and r["set_id"] == "m0"}
    bracket = json.loads((REPO / "ppe_dataset" / "MMLU_knockout_bracket.json").read_text())
    assert first == {frozenset(p) for p in bracket["round_1"]}
    assert summary_of(tmp_path / "run")["accuracy"]["knockout"]["accuracy"] == 1.0  # marker: a correct one wins


def test_bracket_that_does_not_fit_fails_before_judging(tmp_path, marked):
    res = cli(
        "tournament",
        "knockout",
        "--candidates",
        str(marked),
        "--bracket",
        "mmlu",
        "--model",
        "scripted:marker",
        "--output-dir",
        str(tmp_path / "runs"),
        "--quiet",
    )
    assert res.returncode == 2
    assert "problem 'p1': bracket mmlu" in res.stderr and "does not cover its 8 candidates" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "runs").exists()


class Interrupt(ScriptedDriver):
    """A scripted judge that is 'killed' after ``limit`` requests (the chunk in flight is lost, as in a real kill)."""

    def __init__(self, target: str, limit: int | None = None) -> None:
        super().__init__(target)
        self.limit = limit

    def generate(self, requests, params):
        if self.limit is not None and self.calls + len(requests) > self.limit:
            raise KeyboardInterrupt
        return super().generate(requests, params)


def config(data: Path, run_dir: Path, schedule: str, **protocol) -> TournamentRunConfig:
    return TournamentRunConfig(
        model="scripted:accuracy:0.7",
        judge="rrm",
        candidates=(str(data),),
        protocol=TournamentConfig(schedule, seed=5, **protocol),
        run_dir=str(run_dir),
    )


@pytest.mark.parametrize(
    "schedule,protocol,total,limit,past",
    [
        ("round-robin", {}, 224, 100, 0),
        ("knockout", {}, 56, 40, 32),  # killed in round 2 (round 1 = 32 games): resume replays round 1's results
        ("knockout", {"games": 3}, None, 70, 64),  # best of 3: killed among round 1's deciders
    ],
)
def test_interrupted_mid_round_resumes_without_rejudging(tmp_path, marked, schedule, protocol, total, limit, past):
    reference = run_tournament_eval(config(marked, tmp_path / "ref", schedule, **protocol))
    total = total or reference.written
    driver = Interrupt("accuracy:0.7", limit=limit)
    with pytest.raises(KeyboardInterrupt):
        run_tournament_eval(config(marked, tmp_path / "run", schedule, **protocol), model=Model(driver, chunk_size=6))
    games = [r for r in read_jsonl(tmp_path / "run" / "records.jsonl") if r["kind"] == "judge"]
    done = len(games)
    assert past < done < total and done <= limit  # every finished chunk was kept, the one in flight lost
    again = Interrupt("accuracy:0.7")
    outcome = run_tournament_eval(config(marked, tmp_path / "run", schedule, **protocol), model=Model(again))
    assert again.calls == total - done and outcome.reused == done and outcome.written == total - done
    records = read_jsonl(tmp_path / "run" / "records.jsonl")
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)) and sum(r["kind"] == "judge" for r in records) == total
    assert (tmp_path / "run" / "rivals.jsonl").read_bytes() == (tmp_path / "ref" / "rivals.jsonl").read_bytes()
    assert summary_of(tmp_path / "run") == summary_of(tmp_path / "ref")


def test_finished_run_replays_without_calling_the_model(tmp_path, marked):
    run_tournament_eval(config(marked, tmp_path / "run", "knockout"))
    idle = Interrupt("accuracy:0.7", limit=0)  # any judge call would raise
    outcome = run_tournament_eval(config(marked, tmp_path / "run", "knockout"), model=Model(idle))
    assert outcome.written == 0 and idle.calls == 0
    with pytest.raises(Exception, match="different settings"):
        run_tournament_eval(config(marked, tmp_path / "run", "knockout", games=2))


def test_logprob_judge_through_the_score_path(tmp_path, marked):
    res = cli(
        "tournament",
        "round-robin",
        "--candidates",
        str(marked),
        "--model",
        "scripted:marker",
        "--judge",
        "logprob",
        "--limit",
        "2",
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    records = read_jsonl(tmp_path / "run" / "records.jsonl")
    assert len(records) == 56 and all(r["finish_reason"] == "scored" and len(r["logprobs"]) == 2 for r in records)
    assert summary_of(tmp_path / "run")["accuracy"]["elo"]["accuracy"] == 1.0


def test_unreadable_verdicts_follow_the_policy(tmp_path, marked):
    res = cli(
        "tournament",
        "round-robin",
        "--candidates",
        str(marked),
        "--model",
        "scripted:garbage",
        "--limit",
        "3",
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    assert "84 unreadable -> policy coin (84 coin flips" in res.stdout and "no_verdict 84" in res.stdout
    s = summary_of(tmp_path / "run")
    assert s["verdicts"]["failures"] == {"no_verdict": 84} and s["verdicts"]["coin_flips"] == 84
    run = tmp_path / "run"
    drop = accuracy_results(run, policy="drop", output=tmp_path / "drop.json")
    assert drop["verdicts"]["dropped"] == 84 and drop["verdicts"]["policy"] == "drop"
    draw = accuracy_results(run, policy="draw", output=tmp_path / "draw.json", ratings_output=tmp_path / "r.jsonl")
    assert draw["verdicts"]["failed_as_draws"] == 84
    assert all(set(r["ratings"]["elo"].values()) == {1000.0} for r in read_jsonl(tmp_path / "r.jsonl"))
    assert summary_of(run) == json.loads((run / "summary.json").read_text())  # rescoring never touches the run's


def test_candidates_command_generates_grades_and_resumes(tmp_path):
    rows = [
        {"unique_id": "a", "problem": "What is 2+2?", "solution": "Clearly $\\boxed{4}$."},
        {"unique_id": "b", "problem": "What is 1/2 as a decimal?", "answer": "0.5"},
    ]
    problems = write_jsonl(tmp_path / "problems.jsonl", rows)

    def respond(prompt: str, sample: int, seed: int) -> str:
        right = "4" if "2+2" in prompt else "\\frac{1}{2}"
        return f"Step by step. The answer is \\boxed{{{right if sample % 2 == 0 else '7'}}}."

    cfg = CandidateGenConfig(model="scripted:custom", problems=str(problems), n=4, run_dir=str(tmp_path / "gen"))
    driver = ScriptedDriver("custom", respond=respond)
    outcome = generate_candidates(cfg, model=Model(driver))
    assert outcome.written == 8 and driver.calls == 2
    sets = load_candidate_sets(str(outcome.output)).sets
    assert [c.correct for c in sets[1].candidates] == [True, False, True, False]  # 1/2 == 0.5 by math-verify
    assert sets[0].reference == "4" and sets[0].candidates[0].meta["finish_reason"] == "stop"
    assert outcome.summary["single_sample_accuracy"] == 0.5 and outcome.summary["oracle_accuracy"] == 1.0
    prompt = read_jsonl(tmp_path / "gen" / "records.jsonl")[0]
    assert prompt["key"] == "a|0"
    again = ScriptedDriver("custom", respond=respond)
    assert generate_candidates(cfg, model=Model(again)).written == 0 and again.calls == 0
    # the sets feed a tournament directly
    res = cli(
        "tournament",
        "round-robin",
        "--candidates",
        str(outcome.output),
        "--model",
        "scripted:first",
        "--run-dir",
        str(tmp_path / "t"),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    assert "policy tokens" in res.stdout


def test_candidates_cli_errors_and_wiring(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": 1, "question": "No reference?"}) + "\n")
    res = cli("candidates", "--problems", str(bad), "--model", "scripted:first", "--quiet")
    assert res.returncode == 2 and "problem '1': no reference answer" in res.stderr
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": 1, "question": "1+1?", "answer": "2"}) + "\n")
    res = cli(
        "candidates",
        "--problems",
        str(good),
        "--model",
        "scripted:first",
        "--n",
        "2",
        "--output",
        str(tmp_path / "c.jsonl"),
        "--output-dir",
        str(tmp_path / "runs"),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    assert "single-sample accuracy 0.00%" in res.stdout
    (cs,) = load_candidate_sets(str(tmp_path / "c.jsonl")).sets
    assert [c.answer for c in cs.candidates] == ["Assistant 1", "Assistant 1"]  # a judge preset is no solver


@pytest.mark.slow
def test_embedded_model_logprob_knockout(tmp_path):
    res = cli(
        "tournament",
        "knockout",
        "--candidates",
        str(MATH8),
        "--model",
        "smollm2",
        "--judge",
        "logprob",
        "--limit",
        "1",
        "--run-dir",
        str(tmp_path / "run"),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    records = [r for r in read_jsonl(tmp_path / "run" / "records.jsonl") if r["kind"] == "judge"]
    assert len(records) == 7 and all(r["failure"] is None and len(r["logprobs"]) == 2 for r in records)
    assert all(lp < 0 for r in records for lp in r["logprobs"])
    s = summary_of(tmp_path / "run")
    assert s["accuracy"]["knockout"]["n"] == 1 and s["spend"]["judge_calls"] == 7
    assert len({r["meta"]["round"] for r in records}) == 3  # 4 + 2 + 1 matches
    spec = json.loads((tmp_path / "run" / "spec.json").read_text())
    assert spec["model"]["resolved"]["name"] == "SmolLM2-135M-Instruct"

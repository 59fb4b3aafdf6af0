"""The runner core: one run identity, one lifecycle (resume per record key), judge modes x protocols, typed records.

In-process through the public API (``rrm_eval``) with scripted models; the CLI-level behaviour (exit codes, messages)
is checked through ``rrm_eval.cli.main``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import cli, read_jsonl

import rrm_eval
from rrm_eval import PairwiseConfig, PairwiseRunConfig, TaskOptions, TournamentConfig, TournamentRunConfig
from rrm_eval.cli import main
from rrm_eval.judges import builtin_judges
from rrm_eval.models import Message, Model
from rrm_eval.models._scripted import ScriptedDriver
from rrm_eval.protocols import MODES, check_modes_match

MATH8 = Path(__file__).parent / "fixtures" / "candidates" / "math8.jsonl"


def _pairwise(marked_pairs: Path, tmp_path: Path, judge: str = "skywork-critic", **kw: Any) -> PairwiseRunConfig:
    protocol = kw.pop("protocol", PairwiseConfig(order="both"))
    return PairwiseRunConfig(
        model=kw.pop("model", "scripted:marker"),
        judge=judge,
        task="rewardbench",
        task_options=TaskOptions(data=str(marked_pairs)),
        protocol=protocol,
        output_dir=str(tmp_path / "runs"),
        **kw,
    )


# -- identity -----------------------------------------------------------------------------------------------------
def _judge_copy(tmp_path: Path, name: str, edit: tuple[str, str] | None = None) -> Path:
    text = builtin_judges()[name].read_text(encoding="utf-8")
    if edit:
        assert edit[0] in text, f"{name}.toml no longer has {edit[0]!r}"
        text = text.replace(*edit)
    path = tmp_path / f"{name}-{len(list(tmp_path.glob('*.toml')))}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "edit",
    [
        ("temperature = 0.6", "temperature = 1.0"),
        ("max_new_tokens = 8192", "max_new_tokens = 100"),
        ("Analyze the two responses step by step", "Compare the two responses carefully"),
        ('parser = "rrm_boxed"', 'parser = "boxed"'),
    ],
)
def test_every_record_changing_judge_setting_is_a_new_run(tmp_path, marked_pairs, edit):
    base = rrm_eval.evaluate_pairwise(_pairwise(marked_pairs, tmp_path, str(_judge_copy(tmp_path, "rrm"))))
    edited = _judge_copy(tmp_path, "rrm", edit)
    other = rrm_eval.evaluate_pairwise(_pairwise(marked_pairs, tmp_path, str(edited)))
    assert other.run_dir != base.run_dir and other.reused == 0
    # The same directory with the edited judge is refused, never extended with records of other settings.
    before = (base.run_dir / "records.jsonl").read_bytes()
    with pytest.raises(rrm_eval.RRMError, match="different settings"):
        rrm_eval.evaluate_pairwise(_pairwise(marked_pairs, tmp_path, str(edited), run_dir=str(base.run_dir)))
    assert (base.run_dir / "records.jsonl").read_bytes() == before


def test_a_copied_judge_file_and_execution_options_keep_the_identity(tmp_path, marked_pairs):
    a = rrm_eval.evaluate_pairwise(_pairwise(marked_pairs, tmp_path, "rrm"))
    b = rrm_eval.evaluate_pairwise(
        _pairwise(marked_pairs, tmp_path, str(_judge_copy(tmp_path, "rrm")), model_options={"delay": 0.0})
    )
    assert b.run_dir == a.run_dir and b.written == 0 and b.reused == a.written


def test_a_run_from_before_identities_is_refused_with_a_way_on(tmp_path, marked_pairs, capsys):
    out = rrm_eval.evaluate_pairwise(_pairwise(marked_pairs, tmp_path))
    spec_path = out.run_dir / "spec.json"
    spec = json.loads(spec_path.read_text())
    del spec["identity_version"]
    spec_path.write_text(json.dumps(spec))
    args = ["pairwise", "--dataset", "rewardbench", "--data", str(marked_pairs), "--model", "scripted:marker"]
    args += ["--judge", "skywork-critic", "--order", "both", "--run-dir", str(out.run_dir), "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "earlier rrm-eval" in err and "hint:" in err and "rescore" in err and "Traceback" not in err
    # ... and it can still be re-scored offline
    assert main(["rescore", str(out.run_dir)]) == 0


# -- resume per record key ------------------------------------------------------------------------------------------
def test_torn_write_with_votes_resumes_without_duplicates(tmp_path, marked_pairs):
    cfg = _pairwise(
        marked_pairs, tmp_path, model="scripted:random", protocol=PairwiseConfig(order="both", votes=3, temperature=1)
    )
    full = rrm_eval.evaluate_pairwise(cfg)
    path = full.run_dir / "records.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    reference = {r["key"]: r for r in read_jsonl(path)}
    # A kill mid-write: the middle vote of a call is half on disk, its third vote never written.
    path.write_bytes(b"".join(lines[:-2]) + lines[-2][: len(lines[-2]) // 2])
    again = rrm_eval.evaluate_pairwise(cfg)
    records = read_jsonl(path)
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)) == len(reference)
    assert again.written == 2 and {r["key"]: r for r in records} == reference
    assert again.summary["scores"] == full.summary["scores"]


# -- judge modes x protocols ----------------------------------------------------------------------------------------
class ReasonTemplateDriver(ScriptedDriver):
    """A scripted ReasonGenRM checkpoint: its template opens a reason turn after a user turn and the assistant turn
    after a reason turn; it reasons towards the answer marked GOOD, then answers [[A]]/[[B]] in the verdict turn."""

    def __init__(self) -> None:
        super().__init__("reason-template", respond=self._answer)

    def apply_chat_template(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        text = "".join(f"<|{m['role']}|>\n{m['content']}<|end|>\n" for m in messages)
        if add_generation_prompt:
            text += "<|reason|>\n" if messages[-1]["role"] == "user" else "<|assistant|>\n"
        return text

    @staticmethod
    def _answer(prompt: str, sample: int, seed: int) -> str:
        user = prompt.split("<|reason|>")[0]
        first = user.split("[The Start of Assistant A's Answer]")[-1].split("[The End of Assistant A's Answer]")[0]
        pick = "A" if "GOOD" in first else "B"
        if prompt.endswith("<|reason|>\n"):
            return f"Assistant {pick} holds the GOOD answer."
        return f"[[{pick}]]"


def _model_for(mode: str) -> Model:
    return Model(ReasonTemplateDriver() if mode == "reason" else ScriptedDriver("marker"))


JUDGE_FOR_MODE = {"generate": "skywork-critic", "logprob": "logprob", "reason": "reasongenrm"}


def test_every_judge_mode_is_registered_and_covered():
    check_modes_match()
    # The modes of pairwise prompts are covered by the matrix below; best-of-N modes by tests/test_rewardbench2.py.
    assert {m for m in MODES.names() if "pairwise" in MODES.get(m).protocols} == set(JUDGE_FOR_MODE)
    assert {m for m in MODES.names() if "pairwise" not in MODES.get(m).protocols} == {"listwise", "rating"}


@pytest.mark.parametrize("command", ["pairwise", "tournament"])
def test_a_best_of_n_judge_is_refused_by_pairwise_protocols_before_a_model_loads(tmp_path, marked_pairs, command):
    out = ["--output-dir", str(tmp_path / "runs"), "--quiet", "--judge", "rb2-listwise", "--model", "hf:/nonexistent"]
    args = ["pairwise", "--dataset", "rewardbench", "--data", str(marked_pairs)]
    if command == "tournament":
        args = ["tournament", "round-robin", "--candidates", str(MATH8)]
    res = cli(*args, *out)
    assert res.returncode == 2 and "mode 'listwise'" in res.stderr and "rrm-eval bestof" in res.stderr
    assert "Traceback" not in res.stderr and "/nonexistent" not in res.stderr  # refused before the model


@pytest.mark.parametrize("mode", sorted(JUDGE_FOR_MODE))
def test_mode_in_pairwise(tmp_path, marked_pairs, mode):
    out = rrm_eval.evaluate_pairwise(_pairwise(marked_pairs, tmp_path, JUDGE_FOR_MODE[mode]), model=_model_for(mode))
    records = [r for r in rrm_eval.load_run_records(out.run_dir) if isinstance(r, rrm_eval.JudgeRecord)]
    assert len(records) == 80 and all(r.failure is None for r in records)
    if mode == "reason":
        assert all(r.meta["reason_phase"] == 2 and r.raw.rstrip().endswith(("[[A]]", "[[B]]")) for r in records)
    if mode != "logprob":  # the scripted log-probs carry no judgement; the generating modes find the marker
        assert out.summary["accuracy"] == 1.0


@pytest.mark.parametrize("schedule", ["round-robin", "knockout"])
@pytest.mark.parametrize("mode", sorted(JUDGE_FOR_MODE))
def test_mode_in_tournament(tmp_path, mode, schedule):
    cfg = TournamentRunConfig(
        model="scripted:marker",
        judge=JUDGE_FOR_MODE[mode],
        candidates=(str(MATH8),),
        protocol=TournamentConfig(schedule=schedule, games=2),
        output_dir=str(tmp_path / "runs"),
        bootstrap=0,
    )
    out = rrm_eval.run_tournament_eval(cfg, model=_model_for(mode))
    records = rrm_eval.load_run_records(out.run_dir)
    games = [r for r in records if isinstance(r, rrm_eval.JudgeRecord)]
    advances = [r for r in records if isinstance(r, rrm_eval.AdvanceRecord)]
    assert games and all(r.failure is None for r in games)
    if mode == "reason":  # the two-phase judge plays its verdict turn in tournaments too
        assert all(r.meta["reason_phase"] == 2 and r.meta["verdict_text"] in ("[[A]]", "[[B]]") for r in games)
    if schedule == "knockout":
        # Who went on is journaled by the schedule and is what the rival table says.
        rivals = read_jsonl(out.run_dir / "rivals.jsonl")
        by_match = {a.item_id: a.winner for a in advances}
        assert by_match and all(row["advanced"] == by_match[row["match_id"]] for row in rivals)
        assert all(set(a.games) <= {g.key for g in games} for a in advances)
    else:
        assert not advances


def test_tournament_resume_replays_advances_without_duplicates(tmp_path):
    cfg = TournamentRunConfig(
        model="scripted:random",
        judge="skywork-critic",
        candidates=(str(MATH8),),
        protocol=TournamentConfig(schedule="knockout", games=3, temperature=1.0),
        output_dir=str(tmp_path / "runs"),
        bootstrap=0,
    )
    first = rrm_eval.run_tournament_eval(cfg)
    path = first.run_dir / "records.jsonl"
    reference = path.read_bytes()
    lines = reference.splitlines(keepends=True)
    path.write_bytes(b"".join(lines[: len(lines) // 2]))
    again = rrm_eval.run_tournament_eval(cfg)
    keys = [r["key"] for r in read_jsonl(path)]
    assert len(keys) == len(set(keys)) and sorted(keys) == sorted(
        r["key"] for r in read_jsonl(first.run_dir / "records.jsonl")
    )
    assert again.summary["accuracy"] == first.summary["accuracy"]
    assert sorted(path.read_bytes().splitlines()) == sorted(reference.splitlines())


# -- failures stay typed, and a failing backend is loud ---------------------------------------------------------------
class FlakyDriver(ScriptedDriver):
    """Fails (as a server whose reply had no choices would) on every prompt that mentions 'Question 1'."""

    def __init__(self) -> None:
        super().__init__("marker")

    def generate(self, requests, params):  # type: ignore[no-untyped-def]
        out = super().generate(requests, params)
        for r, group in zip(requests, out, strict=True):
            if "Question 1" in r.prompt:
                for c in group:
                    c.text, c.finish_reason, c.error = "", "error", "server reply has no 'choices'"
        return out


def test_backend_errors_are_records_and_a_nonzero_exit(tmp_path, marked_pairs, capsys):
    out = rrm_eval.evaluate_pairwise(_pairwise(marked_pairs, tmp_path), model=Model(FlakyDriver()))
    failed = [r for r in read_jsonl(out.run_dir / "records.jsonl") if r["failure"] == "backend_error"]
    # "Question 1", "Question 10".."Question 19": 11 items x both orders, none missing from the journal
    assert len(failed) == 22 and out.backend_errors == 22 and out.summary["n_items"] == 40
    from rrm_eval.cli._common import exit_status

    assert exit_status(out.backend_errors, out.run_dir) == 1
    assert "22 judge call(s) failed" in capsys.readouterr().err
    # Once the backend is back, the same command makes exactly the failed calls again; nothing else is redone.
    healthy = ScriptedDriver("marker")
    again = rrm_eval.evaluate_pairwise(_pairwise(marked_pairs, tmp_path), model=Model(healthy))
    assert healthy.calls == 22 and again.written == 22 and again.backend_errors == 0
    assert again.summary["accuracy"] == 1.0 and again.summary["n_items"] == 40
    lines = read_jsonl(out.run_dir / "records.jsonl")  # the failed attempts stay in the journal, superseded
    assert len(lines) == 80 + 22 and sum(r["failure"] == "backend_error" for r in lines) == 22
    stats = json.loads((out.run_dir / "run_stats.json").read_text())
    assert stats["failed_calls_retried"] == 22 and stats["records_reused"] == 80 - 22


# -- rescore on what is not a pairwise run --------------------------------------------------------------------------
def test_rescore_refuses_non_runs_clearly_and_rescores_tournaments(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    bad_spec = tmp_path / "bad"
    bad_spec.mkdir()
    (bad_spec / "spec.json").write_text("[1, 2]")
    for target, needle in ((f, "not a directory"), (empty, "does not exist"), (bad_spec, "not an rrm-eval run")):
        assert main(["rescore", str(target)]) == 2
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err, err
    cfg = TournamentRunConfig(
        model="scripted:marker",
        judge="skywork-critic",
        candidates=(str(MATH8),),
        output_dir=str(tmp_path / "runs"),
        bootstrap=0,
    )
    out = rrm_eval.run_tournament_eval(cfg)
    assert main(["rescore", str(out.run_dir), "--verdict-policy", "draw"]) == 0
    assert "Best-of-N accuracy" in capsys.readouterr().out
    assert main(["rescore", str(out.run_dir), "--failure-policy", "wrong"]) == 2
    assert "tournament run" in capsys.readouterr().err


def test_a_tournament_keeps_failed_games_on_resume(tmp_path):
    """A redone game could change who advances and orphan the games after it: adaptive schedules keep failures."""

    class FlakyGames(ScriptedDriver):
        def __init__(self) -> None:
            super().__init__("marker")

        def generate(self, requests, params):  # type: ignore[no-untyped-def]
            out = super().generate(requests, params)
            for group in out[:3]:
                for c in group:
                    c.text, c.finish_reason, c.error = "", "error", "server reply has no 'choices'"
            return out

    cfg = TournamentRunConfig(
        model="scripted:marker",
        judge="skywork-critic",
        candidates=(str(MATH8),),
        protocol=TournamentConfig(schedule="knockout"),
        output_dir=str(tmp_path / "runs"),
        bootstrap=0,
    )
    first = rrm_eval.run_tournament_eval(cfg, model=Model(FlakyGames()))
    assert first.backend_errors > 0
    healthy = ScriptedDriver("marker")
    again = rrm_eval.run_tournament_eval(cfg, model=Model(healthy))
    assert healthy.calls == 0 and again.written == 0 and again.backend_errors == first.backend_errors

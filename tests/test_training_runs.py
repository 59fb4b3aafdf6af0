"""The model-calling training steps as :class:`rrm_eval.runs.Run` journals: identity covers every input, resume adds
nothing when nothing changed, a changed input is refused (never mixed), the DPO data step goes through the shared
reason-then-verdict routine, and bad flags are clear errors. No real model: a scripted driver with the ChatML reason
template writes reasons and verdicts and returns log-probs."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from helpers import read_jsonl
from rrm_eval.training import (
    DPODataConfig,
    PrepareConfig,
    ReasonConfig,
    SelectConfig,
    get_layout,
    run_dpo_data,
    run_generate_reasons,
    run_prepare,
    run_score_reasons,
)

from rrm_eval._errors import RRMError
from rrm_eval.cli import main
from rrm_eval.models import Completion, Model, ScoreResult
from rrm_eval.models._scripted import ScriptedDriver

FIXTURE = Path(__file__).parent / "fixtures" / "skywork" / "pairs.jsonl"
CHATML = get_layout("chatml")


class ReasonDriver(ScriptedDriver):
    """The ChatML reason template; reasons name their prompt, sample and seed; the verdict after sample s is
    ``[[A]]`` for even s, ``[[B]]`` for odd s (so every prompt has a correct and an incorrect reason); log-probs
    from the continuation's length (the end-of-turn token scores as a token of its own)."""

    def __init__(self) -> None:
        super().__init__("fake", respond=lambda prompt, sample, seed: "")

    def apply_chat_template(self, messages, add_generation_prompt=True):
        context = [m for m in messages if m["role"] in ("system", "user")]
        reason = next((m["content"] for m in messages if m["role"] == "reason"), None)
        return CHATML.reason_prompt(context) if reason is None else CHATML.verdict_prompt(context, reason)

    def generate(self, requests, params):
        self.calls += len(requests)
        out = []
        for r in requests:
            if r.prompt.endswith(CHATML.header("assistant")):  # phase 2: the request key is "<row>|<sample>"
                s = int(r.key.rsplit("|", 1)[1])
                out.append([Completion("[[A]]" if s % 2 == 0 else "[[B]]", "stop", 9, 3)] * params.n)
            else:
                out.append([Completion(f"Reason {s} (seed {params.seed}).", "stop", 9, 5) for s in range(params.n)])
        return out

    def score(self, requests):
        self.calls += len(requests)
        out = []
        for r in requests:
            body = r.continuation.removesuffix(CHATML.end)
            p = 0.9 if body == "[[A]]" else 0.4 if body == "[[B]]" else 0.3 + 0.05 * (len(r.prompt) % 7)
            out.append(ScoreResult([math.log(p), math.log(0.95)], [body, CHATML.end], 9))
        return out


def fake_model() -> Model:
    return Model(ReasonDriver(), spec="scripted:fake")


def written(run_dir: Path) -> int:
    return json.loads((run_dir / "run_stats.json").read_text())["records_written"]


@pytest.fixture
def prepared(tmp_path) -> Path:
    path = tmp_path / "p.jsonl"
    run_prepare(PrepareConfig(data=str(FIXTURE), seed=2), path)
    return path


def edit_first_row(path: Path) -> None:
    rows = read_jsonl(path)
    rows[0]["messages"][-1]["content"] += " (edited)"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def cli_error(capsys, *args) -> str:
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ")
    return err


# -- generate-reasons -----------------------------------------------------------------------------------------------
def test_generate_reasons_identity_covers_the_data(tmp_path, prepared, capsys):
    out = tmp_path / "reasons"
    cfg = ReasonConfig(teacher="scripted:random", k=2, limit=4)
    assert run_generate_reasons(cfg, str(prepared), out)["written"] == 8
    spec = json.loads((out / "spec.json").read_text())
    assert spec["inputs"]["data"] and spec["identity_version"] and spec["fingerprint"]
    again = run_generate_reasons(cfg, str(prepared), out)
    assert (again["written"], again["reused"]) == (0, 8) and written(out) == 0
    # an execution-only option (chunk_size) is not part of the identity
    opts = ReasonConfig(teacher="scripted:random", k=2, limit=4, model_options={"chunk_size": 3})
    assert run_generate_reasons(opts, str(prepared), out)["written"] == 0
    edit_first_row(prepared)
    with pytest.raises(RRMError, match=r"the data input \(.*p\.jsonl\) is not the one it was made from") as err:
        run_generate_reasons(cfg, str(prepared), out)
    assert "another --out" in err.value.hint
    assert len(read_jsonl(out / "records.jsonl")) == 8  # nothing mixed in
    err = cli_error(capsys, "train", "generate-reasons", "--data", prepared, "--teacher", "scripted:random",
                    "--k", "2", "--limit", "4", "--out", out, "--quiet")  # fmt: skip
    assert "data input" in err and "hint: pass another --out" in err


def test_journal_of_an_earlier_rrm_eval_is_refused(tmp_path, prepared):
    out = tmp_path / "old"
    out.mkdir()
    (out / "spec.json").write_text(json.dumps({"kind": "teacher-reasons", "fingerprint": "abc"}))
    (out / "records.jsonl").write_text(json.dumps({"key": "x|0", "id": "x", "sample": 0, "text": "t"}) + "\n")
    with pytest.raises(RRMError, match="earlier rrm-eval"):
        run_generate_reasons(ReasonConfig(teacher="scripted:random", k=1), str(prepared), out)


# -- score-reasons --------------------------------------------------------------------------------------------------
def test_score_reasons_identity_covers_the_reasons(tmp_path, prepared, capsys):
    reasons, out = tmp_path / "reasons", tmp_path / "scored"
    teacher = ReasonConfig(teacher="scripted:fake", k=2, limit=3)
    run_generate_reasons(teacher, str(prepared), reasons, model=fake_model())
    student = fake_model()
    cfg = SelectConfig(student="scripted:fake", template="chatml", formula="readme")
    stats = run_score_reasons(cfg, str(prepared), str(reasons), out, model=student)
    assert stats["rows_kept"] == 3 and stats["layout"] == "chatml" and written(out) == 6
    scores = read_jsonl(out / "records.jsonl")
    assert {r["key"] for r in scores} == {f"{r['id']}|{s}" for r in read_jsonl(prepared)[:3] for s in range(2)}
    assert all(0 < r["p_reason"] < 1 and "p_answer_full" in r for r in scores)  # the score record layout
    calls = student.driver.calls
    # same inputs: resumes with zero new records (and no model call); a new formula re-selects from the journal
    again = run_score_reasons(SelectConfig(student="scripted:fake", template="chatml"), str(prepared), str(reasons),
                              out, model=student)  # fmt: skip
    assert written(out) == 0 and student.driver.calls == calls and again["selection"]["formula"] == "released"
    # the teacher reasons regenerated with another seed: the old scores are refused, not mixed
    shutil.rmtree(reasons)
    run_generate_reasons(ReasonConfig(teacher="scripted:fake", k=2, limit=3, seed=1), str(prepared), reasons,
                         model=fake_model())  # fmt: skip
    with pytest.raises(RRMError, match=r"the reasons input \(.*records\.jsonl\) is not the one"):
        run_score_reasons(cfg, str(prepared), str(reasons), out, model=student)
    err = cli_error(capsys, "train", "score-reasons", "--data", prepared, "--reasons", reasons, "--student",
                    "scripted:fake", "--template", "chatml", "--out", out, "--quiet")  # fmt: skip
    assert "reasons input" in err and "mix records" in err
    assert len(read_jsonl(out / "records.jsonl")) == 6
    edit_first_row(prepared)  # the prepared data is an input of score-reasons too
    with pytest.raises(RRMError, match="the data input"):
        run_score_reasons(cfg, str(prepared), str(reasons), tmp_path / "scored", model=student)


# -- dpo-data -------------------------------------------------------------------------------------------------------
def test_dpo_data_two_phase_journal_resume_and_refusal(tmp_path, prepared):
    out = tmp_path / "dpo"
    model = fake_model()
    cfg = DPODataConfig(model="scripted:fake", k=4, limit=3)
    stats = run_dpo_data(cfg, str(prepared), out, model=model)
    samples = read_jsonl(out / "samples" / "records.jsonl")
    assert len(samples) == 12 and all(r["kind"] == "sample" and r["meta"]["phase"] == 2 for r in samples)
    assert {r["meta"]["verdict"]["text"] for r in samples} == {"[[A]]", "[[B]]"}
    assert not (out / "verdicts").exists()  # one journal holds both phases
    assert len(read_jsonl(out / "scores" / "records.jsonl")) == 12
    pairs = read_jsonl(out / "dpo.jsonl")
    assert len(pairs) == 3 and stats["pairs"] == 3 and stats["layout"] == "chatml"
    for p in pairs:
        assert set(p) == {"id", "pair_id", "messages", "target", "chosen", "rejected", "n_correct", "n_incorrect"}
        assert set(p["chosen"]) == {"verdict", "sample", "reason", "p_reason", "p_answer", "p_flipped", "r_score"}
        assert p["chosen"]["verdict"] == p["target"] and p["rejected"]["verdict"] != p["target"]
        assert (p["n_correct"], p["n_incorrect"]) == (2, 2)
    for key in ("sampling", "verdict_sampling"):
        assert set(stats[key]) == {"records", "written", "reused", "finish_reasons", "dir"}
    assert stats["sampling"]["written"] == 12 and stats["verdict_sampling"]["records"] == 12
    assert json.loads((out / "dpo.stats.json").read_text())["pairs"] == 3
    calls = model.driver.calls
    again = run_dpo_data(cfg, str(prepared), out, model=model)
    assert written(out / "samples") == 0 and written(out / "scores") == 0 and model.driver.calls == calls
    assert again["sampling"]["reused"] == 12 and read_jsonl(out / "dpo.jsonl") == pairs
    # a larger selection resumes both journals; an edited data file is refused
    run_dpo_data(DPODataConfig(model="scripted:fake", k=4, limit=4), str(prepared), out, model=model)
    assert written(out / "samples") == 4 and written(out / "scores") == 4
    edit_first_row(prepared)
    with pytest.raises(RRMError, match=r"samples holds a `train dpo-data` journal .* the data input"):
        run_dpo_data(cfg, str(prepared), out, model=model)
    assert len(read_jsonl(out / "samples" / "records.jsonl")) == 16


def test_dpo_data_needs_a_reason_template(tmp_path, prepared):
    with pytest.raises(RRMError, match="opens no reason turn"):
        run_dpo_data(DPODataConfig(model="scripted:random", k=2, limit=1), str(prepared), tmp_path / "d")


# -- flags ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args,message",
    [
        (["generate-reasons", "--k", "-1"], "--k must be at least 1"),
        (["generate-reasons", "--k", "0"], "--k must be at least 1"),
        (["generate-reasons", "--limit", "0"], "--limit must be at least 1"),
        (["generate-reasons", "--temperature", "-0.5"], "--temperature must be >= 0"),
        (["generate-reasons", "--temperature", "nan"], "--temperature must be >= 0"),
        (["generate-reasons", "--top-p", "0"], "--top-p must be in (0, 1]"),
        (["generate-reasons", "--max-new-tokens", "0"], "--max-new-tokens must be at least 1"),
        (["dpo-data", "--k", "1"], "--k must be at least 2"),
        (["dpo-data", "--limit", "-3"], "--limit must be at least 1"),
        (["dpo-data", "--temperature", "-1"], "--temperature must be >= 0"),
        (["score-reasons", "--threshold", "nan"], "--threshold must be a finite number"),
        (["prepare", "--limit", "0"], "--limit must be at least 1"),
        (["sft", "--model", "vllm:Qwen/Qwen2.5-7B"], "--model 'vllm:Qwen/Qwen2.5-7B': this step loads transformers"),
        (["dpo", "--model", "openai:http://127.0.0.1:1/v1#m"], "openai: names another backend"),
        (["sft", "--lr", "0"], "--lr must be a positive number"),
        (["sft", "--epochs", "-1"], "--epochs must be a positive number"),
        (["sft", "--warmup-ratio", "2"], "--warmup-ratio must be in [0, 1]"),
        (["dpo", "--beta", "0"], "--beta must be a positive number"),
        (["sft", "--max-steps", "0"], "--max-steps must be at least 1"),
        (["export", "--max-len", "0"], "--max-len must be at least 1"),
    ],
)
def test_bad_flags_are_clear_errors(tmp_path, capsys, args, message):
    step, *rest = args
    base = {
        "prepare": ["--data", "x.jsonl", "--out", tmp_path / "p.jsonl"],
        "generate-reasons": ["--data", "x.jsonl", "--teacher", "scripted:random", "--out", tmp_path / "r"],
        "score-reasons": ["--data", "x.jsonl", "--reasons", "r", "--student", "scripted:random", "--out", tmp_path],
        "dpo-data": ["--data", "x.jsonl", "--model", "scripted:random", "--out", tmp_path / "d"],
        "sft": ["--data", "x.jsonl", "--out", tmp_path / "c"],
        "dpo": ["--data", "x.jsonl", "--out", tmp_path / "c"],
        "export": ["--template", "chatml", "--out", tmp_path / "e"],
    }[step]
    if step in ("sft", "dpo") and "--model" not in rest:
        base = [*base, "--model", "m"]
    err = cli_error(capsys, "train", step, *base, *rest)
    assert message in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "d").exists()  # refused before any journal opened

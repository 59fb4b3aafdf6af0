"""The whole training pipeline for real on CPU, through the CLI: prepare -> generate-reasons -> score-reasons -> sft
-> dpo-data -> dpo -> export -> pairwise (two-phase judge) -> rescore, on a tiny random-weight Qwen2 model with a
small byte-level BPE tokenizer learned from the fixture (a small vocabulary keeps the CPU steps fast).

The teacher is the scripted `marker` backend, shown the judge prompts with the correct answer marked GOOD (a
stand-in for "the teacher is told the verdict"): its reasons end with the right verdict, so the student, which
never sees the mark, learns to follow its reason -- and its on-policy reasons then come out right and wrong, which
is what DPO pairs need.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import read_jsonl
from rrm_eval.training import read_marker
from rrm_eval.training._tiny import make_random_model, train_small_tokenizer

from rrm_eval.cli import main
from rrm_eval.judges import load_judge

pytestmark = pytest.mark.train
pytest.importorskip("trl")

FIXTURE = Path(__file__).parent / "fixtures" / "skywork" / "pairs.jsonl"
SCRIPTED_REASON = "<think>\nScripted reasoning.\n</think>\n\\boxed{Assistant 1} [[A]] \\boxed{Assistant 2} [[B]]"


def cli(capsys, *args: str) -> str:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def cli_error(capsys, *args: str) -> str:
    assert main([str(a) for a in args]) == 2
    return capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    rows = read_jsonl(FIXTURE)
    texts = [m["content"] for r in rows for m in r["chosen"] + r["rejected"]]
    tok = train_small_tokenizer([*texts, load_judge("skywork-critic").user, SCRIPTED_REASON] * 2, "chatml", 1024)
    return make_random_model(tmp_path_factory.mktemp("model") / "tiny", tokenizer=tok)


def mark_good(prepared: Path, out: Path) -> None:
    """The teacher's view: the correct answer of every judge prompt starts with GOOD."""
    with out.open("w") as fh:
        for r in read_jsonl(prepared):
            side = "A" if r["target"] == "[[A]]" else "B"
            start = f"[The Start of Assistant {side}'s Answer]\n"
            r["messages"][-1]["content"] = r["messages"][-1]["content"].replace(start, start + "GOOD ")
            fh.write(json.dumps(r) + "\n")


def test_pipeline_end_to_end(tmp_path, tiny, capsys):
    w = tmp_path
    out = cli(capsys, "train", "prepare", "--data", FIXTURE, "--out", w / "prep.jsonl", "--seed", "1")
    assert "pairs_kept: 30" in out and '"identical_answers": 1' in out
    mark_good(w / "prep.jsonl", w / "teacher_view.jsonl")
    cli(capsys, "train", "generate-reasons", "--data", w / "teacher_view.jsonl", "--teacher", "scripted:marker",
        "--k", "2", "--out", w / "reasons", "--quiet")  # fmt: skip

    # score-reasons: a random student prefers nothing, so the released formula's cut drops everything ...
    out = cli(capsys, "train", "score-reasons", "--data", w / "prep.jsonl", "--reasons", w / "reasons",
              "--student", f"hf:{tiny}", "--template", "chatml", "--out", w / "scored", "--quiet")  # fmt: skip
    assert "rows_kept: 0" in out and '"below_threshold": 30' in out
    # ... and the README formula keeps every prompt's best reason, re-selected from the journal without scoring again
    out = cli(capsys, "train", "score-reasons", "--data", w / "prep.jsonl", "--reasons", w / "reasons",
              "--student", f"hf:{tiny}", "--template", "chatml", "--out", w / "scored", "--quiet",
              "--formula", "readme", "--verdict-span", "letter")  # fmt: skip
    assert "rows_kept: 30" in out
    sft_rows = read_jsonl(w / "scored" / "sft.jsonl")
    assert all(0 < r["p_reason"] < 1 and 0 < r["p_answer"] < 1 for r in sft_rows)
    assert all(r["response"] in r["reason"] for r in sft_rows)  # the marker teacher wrote the right verdict
    stats = json.loads((w / "scored" / "sft.stats.json").read_text())
    assert stats["selection"]["formula"] == "readme" and stats["selection"]["verdict_span"] == "letter"
    assert len(read_jsonl(w / "scored" / "records.jsonl")) == 60
    assert json.loads((w / "scored" / "run_stats.json").read_text())["records_written"] == 0  # re-selected only

    # SFT (recipe schedule and loss reduction; lr and batch scaled to the toy data)
    cli(capsys, "train", "sft", "--data", w / "scored" / "sft.jsonl", "--model", tiny, "--out", w / "sft",
        "--lr", "1e-2", "--epochs", "12", "--global-batch", "8", "--micro-batch", "8")  # fmt: skip
    marker = read_marker(str(w / "sft"), want="reason")
    losses = [h["loss"] for h in marker["loss_history"]]
    assert marker["mode"] == "reasongenrm" and marker["layout"] == "chatml" and len(losses) >= 40
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5  # training loss decreases
    assert marker["recipe"]["loss_reduction"] == "sample" and marker["recipe"]["min_lr_ratio"] == 0.1
    assert "rrm-eval reason template" in (w / "sft" / "chat_template.jinja").read_text()

    # on-policy DPO data and reasoning-only DPO
    out = cli(capsys, "train", "dpo-data", "--data", w / "prep.jsonl", "--model", w / "sft", "--k", "6",
              "--max-new-tokens", "32", "--out", w / "dpo-data", "--quiet")  # fmt: skip
    pairs = read_jsonl(w / "dpo-data" / "dpo.jsonl")
    assert pairs, out
    for p in pairs:
        assert p["chosen"]["verdict"] == p["target"] and p["rejected"]["verdict"] != p["target"]
        assert p["n_correct"] >= 1 and p["n_incorrect"] >= 1 and p["chosen"]["reason"] and p["rejected"]["reason"]
    # full batch (global = micro = 32 >= pairs): one step per epoch, so the loss trend is not batch noise
    cli(capsys, "train", "dpo", "--data", w / "dpo-data" / "dpo.jsonl", "--model", w / "sft", "--out", w / "dpo",
        "--lr", "1e-3", "--epochs", "8", "--global-batch", "32", "--micro-batch", "32")  # fmt: skip
    dpo_marker = read_marker(str(w / "dpo"), want="reason")
    hist = dpo_marker["loss_history"]
    assert dpo_marker["recipe"]["beta"] == 0.1 and hist[0]["loss"] == pytest.approx(0.6931, abs=1e-3)
    assert hist[-1]["loss"] < hist[0]["loss"] and hist[-1]["rewards/margins"] > 0

    out = cli(capsys, "train", "export", "--sft", w / "scored" / "sft.jsonl", "--dpo", w / "dpo-data" / "dpo.jsonl",
              "--model", tiny, "--sft-model", w / "sft", "--out", w / "export")  # fmt: skip
    assert "openrlhf.cli.train_sft" in out and len(read_jsonl(w / "export" / "openrlhf_dpo.jsonl")) == len(pairs)

    # every checkpoint loads back as a judge: two-phase generation, records re-scorable offline
    rb = w / "rb.jsonl"
    with rb.open("w") as fh:
        for i, r in enumerate(read_jsonl(FIXTURE)[:6]):
            row = {"id": i, "subset": "alpacaeval-easy", "prompt": r["chosen"][0]["content"],
                   "chosen": r["chosen"][-1]["content"], "rejected": r["rejected"][-1]["content"]}  # fmt: skip
            fh.write(json.dumps(row) + "\n")
    for ckpt in ("sft", "dpo"):
        run = w / f"run-{ckpt}"
        cli(capsys, "pairwise", "--model", f"hf:{w / ckpt}", "--judge", "reasongenrm", "--dataset", "rewardbench",
            "--data", rb, "--max-new-tokens", "48", "--run-dir", run, "--quiet")  # fmt: skip
        records = read_jsonl(run / "records.jsonl")
        assert len(records) == 6
        two_phase = [r for r in records if r["meta"].get("reason_phase") == 2]
        assert two_phase, records
        for r in two_phase:
            assert "<|im_end|>\n<|im_start|>assistant\n" in r["raw"]
            assert r["raw"].endswith(r["meta"]["verdict_text"])
        summary = json.loads((run / "summary.json").read_text())
        cli(capsys, "rescore", run, "--output", w / "rescored.json")
        rescored = json.loads((w / "rescored.json").read_text())
        assert rescored["accuracy"] == summary["accuracy"] and rescored["records"] == summary["records"]

    # bad input: a model without the reason template is refused with a clear message
    err = cli_error(capsys, "pairwise", "--model", f"hf:{tiny}", "--judge", "reasongenrm", "--dataset", "rewardbench",
                    "--data", rb, "--run-dir", w / "bad", "--quiet")  # fmt: skip
    assert "no chat template" in err and "rrm-eval train sft" in err
    err = cli_error(capsys, "train", "dpo-data", "--data", w / "prep.jsonl", "--model", tiny, "--out", w / "x")
    assert "--model" in err and "rrm_training.json" in err
    err = cli_error(capsys, "train", "dpo", "--data", w / "dpo-data" / "dpo.jsonl", "--model", tiny, "--out", w / "y")
    assert "not a checkpoint saved by" in err

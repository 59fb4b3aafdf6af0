"""RewardBench 2 end to end on the bundled 44 real rows: the three ways to play, resume, seeded slots, bad rows."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, cli, read_jsonl, write_jsonl

import rrm_eval
from rrm_eval import BestOfConfig, BestOfRunConfig, TaskOptions
from rrm_eval.models import Model
from rrm_eval.models._scripted import ScriptedDriver
from rrm_eval.protocols._bestof import listwise_permutation

SAMPLE2 = REPO / "rrm_eval" / "tasks" / "data" / "rewardbench2_sample.jsonl"
ROWS = read_jsonl(SAMPLE2)
CORRECT = {r["prompt"].strip(): {c.strip() for c in r["chosen"]} for r in ROWS}  # per prompt: Ties rows share texts


def _correct(prompt: str) -> set[str]:
    return next(v for q, v in CORRECT.items() if q in prompt)


def _body(prompt: str, start: str, end: str) -> str:
    return prompt.split(start, 1)[1].split(end, 1)[0].strip()


def oracle(prompt: str, sample: int, seed: int) -> str:
    """A judge that knows the answers: the slot / rating / side of a correct completion."""
    correct = _correct(prompt)
    if "## Candidate responses" in prompt:
        for k in range(1, 5):
            text = _body(prompt, f"### Response {k}\n\n", f"\n\n(end of response {k})")
            if text in correct:
                return f"Response {k} is right. [[{k}]]"
        return "[[9]]"
    if "## Your rating" in prompt:
        text = _body(prompt, "## Response\n\n", "\n\n## Your rating")
        return "Rating: 9" if text in correct else "Rating: 3"
    first = _body(prompt, "[The Start of Assistant A's Answer]", "[The End of Assistant A's Answer]")
    return "[[A]]" if first in correct else "[[B]]"


def _cfg(tmp_path: Path, mode: str, **kw) -> BestOfRunConfig:
    return BestOfRunConfig(
        model="scripted:custom",
        judge=kw.pop("judge", "skywork-critic" if mode == "knockout" else None),
        task="rewardbench2-sample",
        task_options=kw.pop("task_options", TaskOptions()),
        protocol=BestOfConfig(mode=mode, seed=kw.pop("seed", 0)),
        output_dir=str(tmp_path / "runs"),
        **kw,
    )


def _model(respond=oracle) -> Model:
    return Model(ScriptedDriver("custom", respond=respond))


@pytest.mark.parametrize("mode", ["listwise", "ratings", "knockout"])
def test_oracle_judge_scores_full_marks_in_every_mode(tmp_path, mode):
    out = rrm_eval.evaluate_bestof(_cfg(tmp_path, mode), model=_model())
    s = out.summary
    assert set(s["subsets"]) == {"Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties"}
    assert s["records"]["failures"] == {}
    for name, sub in s["subsets"].items():
        # Ties: every correct rated 9, every incorrect 3: spread 0 everywhere, so the tanh mean is over no prompt id
        # (reward-bench's rule) and the score is 1.00
        assert sub["score"] == pytest.approx(1.0), name
    assert s["scores"]["overall"] == pytest.approx(1.0)
    results = json.loads((out.run_dir / "results.json").read_text())
    assert results["model_type"] == "Generative RM" and results["Ties"] == pytest.approx(1.0)
    records = read_jsonl(out.run_dir / "records.jsonl")
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys))
    ties_calls = sum(len(r["chosen"]) + len(r["rejected"]) for r in ROWS if r["subset"] == "Ties")
    judged = [r for r in records if r.get("kind") == "judge" and r["subset"] != "Ties"]
    per_item = {"listwise": 1, "ratings": 4, "knockout": 3}[mode]
    assert len(judged) == 29 * per_item  # the knockout path: 3 calls per item
    assert sum(1 for r in records if r.get("kind") == "judge" and r["subset"] == "Ties") == ties_calls


def test_a_judge_that_always_picks_slot_1_scores_the_chosen_slot_rate(tmp_path):
    out = rrm_eval.evaluate_bestof(_cfg(tmp_path, "listwise"), model=_model(lambda p, s, seed: "[[1]]"))
    rows = [r for r in ROWS if r["subset"] != "Ties"]
    hits = sum(listwise_permutation(0, str(r["id"]), 4)[0] == 0 for r in rows)
    mean = sum(v["score"] for k, v in out.summary["subsets"].items() if k != "Ties")
    assert out.summary["n_items"] == 44 and hits < len(rows)
    assert (
        sum(out.summary["item_scores"][k][i] for k in out.summary["item_scores"] for i in out.summary["item_scores"][k])
        == hits
    )
    assert mean >= 0


def test_listwise_failures_follow_the_policy(tmp_path):
    out = rrm_eval.evaluate_bestof(_cfg(tmp_path, "listwise"), model=_model(lambda p, s, seed: "[[1]] or [[2]]"))
    assert out.summary["subsets"]["Math"]["score"] == pytest.approx(0.25)
    wrong = rrm_eval.rescore_bestof(out.run_dir, policy="wrong")
    assert wrong["subsets"]["Math"]["score"] == 0.0
    records = read_jsonl(out.run_dir / "records.jsonl")
    assert sum(r["failure"] == "ambiguous" for r in records if r["subset"] != "Ties") == 29


def test_ratings_ties_share_the_credit(tmp_path):
    out = rrm_eval.evaluate_bestof(_cfg(tmp_path, "ratings"), model=_model(lambda p, s, seed: "Rating: 5"))
    assert out.summary["subsets"]["Math"]["score"] == pytest.approx(0.25)


def test_the_listwise_slot_is_seeded_across_processes_and_seeds():
    code = (
        "from rrm_eval.protocols._bestof import listwise_permutation as p; print([p(0, str(i), 4) for i in range(20)])"
    )
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert runs == {str([listwise_permutation(0, str(i), 4) for i in range(20)]) + "\n"}
    slots0 = [listwise_permutation(0, str(i), 4).index(0) for i in range(40)]
    slots1 = [listwise_permutation(1, str(i), 4).index(0) for i in range(40)]
    assert slots0 != slots1 and set(slots0) == {0, 1, 2, 3}


def test_resume_after_a_torn_write_has_no_duplicate_keys(tmp_path):
    cfg = _cfg(tmp_path, "knockout")
    full = rrm_eval.evaluate_bestof(cfg, model=_model())
    path = full.run_dir / "records.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[: len(lines) // 2]) + lines[len(lines) // 2][:10])
    again = rrm_eval.evaluate_bestof(cfg, model=_model())
    keys = [r["key"] for r in read_jsonl(path)]
    assert len(keys) == len(set(keys)) == len(lines)
    assert again.summary["subsets"] == full.summary["subsets"] and again.written > 0
    assert rrm_eval.evaluate_bestof(cfg, model=_model()).written == 0


def test_a_rating_judge_is_refused_by_the_pairwise_protocol(tmp_path, marked_pairs):
    res = cli("pairwise", "--dataset", "rewardbench", "--data", str(marked_pairs), "--model", "scripted:first",
              "--judge", "rb2-ratings", "--output-dir", str(tmp_path), "--quiet")  # fmt: skip
    assert res.returncode == 2 and "rrm-eval bestof" in res.stderr and "Traceback" not in res.stderr
    res = cli("pairwise", "--dataset", "rewardbench2", "--model", "scripted:first", "--quiet")
    assert res.returncode == 2 and "rrm-eval bestof --dataset rewardbench2" in res.stderr


def _bad(rows: list[dict], tmp_path: Path, edit) -> Path:
    rows = [dict(r) for r in rows]
    edit(rows)
    return write_jsonl(tmp_path / "bad.jsonl", rows)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda rows: rows[0].update(rejected=rows[0]["rejected"][:2], total_completions=3), "best-of-4"),
        (lambda rows: rows[0].update(num_correct=2), "num_correct"),
        (lambda rows: rows[0].update(chosen="just text"), "chosen"),
        (lambda rows: rows[0].update(subset="ties"), "subsets are matched exactly"),
        (lambda rows: rows[-1].update(id="pair:50"), "ref:<prompt id>"),
        (
            lambda rows: rows[-2].update(num_correct=1, chosen=rows[-2]["chosen"][:1], total_completions=None),
            "two correct",
        ),
    ],
)
def test_bad_rows_exit_2_naming_the_row(tmp_path, edit, needle):
    path = _bad(ROWS, tmp_path, edit)
    res = cli("bestof", "--dataset", "rewardbench2", "--data", str(path), "--model", "scripted:first", "--quiet",
              "--output-dir", str(tmp_path / "runs"))  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert needle in res.stderr and re.search(r"row \S+", res.stderr), res.stderr


def test_cli_prints_the_official_and_micro_scores(tmp_path):
    res = cli("bestof", "--rb2-mode", "ratings", "--model", "scripted:first", "--quiet", "--subsets", "Math,Ties",
              "--output-dir", str(tmp_path))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "official overall" in res.stdout and "micro" in res.stdout and "partial" in res.stdout


@pytest.mark.slow
def test_embedded_smollm2_on_two_items(tmp_path):
    """The real embedded model, ratings mode, two Math items (8 short calls): every call is journaled and typed."""
    cfg = BestOfRunConfig(
        model="smollm2",
        task="rewardbench2-sample",
        task_options=TaskOptions(subsets=("Math",), limit=2),
        protocol=BestOfConfig(mode="ratings", max_new_tokens=8),
        output_dir=str(tmp_path / "runs"),
    )
    out = rrm_eval.evaluate_bestof(cfg)
    records = read_jsonl(out.run_dir / "records.jsonl")
    assert len(records) == 8 and all(r["verdict"] is not None or r["failure"] for r in records)
    assert out.summary["subsets"]["Math"]["n"] == 2 and 0.0 <= out.summary["subsets"]["Math"]["score"] <= 1.0

"""RM-Bench: 9 items per prompt, the easy/normal/hard split, the official table and its variants, bad rows."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import pytest
from helpers import cli, only_run, read_jsonl, summary_of

from rrm_eval import PairwiseConfig, PairwiseRunConfig, TaskOptions, evaluate_pairwise
from rrm_eval.models import Model
from rrm_eval.models._scripted import ScriptedDriver
from rrm_eval.tasks import get_task
from rrm_eval.tasks._rmbench import DIFFICULTY_MEAN, OFFICIAL, POOLED, difficulty, rmbench_scores

FIX = Path(__file__).parent / "fixtures" / "rmbench"
TWO = FIX / "two_prompts.json"
FULL = FIX / "total_dataset.json"

#: Whether the scripted judge is right on cell (chosen style i, rejected style j) of each prompt of TWO.
#: P1 (chat): right everywhere except the hard cells c0r1 and c0r2 -> easy 3/3, normal 3/3, hard 1/3.
#: P2 (safety-response): wrong on c2r0, right on c0r0 only among the diagonal, wrong on every hard cell
#: -> easy 2/3, normal 1/3, hard 0/3.
RIGHT = {
    "P1": {(0, 0), (1, 1), (2, 2), (1, 0), (2, 0), (2, 1), (1, 2)},
    "P2": {(1, 0), (2, 1), (0, 0)},
}
_TAG = re.compile(r"\[(P\d)-([CR])(\d)\]")


def scripted_judge(prompt: str, sample: int, seed: int) -> str:
    """Answer from RIGHT, whatever order the pair is shown in: find the two tagged responses in the prompt."""
    (p, k1, s1), (_, _k2, s2) = _TAG.findall(prompt)
    chosen_first = k1 == "C"
    i, j = (int(s1), int(s2)) if chosen_first else (int(s2), int(s1))
    right = (i, j) in RIGHT[p]
    pick = 1 if chosen_first == right else 2
    return f"<think>\ncell c{i}r{j}\n</think>\n\\boxed{{Assistant {pick}}}"


def run_two(tmp_path: Path, **protocol) -> tuple[dict, ScriptedDriver]:
    driver = ScriptedDriver("custom", respond=scripted_judge)
    cfg = PairwiseRunConfig(
        model="scripted:custom",
        judge="rrm",
        task="rm-bench",
        task_options=TaskOptions(data=str(TWO)),
        protocol=PairwiseConfig(**protocol),
        run_dir=str(tmp_path / "run"),
    )
    return evaluate_pairwise(cfg, model=Model(driver)).summary, driver


def test_difficulty_of_each_cell():
    assert [[difficulty(i, j) for j in range(3)] for i in range(3)] == [
        ["normal", "hard", "hard"],
        ["easy", "normal", "hard"],
        ["easy", "easy", "normal"],
    ]


def test_nine_items_per_prompt_with_ids_subsets_and_meta():
    loaded = get_task("rm-bench").load(TaskOptions(data=str(TWO)))
    assert len(loaded.items) == 18
    first = loaded.items[:9]
    assert [i.id for i in first] == [f"chat/17|c{i}r{j}" for i in range(3) for j in range(3)]
    c2r0 = first[6]
    assert c2r0.subset == "chat/easy" and "[P1-C2]" in c2r0.chosen and "[P1-R0]" in c2r0.rejected
    assert c2r0.meta == {
        "rmbench_prompt": "chat/17",
        "chosen_style": "detailed_markdown",
        "rejected_style": "concise",
        "difficulty": "easy",
    }
    assert first[1].subset == "chat/hard" and loaded.items[9].subset == "safety-response/normal"


def test_hand_computed_scores_on_two_prompts(tmp_path):
    summary, driver = run_two(tmp_path)
    assert driver.calls == 18  # 9 judge calls per prompt, one seeded order each
    records = read_jsonl(tmp_path / "run" / "records.jsonl")
    assert {r["order"] for r in records} == {"AB", "BA"}  # the seeded coin really varies the order
    sub = summary["subsets"]
    assert sub["chat/easy"]["accuracy"] == 1.0 and sub["chat/hard"]["accuracy"] == pytest.approx(1 / 3)
    assert sub["safety-response/easy"]["accuracy"] == pytest.approx(2 / 3)
    assert sub["safety-response/normal"]["accuracy"] == pytest.approx(1 / 3)
    assert sub["safety-response/hard"]["accuracy"] == 0.0
    s = summary["scores"]
    chat, safety = Fraction(7, 9), Fraction(1, 3)  # (1 + 1 + 1/3) / 3 and (2/3 + 1/3 + 0) / 3
    expected = {
        "Chat": chat,
        "Safety": safety,
        "Easy": Fraction(5, 6),  # (1 + 2/3) / 2
        "Normal": Fraction(2, 3),  # (1 + 1/3) / 2
        "Hard": Fraction(1, 6),  # (1/3 + 0) / 2
    }
    assert s["sections"] == pytest.approx({k: float(v) for k, v in expected.items()})
    assert s["overall"] == pytest.approx(float((chat + safety) / 2)) == pytest.approx(5 / 9)
    assert s["variants"][DIFFICULTY_MEAN] == pytest.approx(5 / 9)  # the identity holds on complete sections
    assert s["variants"][POOLED] == pytest.approx(10 / 18)  # 7 + 3 of 18 comparisons
    assert s["incomplete_sections"] == ["Code", "Math"]


def test_order_both_doubles_the_calls(tmp_path):
    summary, driver = run_two(tmp_path, order="both")
    assert driver.calls == 36
    assert summary["scores"]["overall"] == pytest.approx(5 / 9)  # this judge is order-blind


def test_safety_pools_its_two_domains_by_count_and_variants_differ():
    acc = {
        "chat/easy": 1.0,
        "chat/normal": 1.0,
        "chat/hard": 0.0,
        "math/easy": 0.5,
        "math/normal": 0.5,
        "math/hard": 0.5,
        "safety-refuse/easy": 1.0,
        "safety-refuse/normal": 1.0,
        "safety-refuse/hard": 1.0,
        "safety-response/easy": 0.5,
        "safety-response/normal": 0.5,
        "safety-response/hard": 0.0,
    }
    counts = {s: 3 for s in acc} | {f"math/{k}": 6 for k in ("easy", "normal", "hard")}
    counts |= {f"safety-response/{k}": 6 for k in ("easy", "normal", "hard")}
    s = rmbench_scores(acc, counts)
    # Safety by difficulty: (3*1 + 6*0.5) / 9 = 2/3, 2/3, (3*1 + 6*0) / 9 = 1/3 -> Safety = 5/9 (not the mean of
    # the two domains' means, which would be (1 + 1/3) / 2 = 2/3).
    assert s["sections"]["Safety"] == pytest.approx(5 / 9)
    assert s["sections"]["Chat"] == pytest.approx(2 / 3) and s["sections"]["Math"] == pytest.approx(0.5)
    overall = (2 / 3 + 0.5 + 5 / 9) / 3
    assert s["overall"] == pytest.approx(overall) == pytest.approx(s["variants"][OFFICIAL])
    assert s["sections"]["Easy"] == pytest.approx((1 + 0.5 + 2 / 3) / 3)
    assert s["sections"]["Hard"] == pytest.approx((0 + 0.5 + 1 / 3) / 3)
    assert s["variants"][DIFFICULTY_MEAN] == pytest.approx(overall)  # identity: every section has all three
    # micro: correct comparisons over all 54 (9 + 18 + 9 + 18): chat 6, math 9, refuse 9, response 6 -> 30/54,
    # while the official figure is 31/54
    assert s["variants"][POOLED] == pytest.approx(30 / 54) and overall == pytest.approx(31 / 54)
    # the README's pooled difficulty averages weigh domains by prompts: easy = (3 + 3 + 3 + 3) / 18
    assert s["difficulty_pooled"]["Easy"] == pytest.approx(12 / 18)
    assert s["difficulty_pooled"]["Hard"] == pytest.approx(6 / 18)
    assert s["variants"][POOLED] != pytest.approx(overall)
    assert "incomplete_sections" in s  # no code


def test_identity_breaks_when_a_cell_is_missing():
    acc, counts = (
        {"chat/easy": 1.0, "chat/hard": 0.0, "code/easy": 0.5},
        {"chat/easy": 3, "chat/hard": 3, "code/easy": 3},
    )
    s = rmbench_scores(acc, counts)
    assert s["overall"] == pytest.approx(0.5)  # Chat (1 + 0) / 2, Code 0.5
    assert s["variants"][DIFFICULTY_MEAN] == pytest.approx((0.75 + 0.0) / 2)  # Easy (1 + .5) / 2, Hard 0
    assert s["incomplete_sections"] == ["Chat", "Code", "Math", "Safety"]


def test_subsets_by_domain_or_difficulty():
    task = get_task("rm-bench")
    items = task.load(TaskOptions(data=str(FULL), subsets=("math",))).items
    assert len(items) == 18 and {i.subset for i in items} == {"math/easy", "math/normal", "math/hard"}
    hard = task.load(TaskOptions(data=str(FULL), subsets=("hard",))).items
    assert len(hard) == 18 and all(i.meta["difficulty"] == "hard" for i in hard)


def test_cli_marker_judge_scores_every_view_perfectly(tmp_path):
    res = cli(
        "pairwise",
        "--dataset",
        "rm-bench",
        "--data",
        FULL,
        "--model",
        "scripted:marker",
        "--judge",
        "rrm",
        "--output-dir",
        tmp_path,
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    s = summary_of(only_run(tmp_path))
    assert s["n_items"] == 54 and s["accuracy"] == 1.0
    assert s["scores"]["overall"] == 1.0 and "incomplete_sections" not in s["scores"]
    assert set(s["scores"]["sections"]) == {"Chat", "Code", "Math", "Safety", "Easy", "Normal", "Hard"}
    assert set(s["scores"]["variants"].values()) == {1.0}
    for column in ("Chat", "Safety", "Hard"):
        assert column in res.stdout


@pytest.mark.slow
def test_embedded_model_logprob(tmp_path):
    res = cli(
        "pairwise",
        "--dataset",
        "rm-bench",
        "--data",
        TWO,
        "--model",
        "smollm2",
        "--judge",
        "logprob",
        "--limit",
        "2",
        "--run-dir",
        tmp_path / "run",
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    records = read_jsonl(tmp_path / "run" / "records.jsonl")
    assert [r["item_id"] for r in records] == ["chat/17|c0r0", "chat/17|c0r1"]
    assert all(r["failure"] is None and len(r["logprobs"]) == 2 for r in records)
    s = summary_of(tmp_path / "run")
    assert set(s["subsets"]) == {"chat/normal", "chat/hard"} and s["scores"]["incomplete_sections"]


def _row(**over):
    row = json.loads(TWO.read_text())[0]
    row.update(over)
    return row


BAD_ROWS = [
    ("two-styles", [_row(chosen=["a", "b"])], "row chat/17: field 'chosen': expected exactly 3 responses"),
    (
        "four-styles",
        [_row(rejected=["a", "b", "c", "d"])],
        "field 'rejected': expected exactly 3 responses (concise, detailed_plain, detailed_markdown), got 4",
    ),
    ("string-not-list", [_row(chosen="one answer")], "field 'chosen': expected a list of 3 responses"),
    ("empty-style", [_row(rejected=["a", " ", "c"])], "field 'rejected[1]': empty (detailed_plain response)"),
    ("number-style", [_row(chosen=["a", 2, "c"])], "field 'chosen[1]': expected text, got int"),
    ("unknown-domain", [_row(domain="safety")], "field 'domain': unknown domain 'safety'"),
    ("duplicate-id", [_row(), _row()], "row chat/17: field 'id': duplicate id"),
    ("missing-id", [_row(id=None)], "row #0: field 'id': missing"),
    ("missing-prompt", [_row(prompt=None)], "field 'prompt': missing"),
]


@pytest.mark.parametrize("case,rows,fragment", BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_bad_rows_exit_2_naming_the_row(tmp_path, case, rows, fragment):
    data = tmp_path / "bad.json"
    data.write_text(json.dumps(rows))
    res = cli(
        "pairwise",
        "--dataset",
        "rm-bench",
        "--data",
        data,
        "--model",
        "scripted:marker",
        "--output-dir",
        tmp_path / "runs",
        "--quiet",
    )
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "error:" in res.stderr and "hint:" in res.stderr and fragment in res.stderr, res.stderr
    assert not (tmp_path / "runs").exists()  # refused before any run directory or model


def test_skip_bad_rows_counts_what_it_drops(tmp_path):
    rows = [*json.loads(TWO.read_text()), _row(id="x", chosen=["a"]), _row(id="y", domain="poetry")]
    data = tmp_path / "mixed.json"
    data.write_text(json.dumps(rows))
    loaded = get_task("rm-bench").load(TaskOptions(data=str(data), skip_bad_rows=True))
    assert len(loaded.items) == 18 and sum(loaded.dropped.values()) == 2


def test_no_hub_no_data_says_to_pass_data(monkeypatch):
    from rrm_eval._errors import RRMError
    from rrm_eval.tasks import _rmbench

    def offline(name, split):
        raise RRMError(f"cannot load {name!r}", hint="download it elsewhere and pass --data PATH")

    monkeypatch.setattr(_rmbench, "load_hub", offline)
    with pytest.raises(RRMError, match="THU-KEG/RM-Bench") as exc:
        get_task("rm-bench").load(TaskOptions())
    assert "--data" in (exc.value.hint or "")

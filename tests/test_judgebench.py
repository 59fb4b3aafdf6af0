"""JudgeBench: categories from sources, both orders summed per pair (+1 / 0 / -1), pooled vs macro, bad rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import cli, only_run, read_jsonl, summary_of, write_jsonl

from rrm_eval import PairwiseConfig, PairwiseRunConfig, TaskOptions, evaluate_pairwise
from rrm_eval._errors import RRMError
from rrm_eval.models import Model
from rrm_eval.models._scripted import ScriptedDriver
from rrm_eval.scoring import ITEM_RULES
from rrm_eval.tasks import PairwiseTask, get_task
from rrm_eval.tasks._judgebench import MACRO, OFFICIAL, category_of, judgebench_scores

FIX = Path(__file__).parent / "fixtures" / "judgebench"
GPT = FIX / "dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl"
CLAUDE = FIX / "dataset=judgebench,response_model=claude-3-5-sonnet-20240620.jsonl"

#: What the scripted judge says for each pair of GPT, per order: AB = better response shown first, BA = second.
#: "good" names the better response, "bad" the worse, "tie" is [[C]], "junk" has no verdict.
SCRIPT = {
    "p1": ("good", "good"),  # Knowledge: consistent and right -> correct
    "p2": ("good", "tie"),  # Knowledge: right + tie -> +1 + 0 > 0 -> correct
    "p9": ("good", "good"),  # Knowledge -> correct
    "p3": ("tie", "tie"),  # Reasoning: 0 + 0 -> not correct
    "p4": ("good", "bad"),  # Reasoning: the same position both times (inconsistent): +1 - 1 -> not correct
    "p5": ("bad", "tie"),  # Math: -1 + 0 -> not correct
    "p6": ("good", "junk"),  # Math: +1 + policy (tie: 0 -> correct; wrong: -1 -> not)
    "p7": ("bad", "bad"),  # Coding -> not correct
    "p8": ("good", "good"),  # Coding -> correct
}
_TAG = re.compile(r"<<(\w+)-(good|bad)>>")


def scripted_judge(prompt: str, sample: int, seed: int) -> str:
    (pair, first), _ = _TAG.findall(prompt)
    ab = first == "good"
    say = SCRIPT[pair][0 if ab else 1]
    if say == "tie":
        return "They are equally good. [[C]]"
    if say == "junk":
        return "I cannot decide between them."
    good_position_is_a = ab
    return "Verdict: [[A]]" if (say == "good") == good_position_is_a else "Verdict: [[B]]"


def run_scripted(tmp_path: Path, policy: str = "tie", name: str = "run") -> tuple[dict, ScriptedDriver]:
    driver = ScriptedDriver("custom", respond=scripted_judge)
    cfg = PairwiseRunConfig(
        model="scripted:custom",
        judge="mt-bench",  # its parser reads [[C]] as a tie
        task="judgebench",
        task_options=TaskOptions(data=str(GPT)),
        protocol=PairwiseConfig(order="both"),
        failure_policy=policy,
        run_dir=str(tmp_path / name),
    )
    return evaluate_pairwise(cfg, model=Model(driver)).summary, driver


# -- the item rule ------------------------------------------------------------------------------------------------
RULE_CASES = [
    ("both right", {"AB": 1.0, "BA": 1.0}, 1.0),
    ("right + tie", {"AB": 1.0, "BA": 0.5}, 1.0),
    ("tie + right", {"AB": 0.5, "BA": 1.0}, 1.0),
    ("tie + tie", {"AB": 0.5, "BA": 0.5}, 0.0),
    ("inconsistent", {"AB": 1.0, "BA": 0.0}, 0.0),
    ("wrong + tie", {"AB": 0.0, "BA": 0.5}, 0.0),
    ("both wrong", {"AB": 0.0, "BA": 0.0}, 0.0),
    ("single game right", {"AB": 1.0}, 1.0),
    ("single game tie", {"BA": 0.5}, 0.0),
]


@pytest.mark.parametrize("case,presentations,expected", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_item_rule(case, presentations, expected):
    assert ITEM_RULES["judgebench"](presentations, {}) == expected


def test_category_mapping_from_official_sources():
    assert category_of("mmlu-pro-math") == "Knowledge"  # an MMLU-Pro subject, not the Math category
    assert category_of("mmlu-pro-computer science") == "Knowledge"
    assert category_of("livebench-reasoning") == "Reasoning"
    assert category_of("livebench-math") == "Math"
    assert category_of("livecodebench") == "Coding"
    assert category_of("livebench-coding") is None and category_of("mmlu-pro-") is None


def test_items_take_the_better_response_as_chosen():
    items = {i.id: i for i in get_task("judgebench").load(TaskOptions(data=str(GPT))).items}
    assert len(items) == 9
    p2 = items["p2"]  # label B>A
    assert "<<p2-good>>" in p2.chosen and "<<p2-bad>>" in p2.rejected and p2.subset == "Knowledge"
    assert p2.meta["label"] == "B>A" and p2.meta["chosen_is"] == "response_B" and p2.meta["source"] == "mmlu-pro-math"


# -- scores from both orders --------------------------------------------------------------------------------------
def test_hand_computed_scores_tie_policy(tmp_path):
    summary, driver = run_scripted(tmp_path)
    assert driver.calls == 18  # both orders of 9 pairs
    s = summary["scores"]
    assert s["sections"] == pytest.approx({"Knowledge": 1.0, "Reasoning": 0.0, "Math": 0.5, "Coding": 0.5})
    assert s["overall"] == pytest.approx(5 / 9)  # p1 p2 p9 p6 p8 of 9, pooled
    assert s["variants"][OFFICIAL] == pytest.approx(5 / 9)
    assert s["variants"][MACRO] == pytest.approx(0.5)  # (1 + 0 + 0.5 + 0.5) / 4
    assert "incomplete_sections" not in s
    records = read_jsonl(tmp_path / "run" / "records.jsonl")
    assert sum(1 for r in records if r["verdict"] == "tie") == 4 and summary["records"]["failures"] == {"no_verdict": 1}


def test_hand_computed_scores_wrong_policy(tmp_path):
    summary, _ = run_scripted(tmp_path, policy="wrong")
    s = summary["scores"]
    assert s["sections"]["Math"] == 0.0  # p6: +1 - 1 (the unreadable verdict counts as the worse response)
    assert s["overall"] == pytest.approx(4 / 9) and s["variants"][MACRO] == pytest.approx(0.375)


def test_pooled_and_macro_on_unequal_categories():
    s = judgebench_scores({"Knowledge": 0.5, "Coding": 1.0}, {"Knowledge": 6, "Coding": 2})
    assert s["overall"] == pytest.approx((3 + 2) / 8)
    assert s["variants"][MACRO] == pytest.approx(0.75)
    assert s["incomplete_sections"] == ["Reasoning", "Math"]
    assert judgebench_scores({}, {}) == {}


# -- the order protocol -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["random", "fixed"])
def test_check_protocol_refuses_one_order(order):
    with pytest.raises(RRMError, match=f"--order {order}") as exc:
        get_task("judgebench").check_protocol(PairwiseConfig(order=order))  # type: ignore[attr-defined]
    assert "--order both" in (exc.value.hint or "")
    get_task("judgebench").check_protocol(PairwiseConfig(order="both"))  # type: ignore[attr-defined]


@pytest.mark.skipif(
    not hasattr(PairwiseTask, "check_protocol"), reason="the pipeline does not call PairwiseTask.check_protocol yet"
)
def test_cli_refuses_random_order_before_any_model(tmp_path):
    res = cli(
        "pairwise", "--dataset", "judgebench", "--data", GPT, "--model", "scripted:marker", "--output-dir", tmp_path
    )
    assert res.returncode == 2 and "--order both" in res.stderr and "Traceback" not in res.stderr
    assert not any(tmp_path.iterdir())


# -- end to end through the CLI -----------------------------------------------------------------------------------
def jb_args(data: Path, out: Path, *more: str) -> list:
    return ["pairwise", "--dataset", "judgebench", "--data", data, "--order", "both", "--output-dir", out, *more]


@pytest.mark.parametrize("data,split,n", [(GPT, "gpt", 9), (CLAUDE, "claude", 4)])
def test_cli_marker_judge_on_each_split(tmp_path, data, split, n):
    res = cli(*jb_args(data, tmp_path, "--model", "scripted:marker", "--judge", "rrm", "--quiet"))
    assert res.returncode == 0, res.stderr
    run = only_run(tmp_path)
    s = summary_of(run)
    assert s["n_items"] == n and s["scores"]["overall"] == 1.0 and s["position_consistency"] == 1.0
    assert set(s["scores"]["variants"]) == {OFFICIAL, MACRO}
    spec = json.loads((run / "spec.json").read_text())
    assert spec["task"]["source"].endswith(f"(split {split})")
    assert "official (pooled)" in res.stdout and "macro (mean of categories)" in res.stdout


def test_split_option_picks_one_split_of_a_mixed_file(tmp_path):
    mixed = write_jsonl(tmp_path / "both.jsonl", read_jsonl(GPT) + read_jsonl(CLAUDE))
    task = get_task("judgebench")
    loaded = task.load(TaskOptions(data=str(mixed), extra={"split": "claude"}))
    assert [i.id for i in loaded.items] == ["c1", "c2", "c3", "c4"] and loaded.source.endswith("(split claude)")
    with pytest.raises(RRMError, match="mixes response models"):
        task.load(TaskOptions(data=str(mixed)))
    with pytest.raises(RRMError, match="unknown split 'llama'"):
        task.load(TaskOptions(data=str(mixed), extra={"split": "llama"}))
    with pytest.raises(RRMError, match="no pairs of split 'claude'"):
        task.load(TaskOptions(data=str(GPT), extra={"split": "claude"}))


def test_cli_mixed_file_is_refused(tmp_path):
    mixed = write_jsonl(tmp_path / "both.jsonl", read_jsonl(GPT) + read_jsonl(CLAUDE))
    res = cli(*jb_args(mixed, tmp_path / "runs", "--model", "scripted:marker"))
    assert res.returncode == 2 and "mixes response models" in res.stderr and "hint:" in res.stderr


@pytest.mark.slow
def test_embedded_model_logprob_both_orders(tmp_path):
    res = cli(
        *jb_args(GPT, tmp_path, "--model", "smollm2", "--judge", "logprob", "--limit", "2", "--quiet"),
    )
    assert res.returncode == 0, res.stderr
    run = only_run(tmp_path)
    records = read_jsonl(run / "records.jsonl")
    assert sorted((r["item_id"], r["order"]) for r in records) == [
        ("p1", "AB"),
        ("p1", "BA"),
        ("p2", "AB"),
        ("p2", "BA"),
    ]
    assert all(r["failure"] is None and len(r["logprobs"]) == 2 for r in records)
    s = summary_of(run)
    assert s["n_items"] == 2 and s["scores"]["sections"].keys() == {"Knowledge"}
    assert s["scores"]["overall"] in (0.0, 0.5, 1.0)  # two pairs, each 0 or 1


# -- bad input ----------------------------------------------------------------------------------------------------
def _row(**over):
    row = read_jsonl(GPT)[0]
    row.update(over)
    return row


BAD_ROWS = [
    ("tie-label", [_row(label="A=B")], "row p1: field 'label': expected 'A>B' or 'B>A', got 'A=B'"),
    ("lowercase-label", [_row(label="a>b")], "field 'label': expected 'A>B' or 'B>A', got 'a>b'"),
    ("missing-label", [_row(label=None)], "field 'label': expected 'A>B' or 'B>A', got None"),
    ("unknown-source", [_row(source="mmlu-redux")], "row p1: field 'source': unknown source 'mmlu-redux'"),
    ("duplicate-pair", [_row(), _row()], "row p1: field 'pair_id': duplicate pair_id"),
    ("missing-pair-id", [_row(pair_id=None)], "row #0: field 'pair_id': missing"),
    ("empty-response", [_row(response_B="  ")], "row p1: field 'response_B': empty"),
    ("missing-question", [_row(question=None)], "row p1: field 'question': missing"),
]


@pytest.mark.parametrize("case,rows,fragment", BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_bad_rows_exit_2_naming_the_row(tmp_path, case, rows, fragment):
    data = write_jsonl(tmp_path / "bad.jsonl", rows)
    res = cli(*jb_args(data, tmp_path / "runs", "--model", "scripted:marker", "--quiet"))
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "error:" in res.stderr and "hint:" in res.stderr and fragment in res.stderr, res.stderr
    assert not (tmp_path / "runs").exists()


def test_skip_bad_rows_counts_what_it_drops(tmp_path):
    data = write_jsonl(tmp_path / "some-bad.jsonl", [*read_jsonl(GPT), _row(pair_id="x", label="A=B")])
    loaded = get_task("judgebench").load(TaskOptions(data=str(data), skip_bad_rows=True))
    assert len(loaded.items) == 9 and sum(loaded.dropped.values()) == 1

"""Training data steps without a trained model: prepare, teacher journal, selection formulas, R_score, DPO pair
strategies and the OpenRLHF export."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers import read_jsonl
from rrm_eval.training import (
    FORMULAS,
    STRATEGIES,
    DPODataConfig,
    PrepareConfig,
    ReasonConfig,
    SelectConfig,
    build_pairs,
    get_layout,
    letter_index,
    prepare_rows,
    r_score,
    render_question,
    run_export,
    run_generate_reasons,
    run_prepare,
    select_rows,
    teacher_instruction,
    teacher_messages,
    validity,
)

from rrm_eval._errors import DataError, RRMError
from rrm_eval._seeding import coin
from rrm_eval.judges import load_judge

FIXTURE = Path(__file__).parent / "fixtures" / "skywork" / "pairs.jsonl"


def conv(*turns: str) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]


# -- prepare ------------------------------------------------------------------------------------------------------
def test_prepare_fixture_counts_and_targets(tmp_path):
    stats = run_prepare(PrepareConfig(data=str(FIXTURE), seed=3), tmp_path / "p.jsonl")
    assert stats["rows_read"] == 36 and stats["pairs_kept"] == 30 and stats["rows_written"] == 30
    assert stats["dropped"] == {
        "roles_not_alternating": 2,
        "empty_content": 1,
        "histories_differ": 1,
        "identical_answers": 1,
        "duplicate": 1,
    }
    assert stats["multi_turn_pairs"] == 4
    rows = read_jsonl(tmp_path / "p.jsonl")
    assert json.loads((tmp_path / "p.stats.json").read_text())["rows_written"] == 30
    for r in rows:
        # the same seeded coin as the pairwise protocol; chosen shown first <=> target [[A]]
        assert r["order"] == ("BA" if coin("order", 3, r["pair_id"]) else "AB")
        assert r["target"] == {"AB": "[[A]]", "BA": "[[B]]"}[r["order"]]
        text = r["messages"][-1]["content"]
        a = text.split("[The Start of Assistant A's Answer]\n")[1].split("\n[The End of Assistant A's Answer]")[0]
        src = next(s for s in read_jsonl(FIXTURE) if s["chosen"][-1]["content"] in text)
        assert (a == src["chosen"][-1]["content"]) == (r["target"] == "[[A]]")
    assert {r["order"] for r in rows} == {"AB", "BA"}
    again = run_prepare(PrepareConfig(data=str(FIXTURE), seed=3), tmp_path / "q.jsonl")
    assert again["source_fingerprint"] == stats["source_fingerprint"]
    assert read_jsonl(tmp_path / "q.jsonl") == rows  # reproducible


def test_prepare_both_orders_and_multi_turn(tmp_path):
    run_prepare(PrepareConfig(data=str(FIXTURE), both_orders=True), tmp_path / "b.jsonl")
    rows = read_jsonl(tmp_path / "b.jsonl")
    assert len(rows) == 60 and {r["id"].rsplit("-", 1)[1] for r in rows} == {"AB", "BA"}
    multi = [r for r in rows if r["turns"] == 3]
    assert len(multi) == 2
    text = multi[0]["messages"][-1]["content"]
    assert "[User Turn 1]\nCan you help me with colours?\n\n[Assistant Turn 1]\nOf course." in text
    assert "[User Turn 3]\nAnd red and white?" in text


def test_render_question_and_validity_table():
    assert render_question(conv("Hi?")) == "Hi?"
    assert render_question(conv("a", "b", "c")) == "[User Turn 1]\na\n\n[Assistant Turn 1]\nb\n\n[User Turn 2]\nc"
    ok = conv("q", "good")
    assert validity(ok, conv("q", "bad")) is None
    assert validity(ok, conv("q", " good ")) == "identical_answers"
    assert validity(ok, conv("other q", "bad")) == "histories_differ"
    assert validity(ok, conv("q", "")) == "empty_content"
    assert validity(conv("q"), conv("q")) == "roles_not_alternating"  # ends with a user turn
    sys_first = [{"role": "system", "content": "s"}, *conv("q", "x")]
    assert validity(sys_first, sys_first) == "roles_not_alternating"


def test_prepare_malformed_rows(tmp_path):
    judge = load_judge("skywork-critic")
    rows = [{"chosen": "not a list", "rejected": []}, {"chosen": conv("q", "a"), "rejected": conv("q", "b")}]
    with pytest.raises(DataError, match="row 0: field 'chosen'"):
        prepare_rows(rows, PrepareConfig(), judge, "x.jsonl")
    out, stats = prepare_rows(rows, PrepareConfig(skip_bad_rows=True), judge, "x.jsonl")
    assert len(out) == 1 and stats["dropped"] == {"malformed": 1}
    with pytest.raises(RRMError, match="no valid pair"):
        path = tmp_path / "bad.jsonl"
        path.write_text(json.dumps({"chosen": conv("q", "a"), "rejected": conv("q", "a")}) + "\n")
        run_prepare(PrepareConfig(data=str(path)), tmp_path / "o.jsonl")
    with pytest.raises(RRMError, match="labels"):
        run_prepare(PrepareConfig(data=str(FIXTURE), judge="rrm"), tmp_path / "o.jsonl")


# -- teacher reasons ------------------------------------------------------------------------------------------------
def test_teacher_messages_and_resumable_journal(tmp_path):
    run_prepare(PrepareConfig(data=str(FIXTURE)), tmp_path / "p.jsonl")
    row = read_jsonl(tmp_path / "p.jsonl")[0]
    msgs = teacher_messages(row, teacher_instruction())
    assert msgs[-1]["content"].startswith(row["messages"][-1]["content"].rstrip())
    assert f"The correct verdict for this comparison is {row['target']}." in msgs[-1]["content"]
    cfg = ReasonConfig(teacher="scripted:random", k=3, limit=5)
    out = tmp_path / "reasons"
    stats = run_generate_reasons(cfg, str(tmp_path / "p.jsonl"), out)
    assert stats["records"] == 15 and stats["written"] == 15
    recs = read_jsonl(out / "records.jsonl")
    assert {r["key"] for r in recs} == {
        f"{r['id']}|{s}" for r in read_jsonl(tmp_path / "p.jsonl")[:5] for s in range(3)
    }
    spec = json.loads((out / "spec.json").read_text())
    assert spec["teacher"]["spec"] == "scripted:random" and spec["sampling"]["n"] == 3 and spec["instruction_hash"]
    # resume: a larger selection only adds the new rows; the same command writes nothing
    assert (
        run_generate_reasons(ReasonConfig(teacher="scripted:random", k=3, limit=8), str(tmp_path / "p.jsonl"), out)[
            "written"
        ]
        == 9
    )
    assert run_generate_reasons(cfg, str(tmp_path / "p.jsonl"), out)["written"] == 0
    with pytest.raises(RRMError, match=r"other inputs or settings: other settings \(sampling\)"):
        run_generate_reasons(ReasonConfig(teacher="scripted:random", k=2), str(tmp_path / "p.jsonl"), out)
    assert all(r["kind"] == "sample" and r["item_id"] == r["key"].split("|")[0] for r in recs)  # SampleRecord lines


# -- formulas and selection -----------------------------------------------------------------------------------------
def test_formulas_and_r_score_table():
    assert FORMULAS["readme"](0.9, 0.5) == pytest.approx(0.45)  # P(A|U,R) * P(R|U)
    assert FORMULAS["released"](0.9, 0.5) == pytest.approx(0.4)  # P(R|U) * (2 P(A|U,R) - 1)
    assert FORMULAS["released"](0.3, 0.5) == pytest.approx(-0.2)
    assert r_score(0.9, 0.5) == pytest.approx(0.4)  # P(A) >= P(R): (2P(A)-1) P(R)
    assert r_score(0.5, 0.5) == pytest.approx(0.0)
    assert r_score(0.4, 0.6) == pytest.approx(-0.6)  # P(A) < P(R): -P(R)
    assert letter_index(["[[", "A", "]]"], "[[A]]") == 1
    assert letter_index(["ĠA", "]]"], "[[A]]") == 0
    assert letter_index(["[[A", "]]"], "[[A]]") is None  # the letter is not a token of its own


def _scored(p_reason: float, p_full: float, p_letter: float | None = None) -> dict:
    return {"p_reason": p_reason, "p_answer_full": p_full, "p_answer_letter": p_letter}


def test_select_rows_formulas_thresholds_and_spans():
    rows = [{"id": "r1", "messages": [], "target": "[[A]]"}, {"id": "r2", "messages": [], "target": "[[B]]"}]
    items = [{"key": f"r1|{s}", "id": "r1", "sample": s, "reason": f"R{s}"} for s in range(3)]
    items.append({"key": "r2|0", "id": "r2", "sample": 0, "reason": "weak"})
    scores = {
        "r1|0": dict(_scored(0.9, 0.55, 0.9), key="r1|0"),  # fluent, barely sure: readme 0.495, released 0.09
        "r1|1": dict(_scored(0.5, 0.95, 0.6), key="r1|1"),  # readme 0.475, released 0.45
        "r1|2": {"key": "r1|2", "error": "truncated input"},
        "r2|0": dict(_scored(0.2, 0.6, 0.6), key="r2|0"),  # released 0.04 <= 0.1
    }
    out, stats = select_rows(rows, items, scores, SelectConfig(student="x", formula="released"))
    assert [(r["id"], r["sample"]) for r in out] == [("r1", 1)]
    assert stats["rows_dropped"] == {"below_threshold": 1} and stats["score_errors"] == 1
    assert stats["selection"]["threshold_applied"] == 0.1
    out, _ = select_rows(rows, items, scores, SelectConfig(student="x", formula="readme"))
    assert [(r["id"], r["sample"]) for r in out] == [("r1", 0), ("r2", 0)]  # readme: no cut by default
    out, _ = select_rows(rows, items, scores, SelectConfig(student="x", formula="readme", verdict_span="letter"))
    assert out[0]["sample"] == 0 and out[0]["p_answer"] == 0.9
    out, stats = select_rows(
        rows, items, scores, SelectConfig(student="x", formula="released", use_default_threshold=False)
    )
    assert len(out) == 2 and stats["selection"]["threshold_applied"] is None
    out, _ = select_rows(rows, items, scores, SelectConfig(student="x", formula="readme", threshold=0.48))
    assert [r["id"] for r in out] == ["r1"]
    bad = dict(scores, **{"r1|1": dict(_scored(0.5, 0.95, None), key="r1|1")})
    with pytest.raises(RRMError, match="verdict letter is not a token"):
        select_rows(rows, items, bad, SelectConfig(student="x", verdict_span="letter"))


# -- DPO pairs ------------------------------------------------------------------------------------------------------
def _cands(row_id: str, spec: list[tuple[float, float, bool]]) -> tuple[list, dict, dict]:
    """(p_reason, p_answer, correct) per sample -> items, scores and sampled verdict records."""
    items, scores, verdicts = [], {}, {}
    for s, (p_r, p_a, ok) in enumerate(spec):
        key = f"{row_id}|{s}"
        items.append(
            {"key": key, "id": row_id, "sample": s, "reason": f"reason {s}", "target": "[[A]]", "messages": []}
        )
        scores[key] = {"key": key, "p_reason": p_r, "p_answer_full": p_a, "p_flip_full": 1 - p_a}
        verdicts[f"{key}|0"] = {"text": "[[A]]" if ok else "[[B]]", "finish_reason": "stop"}
    return items, scores, verdicts


SPEC = [
    (0.6, 0.9, True),  # 0: correct, fluent: R_score (2*0.9-1)*0.6 = 0.48
    (0.3, 0.9, True),  # 1: correct, influent: 0.24
    (0.8, 0.4, False),  # 2: incorrect, fluent: P(A) < P(R) -> -0.8
    (0.2, 0.3, False),  # 3: incorrect, influent: (2*0.3-1)*0.2 = -0.08
    (0.5, 0.2, False),  # 4: incorrect, middle: -0.5
]


@pytest.mark.parametrize(
    "strategy,expected",
    [
        ("correct-fluent+incorrect-fluent", (0, 2)),
        ("correct-fluent+incorrect-influent", (0, 3)),
        ("correct-influent+incorrect-fluent", (1, 2)),
    ],
)
def test_pair_strategies(strategy, expected):
    items, scores, verdicts = _cands("r", SPEC)
    rows = [{"id": "r", "messages": [], "target": "[[A]]"}]
    for rank_by in ("r_score", "p_reason"):
        pairs, _ = build_pairs(
            rows, items, scores, DPODataConfig(model="m", strategy=strategy, rank_by=rank_by), verdicts
        )
        (p,) = pairs
        assert (p["chosen"]["sample"], p["rejected"]["sample"]) == expected
        assert p["chosen"]["verdict"] == "[[A]]" and p["rejected"]["verdict"] == "[[B]]"  # flipped label
    assert math.isclose(pairs[0]["chosen"]["r_score"], r_score(*SPEC[expected[0]][1::-1]))


def test_random_strategies_are_seeded_and_drops_counted():
    items, scores, verdicts = _cands("r", SPEC)
    rows = [{"id": "r", "messages": [], "target": "[[A]]"}]
    picks = set()
    for seed in range(12):
        cfg = DPODataConfig(model="m", strategy="random-correct+random-incorrect", seed=seed)
        (p,), _ = build_pairs(rows, items, scores, cfg, verdicts)
        again, _ = build_pairs(rows, items, scores, cfg, verdicts)
        assert again[0] == p
        picks.add((p["chosen"]["sample"], p["rejected"]["sample"]))
    assert len(picks) > 2 and all(c in (0, 1) and r in (2, 3, 4) for c, r in picks)
    assert set(STRATEGIES) >= {"correct-fluent+random-incorrect"}
    only_good = _cands("g", [(0.5, 0.9, True)] * 3)
    bad_answer = _cands("b", [(0.5, 0.9, True), (0.5, 0.1, False)])
    bad_answer[2]["b|1|0"] = {"text": "no verdict here", "finish_reason": "stop"}
    items = only_good[0] + bad_answer[0]
    scores = {**only_good[1], **bad_answer[1]}
    verdicts = {**only_good[2], **bad_answer[2]}
    rows = [{"id": i, "messages": [], "target": "[[A]]"} for i in ("g", "b", "empty")]
    pairs, stats = build_pairs(rows, items, scores, DPODataConfig(model="m"), verdicts)
    assert pairs == [] and stats["rows_dropped"] == {"no_incorrect": 2, "no_valid_sample": 1}
    assert stats["samples_unpaired"] == {"no_verdict": 1}
    # "preferred": correctness from P(target) vs P(flipped), no sampled answer needed
    pairs, _ = build_pairs(rows[1:2], bad_answer[0], bad_answer[1], DPODataConfig(model="m", correct_by="preferred"))
    assert (pairs[0]["chosen"]["sample"], pairs[0]["rejected"]["sample"]) == (0, 1)


# -- export ---------------------------------------------------------------------------------------------------------
def test_openrlhf_export(tmp_path):
    msgs = [{"role": "user", "content": "Judge this."}]
    sft = tmp_path / "sft.jsonl"
    sft.write_text(json.dumps({"id": "a", "messages": msgs, "reason": "R.", "response": "[[B]]"}) + "\n")
    dpo = tmp_path / "dpo.jsonl"
    pair = {"id": "a", "messages": msgs, "chosen": {"reason": "good", "verdict": "[[B]]"},
            "rejected": {"reason": "bad", "verdict": "[[A]]"}}  # fmt: skip
    dpo.write_text(json.dumps(pair) + "\n")
    manifest = run_export("openrlhf", get_layout("llama3"), tmp_path / "out", sft=str(sft), dpo=str(dpo), model="M")
    (row,) = read_jsonl(tmp_path / "out" / "openrlhf_sft.jsonl")
    head = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nJudge this.<|eot_id|>"
    assert row["input"] == head + "<|start_header_id|>reason<|end_header_id|>\n\n"
    assert row["output"] == "R.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n[[B]]<|eot_id|>"
    assert (row["prompt"], row["reason"], row["response"]) == ("Judge this.", "R.", "[[B]]")  # seed 000's fields
    (d,) = read_jsonl(tmp_path / "out" / "openrlhf_dpo.jsonl")
    assert d["chosen"].startswith("good<|eot_id|>") and d["rejected"].endswith("[[A]]<|eot_id|>")
    cmd = manifest["commands"]["sft"]
    for flag in ("--input_key input", "--output_key output", "--learning_rate 5e-06", "--max_epochs 2",
                 "--train_batch_size 128", "--lr_warmup_ratio 0.03", "--pretrain M"):  # fmt: skip
        assert flag in cmd
    assert "--beta 0.1" in manifest["commands"]["dpo"] and "--learning_rate 5e-07" in manifest["commands"]["dpo"]
    assert json.loads((tmp_path / "out" / "export.json").read_text())["notes"]
    with pytest.raises(RRMError, match="nothing to export"):
        run_export("openrlhf", get_layout("chatml"), tmp_path / "x")


def test_hub_unreachable_is_a_clear_error(tmp_path):
    with pytest.raises(RRMError, match="cannot load 'Skywork/Skywork-Reward-Preference"):
        run_prepare(PrepareConfig(hub_name="Skywork/Skywork-Reward-Preference-80K-v0.2"), tmp_path / "p.jsonl")


def test_correct_fluent_random_incorrect_keeps_the_fluent_chosen():
    items, scores, verdicts = _cands("r", SPEC)
    rows = [{"id": "r", "messages": [], "target": "[[A]]"}]
    for seed in range(5):
        cfg = DPODataConfig(model="m", strategy="correct-fluent+random-incorrect", seed=seed)
        (p,), _ = build_pairs(rows, items, scores, cfg, verdicts)
        assert p["chosen"]["sample"] == 0 and p["rejected"]["sample"] in (2, 3, 4)


def test_student_without_chat_template_needs_an_explicit_layout(tmp_path):
    from rrm_eval.training import run_score_reasons
    from rrm_eval.training._tiny import make_random_model, train_small_tokenizer

    tok = train_small_tokenizer(["Which answer is better? [[A]] [[B]]"] * 20, "chatml", 300)
    model = make_random_model(tmp_path / "tiny", tokenizer=tok)  # a tokenizer with no chat template
    run_prepare(PrepareConfig(data=str(FIXTURE)), tmp_path / "p.jsonl")
    run_generate_reasons(
        ReasonConfig(teacher="scripted:random", k=1, limit=2), str(tmp_path / "p.jsonl"), tmp_path / "r"
    )
    cfg = SelectConfig(student=f"hf:{model}", formula="readme")
    with pytest.raises(RRMError, match="cannot tell the chat layout") as err:
        run_score_reasons(cfg, str(tmp_path / "p.jsonl"), str(tmp_path / "r"), tmp_path / "s")
    assert "--template chatml" in err.value.hint
    stats = run_score_reasons(
        SelectConfig(student=f"hf:{model}", formula="readme", template="chatml"),
        str(tmp_path / "p.jsonl"),
        str(tmp_path / "r"),
        tmp_path / "s2",
    )
    assert stats["rows_kept"] == 2 and stats["rows_dropped"] == {"no_valid_reason": 28} and stats["layout"] == "chatml"

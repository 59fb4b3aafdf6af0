"""Candidate sets: answer extraction, math-verify grading, the three loaders and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_jsonl

from rrm_eval._errors import RRMError
from rrm_eval.tasks import answers_match, extract_boxed, load_candidate_sets, normalize_answer, set_to_row
from rrm_eval.tasks._candidates import sets_from_rows

FIXTURES = Path(__file__).parent / "fixtures" / "candidates"
MATH8 = FIXTURES / "math8.jsonl"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("so \\boxed{\\frac{1}{2}} and finally \\boxed{ 4 }", "4"),  # the LAST box wins
        ("nested \\boxed{\\text{(B)} \\{x\\}}", "\\text{(B)} \\{x\\}"),
        ("brace-less \\boxed 5$.", "5"),
        ("\\fbox{3}", "3"),
        ("unclosed \\boxed{x", None),
        ("\\boxedx 5", None),
        ("no box at all", None),
        ("", None),
    ],
)
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


@pytest.mark.parametrize(
    "answer,reference,ok",
    [
        ("4", "4", True),
        ("4.0", "4", True),
        ("0.5", "\\frac{1}{2}", True),
        ("\\dfrac12", "\\frac{1}{2}", True),
        ("x=5", "5", True),
        ("9 \\pi", "9\\pi", True),
        ("5\\sqrt2", "5\\sqrt{2}", True),
        ("\\frac{1}{4}", "\\frac{1}{2}", False),
        ("28.27", "9\\pi", False),
        (None, "4", False),
        ("4", None, False),
    ],
)
def test_answers_match_uses_math_verify(answer, reference, ok):
    assert answers_match(answer, reference) is ok


def test_normalize_answer():
    assert normalize_answer("$\\left( 1, 2 \\right)$.") == "(1,2)"
    assert normalize_answer("90^\\circ") == "90"


def test_fixture_is_graded_against_references():
    loaded = load_candidate_sets(str(MATH8))
    assert loaded.format == "jsonl" and len(loaded.sets) == 8
    assert all(len(cs.candidates) == 8 for cs in loaded.sets)
    by_id = {cs.id: cs for cs in loaded.sets}
    assert [c.correct for c in by_id["p2"].candidates] == [True, True, True, False, False, True, False, True]
    assert by_id["p2"].candidates[6].answer is None  # no box: no answer, graded wrong
    assert sum(c.correct for c in by_id["p7"].candidates) == 1
    assert all(c.correct for c in by_id["p8"].candidates)
    # the jsonl form round-trips and fixes correctness
    again = sets_from_rows([set_to_row(cs) for cs in loaded.sets], "roundtrip")
    assert again == loaded.sets


def test_limit_keeps_the_fingerprint_of_all_sets():
    full, part = load_candidate_sets(str(MATH8)), load_candidate_sets(str(MATH8), limit=3)
    assert len(part.sets) == 3 and part.fingerprint == full.fingerprint


def test_qwen_math_toolkit_outputs_join_by_idx():
    files = sorted(str(p) for p in (FIXTURES / "qwen_math").glob("*.jsonl"))
    loaded = load_candidate_sets(files)
    assert loaded.format == "qwen-math"
    assert [cs.id for cs in loaded.sets] == ["0", "1", "2", "3"]
    cs = loaded.sets[1]
    assert [c.id for c in cs.candidates] == ["seed0", "seed1", "seed2"]
    assert [c.correct for c in cs.candidates] == [True, True, True]  # toolkit `score` used as given
    assert cs.reference == "\\frac{1}{2}" and cs.candidates[1].answer == "0.5"
    # a folder works too, and seed files sort numerically
    assert load_candidate_sets(str(FIXTURES / "qwen_math")).sets == loaded.sets


def test_qwen_math_numeric_seed_order_and_grading(tmp_path):
    for seed, answer in [(10, "5"), (9, "4")]:
        row = {"idx": 0, "question": "2+2?", "gt": "4", "code": [f"\\boxed{{{answer}}}"], "pred": [answer]}
        (tmp_path / f"out_seed{seed}_t0.6.jsonl").write_text(json.dumps(row) + "\n")
    (cs,) = load_candidate_sets(str(tmp_path)).sets
    assert [(c.id, c.correct) for c in cs.candidates] == [("seed9", True), ("seed10", False)]  # graded (no score)


def test_qwen_math_question_mismatch_is_an_error(tmp_path):
    for seed, q in [(0, "2+2?"), (1, "3+3?")]:
        row = {"idx": 7, "question": q, "gt": "4", "code": "\\boxed{4}", "pred": "4", "score": True}
        (tmp_path / f"o_seed{seed}.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(RRMError, match="row 7: field 'question'"):
        load_candidate_sets(str(tmp_path))


def _ppe_row(qid, k=4, scores=None):
    row = {"question_id": qid, "prompt": f"Answer with a letter.\nQuestion: What is item {qid}?", "model_name": "m"}
    for i in range(1, k + 1):
        row[f"response_{i}"] = f"Response {i}"
    row["scores"] = scores if scores is not None else [i % 2 == 0 for i in range(k)]
    return row


def test_ppe_rows_use_the_ppe_question_rule(tmp_path):
    path = write_jsonl(tmp_path / "MMLU.jsonl", [_ppe_row(q) for q in ("a1", "a2")])
    loaded = load_candidate_sets(str(path))
    assert loaded.format == "ppe"
    cs = loaded.sets[0]
    assert cs.question == "What is item a1?"  # cut after the MMLU marker "Question:"
    assert [c.id for c in cs.candidates] == ["response_1", "response_2", "response_3", "response_4"]
    assert [c.correct for c in cs.candidates] == [True, False, True, False]
    other = tmp_path / "rows.jsonl"
    other.write_text(path.read_text())
    with pytest.raises(RRMError, match="PPE subset"):
        load_candidate_sets(str(other))
    assert load_candidate_sets(str(other), ppe_subset="MMLU").sets == loaded.sets


def _write(tmp_path, rows):
    return str(write_jsonl(tmp_path / "sets.jsonl", rows))


@pytest.mark.parametrize(
    "row,message",
    [
        (
            {"id": "q9", "question": "?", "reference": "1", "candidates": [{"text": "\\boxed{1}"}]},
            "'q9' has 1 candidate",
        ),
        (
            {"id": "q9", "question": "?", "candidates": [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}]},
            "problem 'q9': candidate 'a' has no 'correct' field and the problem has no reference",
        ),
        (
            {
                "id": "q9",
                "question": "?",
                "reference": "1",
                "candidates": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}],
            },
            "problem 'q9': duplicate candidate id 'a'",
        ),
        ({"id": "q9", "question": "", "candidates": []}, "row q9: field 'question'"),
        (
            {"id": "q9", "question": "?", "candidates": [{"id": "a", "text": "x", "correct": "yes"}]},
            "expected true/false",
        ),
    ],
)
def test_bad_sets_name_the_problem(tmp_path, row, message):
    with pytest.raises(RRMError, match=message.replace("(", "\\(").replace("?", "\\?")):
        load_candidate_sets(_write(tmp_path, [row]))


def test_duplicate_problem_ids_and_unknown_format(tmp_path):
    row = {"id": "q1", "question": "?", "candidates": [{"text": "a", "correct": True}, {"text": "b", "correct": False}]}
    with pytest.raises(RRMError, match="problem id 'q1' appears more than once"):
        load_candidate_sets(_write(tmp_path, [row, row]))
    (tmp_path / "odd.jsonl").write_text(json.dumps({"foo": 1}) + "\n")
    with pytest.raises(RRMError, match="cannot tell the format"):
        load_candidate_sets(str(tmp_path / "odd.jsonl"))

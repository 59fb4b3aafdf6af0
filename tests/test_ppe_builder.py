"""PPE builder: shipped pair files, question extraction, row validation, pairs files, local copies, drawn pairs."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path

import pytest

from rrm_eval import ppe_dataset as ppe
from rrm_eval._errors import DataError, RRMError, UnknownNameError

FIX = Path(__file__).parent / "fixtures" / "ppe"


def fixture_rows(subset: str) -> list[dict]:
    return [json.loads(line) for line in (FIX / f"{subset}.jsonl").read_text().splitlines()]


# -- the shipped files ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subset", "duplicates", "row0", "row255", "row511"),
    [
        # Values read from shared/data/ppe (LMOps RRM-evaluation, commit c81974c); duplicates per REFERENCE.md.
        ("MATH", 48, [[1, 4], [6, 5], [26, 13], [9, 1], [9, 12]], [[8, 23], [27, 8], [25, 19], [17, 21], [29, 6]],
         [[0, 15], [0, 30], [27, 29], [28, 27], [15, 4]]),
        ("MMLU", 18, [[15, 5], [30, 11], [22, 21], [28, 22], [5, 23]], [[25, 15], [21, 31], [30, 25], [5, 2], [18, 6]],
         [[10, 8], [11, 3], [27, 15], [6, 16], [7, 31]]),
        ("GPQA", 26, [[5, 22], [15, 3], [17, 8], [3, 7], [17, 11]], [[13, 21], [25, 4], [0, 4], [2, 31], [25, 29]],
         [[29, 31], [19, 17], [25, 12], [7, 19], [17, 26]]),
    ],
)  # fmt: skip
def test_published_pairs_match_the_shipped_files(subset, duplicates, row0, row255, row511):
    pairs = ppe.published_pairs(ppe.resolve_subset(subset))
    assert len(pairs.pairs) == 512
    assert {len(e) for e in pairs.pairs} == {5}
    assert sum(len(e) for e in pairs.pairs) == 2560
    assert ppe.duplicate_count(pairs) == duplicates
    assert pairs.question_ids is None  # published files are joined by row order
    assert [list(p) for p in pairs.pairs[0]] == row0
    assert [list(p) for p in pairs.pairs[255]] == row255
    assert [list(p) for p in pairs.pairs[511]] == row511
    assert all(0 <= k <= 31 for e in pairs.pairs for p in e for k in p)


def test_shipped_files_equal_the_shared_copies():
    shared = Path("/work/shared/data/ppe")
    if not shared.is_dir():
        pytest.skip("shared data folder not present")
    for name in ("MATH_conflict_pairs.json", "MMLU_conflict_pairs.json", "GPQA_conflict_pairs.json",
                 "MMLU_knockout_bracket.json"):  # fmt: skip
        shipped = (resources.files("rrm_eval.ppe_dataset") / name).read_bytes()
        assert shipped == (shared / name).read_bytes(), name


def test_knockout_bracket_is_package_data():
    bracket = json.loads((resources.files("rrm_eval.ppe_dataset") / "MMLU_knockout_bracket.json").read_text())
    assert len(bracket["round_1"]) == 16
    assert sorted(k for pair in bracket["round_1"] for k in pair) == list(range(32))
    assert sorted(bracket["round_5"][0]) == list(range(32))


def test_known_duplicates_are_where_we_expect():
    math = ppe.published_pairs(ppe.resolve_subset("MATH")).pairs
    assert math[83][0] == math[83][2] == (19, 18)
    assert math[52][3] == math[52][4] == (21, 22)
    mmlu = ppe.published_pairs(ppe.resolve_subset("MMLU")).pairs
    assert mmlu[22][0] == mmlu[22][1] == (2, 25)


def test_no_published_pairs_for_other_subsets():
    with pytest.raises(RRMError, match="no published conflict pairs for PPE IFEval") as exc:
        ppe.published_pairs(ppe.resolve_subset("ifeval"))
    assert "ppe-pairs" in exc.value.hint


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("MATH", "MATH"),
        ("math", "MATH"),
        ("MMLU", "MMLU"),
        ("mmlu-pro", "MMLU"),
        ("GPQA", "GPQA"),
        ("mbpp", "MBPP-Plus"),
    ],
)
def test_resolve_subset(name, canonical):
    assert ppe.resolve_subset(name).name == canonical


def test_unknown_subset_suggests():
    with pytest.raises(UnknownNameError, match="unknown PPE subset 'GPQ'") as exc:
        ppe.resolve_subset("GPQ")
    assert "GPQA" in exc.value.hint


# -- question extraction --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subset", "prompt", "question"),
    [
        ("MATH", "Solve it.\n\n<problem>\nWhat is $1+1$?\n", "What is $1+1$?"),
        # Only the text before the first marker goes; a closing tag after the question stays, as in the published runs.
        ("MATH", "Solve.\n<problem>\nCompute $x$.\n</problem>\n", "Compute $x$.\n</problem>"),
        ("MATH", "<problem>A <problem> inside</problem>", "A <problem> inside</problem>"),
        ("MMLU", "About law.\n\nQuestion: Who makes statutes?\nOptions:\nA. Courts\nAnswer:",
         "Who makes statutes?\nOptions:\nA. Courts\nAnswer:"),
        ("MMLU", "Question: first\nQuestion: second", "first\nQuestion: second"),
        ("GPQA", "Answer it.\n\nQuestion\nWhich one?\n\n(A) x\n", "Which one?\n\n(A) x"),
        # GPQA's marker has no colon (the published rule), so a colon right after it is kept.
        ("GPQA", "Question: Which one?", ": Which one?"),
        ("IFEval", "  Write a haiku.  \n", "Write a haiku."),
    ],
)  # fmt: skip
def test_extract_question(subset, prompt, question):
    assert ppe.extract_question(prompt, ppe.resolve_subset(subset).marker) == question


@pytest.mark.parametrize(
    ("subset", "prompt", "problem"),
    [
        ("MATH", "Solve: what is 1+1?", "no '<problem>' marker"),
        ("MMLU", "question: lower case does not count", "no 'Question:' marker"),
        ("GPQA", "Answer this.\nQuestion   \n", "nothing after the 'Question' marker"),
    ],
)
def test_extract_question_failures(subset, prompt, problem):
    with pytest.raises(ValueError, match=problem):
        ppe.extract_question(prompt, ppe.resolve_subset(subset).marker)


@pytest.mark.parametrize("subset", ["MATH", "MMLU", "GPQA"])
def test_fixture_questions_per_subset(subset):
    s = ppe.resolve_subset(subset)
    rows = [ppe.validate_row(r, n, "fx", s) for n, r in enumerate(fixture_rows(subset))]
    assert len(rows) == 4
    for row in rows:
        assert s.marker not in row.question[:1]  # cut right after the marker
        assert row.question == row.prompt[row.prompt.index(s.marker) + len(s.marker) :].strip()
        assert len(row.responses) == 32 and len(row.scores) == 32
    if subset == "MATH":
        assert rows[0].question == "What is the remainder when $2^{10}$ is divided by $7$?"
    if subset == "MMLU":
        assert rows[0].question.startswith("A ball is dropped from rest.")
        assert rows[0].question.endswith("D. 40 m\nAnswer:")
    if subset == "GPQA":
        assert rows[1].question.startswith("A synthetic physics prompt")


# -- row validation -------------------------------------------------------------------------------------------------


def _row() -> dict:
    return copy.deepcopy(fixture_rows("MATH")[0])


def test_validate_row_reads_scores_and_responses():
    row = ppe.validate_row(_row(), 7, "fx", ppe.resolve_subset("MATH"))
    assert row.index == 7 and row.question_id == "math-fx-000" and row.model_name == "synthetic-model"
    assert [k for k, s in enumerate(row.scores) if s] == [0, 3, 4, 9, 17, 30]
    assert row.responses[0].startswith("Response 1 ")


def test_scores_as_integers_are_accepted():
    raw = _row()
    raw["scores"] = [int(s) for s in raw["scores"]]
    assert ppe.validate_row(raw, 0, "fx", ppe.resolve_subset("MATH")).scores[0] is True


@pytest.mark.parametrize(
    ("mutate", "field", "problem"),
    [
        (lambda r: r.pop("question_id"), "question_id", "missing"),
        (lambda r: r.pop("prompt"), "prompt", "missing"),
        (lambda r: r.update(prompt="no marker here"), "prompt", "no '<problem>' marker"),
        (lambda r: r.pop("scores"), "scores", "missing"),
        (lambda r: r.update(scores="yes"), "scores", "expected a list"),
        (lambda r: r["scores"].__setitem__(3, "true"), "scores", "entry 3 is 'true'"),
        (lambda r: r["scores"].__setitem__(3, 2), "scores", "entry 3 is 2"),
        (lambda r: r.pop("response_17"), "response_17", "missing"),
        (lambda r: r.update(response_5=None), "response_5", "missing"),
        (lambda r: r.update(response_5=5), "response_5", "expected text"),
        (lambda r: r["scores"].pop(), "scores", "has 31 entries but the row has 32 responses"),
    ],
)
def test_bad_rows_name_row_and_field(mutate, field, problem):
    raw = _row()
    mutate(raw)
    with pytest.raises(DataError) as exc:
        ppe.validate_row(raw, 12, "data.jsonl", ppe.resolve_subset("MATH"))
    msg = exc.value.message
    assert msg.startswith("data.jsonl: row #12")
    assert f"field {field!r}" in msg
    assert problem in msg


def test_empty_response_is_kept():
    raw = _row()
    raw["response_2"] = ""
    assert ppe.validate_row(raw, 0, "fx", ppe.resolve_subset("MATH")).responses[1] == ""


# -- pairs files ----------------------------------------------------------------------------------------------------


def test_read_pairs_list_and_object(tmp_path):
    (tmp_path / "a.json").write_text("[[[0, 1], [2, 3]], []]")
    a = ppe.read_pairs(tmp_path / "a.json")
    assert a.pairs == (((0, 1), (2, 3)), ()) and a.question_ids is None and a.max_rounds == 2
    (tmp_path / "b.json").write_text(json.dumps({"question_ids": ["q1", "q2"], "pairs": [[[0, 1]], [[1, 0]]]}))
    b = ppe.read_pairs(tmp_path / "b.json")
    assert b.question_ids == ("q1", "q2")
    assert a.fingerprint() != b.fingerprint()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "not valid JSON"),
        ('{"p": []}', "needs a 'pairs' list"),
        ('{"pairs": [[[0, 1]]], "question_ids": ["a", "b"]}', "as long as 'pairs'"),
        ('"x"', "expected a list"),
        ("[[[0, 1]], 3]", "entry 1 is not a list"),
        ("[[[0, 1, 2]]]", "entry 0: [0, 1, 2] is not a pair"),
        ("[[[0, -1]]]", "is not a pair"),
        ("[[[true, 1]]]", "is not a pair"),
        ("[[[4, 4]]]", "compares a response with itself"),
    ],
)
def test_bad_pairs_files(tmp_path, content, problem):
    path = tmp_path / "pairs.json"
    path.write_text(content)
    with pytest.raises(RRMError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        ppe.read_pairs(path)


def test_missing_pairs_file(tmp_path):
    with pytest.raises(RRMError, match="does not exist"):
        ppe.read_pairs(tmp_path / "nope.json")


# -- local copies ---------------------------------------------------------------------------------------------------


def test_find_local_copy_by_short_or_hub_name(tmp_path):
    (tmp_path / "MATH.jsonl").write_text("")
    (tmp_path / "PPE-GPQA-Best-of-K.parquet").write_text("")
    assert ppe.find_local_copy(tmp_path, ppe.resolve_subset("MATH")).name == "MATH.jsonl"
    assert ppe.find_local_copy(tmp_path, ppe.resolve_subset("GPQA")).name == "PPE-GPQA-Best-of-K.parquet"
    with pytest.raises(RRMError, match="no local copy of PPE MMLU") as exc:
        ppe.find_local_copy(tmp_path, ppe.resolve_subset("MMLU"))
    assert "PPE-MMLU-Pro-Best-of-K.parquet" in exc.value.hint
    (tmp_path / "MATH.json").write_text("")
    with pytest.raises(RRMError, match="several copies of PPE MATH"):
        ppe.find_local_copy(tmp_path, ppe.resolve_subset("MATH"))


def test_load_raw_rows_from_folder_file_and_parquet(tmp_path):
    rows, source = ppe.load_raw_rows(ppe.resolve_subset("MMLU"), FIX)
    assert len(rows) == 4 and source.endswith("MMLU.jsonl")
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "PPE-MMLU-Pro-Best-of-K.parquet")
    again, source = ppe.load_raw_rows(ppe.resolve_subset("MMLU"), tmp_path)
    assert source.endswith(".parquet")
    assert [ppe.validate_row(r, n, "p", ppe.resolve_subset("MMLU")) for n, r in enumerate(again)] == [
        ppe.validate_row(r, n, "p", ppe.resolve_subset("MMLU")) for n, r in enumerate(rows)
    ]


# -- drawn pairs ----------------------------------------------------------------------------------------------------


def _rows(subset: str = "MATH") -> list[ppe.PPERow]:
    s = ppe.resolve_subset(subset)
    return [ppe.validate_row(r, n, "fx", s) for n, r in enumerate(fixture_rows(subset))]


def test_draw_pairs_are_conflicts_and_seeded_by_content():
    rows = _rows()
    drawn = ppe.draw_pairs(rows, per_prompt=6, seed=1)
    assert [len(e) for e in drawn] == [6, 6, 6, 6]
    for row, entry in zip(rows, drawn, strict=True):
        for i, j in entry:
            assert row.scores[i] != row.scores[j]
    assert drawn == ppe.draw_pairs(rows, per_prompt=6, seed=1)
    assert drawn != ppe.draw_pairs(rows, per_prompt=6, seed=2)
    # Row order does not change a row's pairs (seeded from the question id, not the position).
    assert ppe.draw_pairs(rows[::-1], per_prompt=6, seed=1) == drawn[::-1]
    # Both orientations occur: the correct response is not always listed first.
    firsts = {rows[n].scores[e[0]] for n, entries in enumerate(drawn) for e in entries}
    assert firsts == {True, False}


def test_draw_unique_and_rows_without_conflict():
    rows = _rows()
    # Row 2 has one correct response among 32: 31 distinct pairs at most.
    drawn = ppe.draw_pairs(rows, per_prompt=40, seed=0, unique=True)
    assert len(drawn[2]) == 31 and len({frozenset(p) for p in drawn[2]}) == 31
    no_conflict = ppe.PPERow(9, "q9", "p", "p", ("a", "b"), (True, True))
    assert ppe.draw_pairs([no_conflict], 5) == [[]]
    with pytest.raises(RRMError, match="at least 1"):
        ppe.draw_pairs(rows, per_prompt=0)


@pytest.mark.parametrize(
    "module", ["rrm_eval.ppe_dataset", "rrm_eval.ppe_dataset.builder", "rrm_eval.tasks._ppe", "rrm_eval.cli._ppe"]
)
def test_import_order_has_no_cycle(module):
    """The builder imports rrm_eval.tasks, whose package imports the ppe task, which imports the builder: every entry
    point must still import cleanly in a fresh interpreter (the tournament code starts at rrm_eval.ppe_dataset)."""
    import subprocess
    import sys

    code = f"import {module}; from rrm_eval.tasks import TASKS; assert 'ppe' in TASKS"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr

"""The `ppe` task: round selection against the shipped pairs, chosen/rejected labelling, bad input, scoring rule."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

from rrm_eval import ppe_dataset as ppe
from rrm_eval._errors import DataError, RRMError
from rrm_eval.tasks import TaskOptions, get_task
from rrm_eval.tasks._ppe import parse_rounds

FIX = Path(__file__).parent / "fixtures" / "ppe"
_spec = importlib.util.spec_from_file_location("ppe_synth", FIX / "synth.py")
synth = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synth)

TASK = get_task("ppe")


def fixture_opts(subset: str = "MATH", **extra) -> TaskOptions:
    limit = extra.pop("limit", None)
    skip = extra.pop("skip_bad_rows", False)
    data = extra.pop("data", str(FIX))
    extra.setdefault("pairs", str(FIX / f"{subset}_pairs.json"))
    return TaskOptions(data=data, limit=limit, skip_bad_rows=skip, extra={"subset": subset, **extra})


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory) -> Path:
    """Full 512-row PPE-shaped sets that fit the shipped published pairs (see tests/fixtures/ppe/synth.py)."""
    folder = tmp_path_factory.mktemp("ppe512")
    for subset in ("MATH", "MMLU", "GPQA"):
        published = [[list(p) for p in e] for e in ppe.published_pairs(ppe.resolve_subset(subset)).pairs]
        synth.write_jsonl(folder / f"{subset}.jsonl", synth.synthetic_rows(subset, published))
    return folder


# -- the published pairs on a full-size set -------------------------------------------------------------------------


@pytest.mark.parametrize("subset", ["MATH", "MMLU", "GPQA"])
@pytest.mark.parametrize("round_", [1, 3, 5])
def test_round_r_is_pair_r_minus_1_of_every_prompt(synthetic_dir, subset, round_):
    loaded = TASK.load(TaskOptions(data=str(synthetic_dir), extra={"subset": subset, "rounds": [round_]}))
    published = ppe.published_pairs(ppe.resolve_subset(subset)).pairs
    assert len(loaded.items) == 512
    assert [it.meta["row"] for it in loaded.items] == list(range(512))
    for item in loaded.items:
        row = item.meta["row"]
        assert item.subset == f"round_{round_}"
        assert item.id == f"{item.meta['question_id']}:r{round_}"
        assert tuple(item.meta["pair"]) == published[row][round_ - 1]
        assert {item.meta["chosen_index"], item.meta["rejected_index"]} == set(item.meta["pair"])
        assert "GOOD" in item.chosen and "GOOD" not in item.rejected


@pytest.mark.parametrize(("subset", "duplicates"), [("MATH", 48), ("MMLU", 18), ("GPQA", 26)])
def test_all_rounds_keep_duplicated_pairs(synthetic_dir, subset, duplicates):
    loaded = TASK.load(TaskOptions(data=str(synthetic_dir), extra={"subset": subset, "rounds": "all"}))
    assert len(loaded.items) == 2560
    assert len({it.id for it in loaded.items}) == 2560
    counts = {f"round_{r}": sum(1 for it in loaded.items if it.subset == f"round_{r}") for r in range(1, 6)}
    assert counts == {f"round_{r}": 512 for r in range(1, 6)}
    # Round-major order: all of round 1 first.
    assert [it.subset for it in loaded.items[:512]] == ["round_1"] * 512
    seen: dict[int, set] = {}
    repeats = 0
    for it in loaded.items:
        key = frozenset(it.meta["pair"])
        repeats += key in seen.setdefault(it.meta["row"], set())
        seen[it.meta["row"]].add(key)
    assert repeats == duplicates


def test_limit_is_prompts_per_round(synthetic_dir):
    loaded = TASK.load(TaskOptions(data=str(synthetic_dir), limit=3, extra={"subset": "GPQA", "rounds": [2, 4]}))
    assert [(it.meta["row"], it.meta["round"]) for it in loaded.items] == [
        (0, 2),
        (1, 2),
        (2, 2),
        (0, 4),
        (1, 4),
        (2, 4),
    ]
    full = TASK.load(TaskOptions(data=str(synthetic_dir), extra={"subset": "GPQA", "rounds": [2, 4]}))
    assert loaded.fingerprint == full.fingerprint  # --limit selects; the data is the same


def test_shuffled_copy_is_caught_not_mislabelled(synthetic_dir, tmp_path):
    rows = [json.loads(x) for x in (synthetic_dir / "MATH.jsonl").read_text().splitlines()]
    rows[0], rows[1] = rows[1], rows[0]
    synth.write_jsonl(tmp_path / "MATH.jsonl", rows)
    with pytest.raises(DataError, match=r"row #\d+ \(question_id math-syn-00\d\).*is not a conflict") as exc:
        TASK.load(TaskOptions(data=str(tmp_path), extra={"subset": "MATH", "rounds": "all"}))
    assert "row order" in exc.value.hint


# -- the small fixture ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("subset", ["MATH", "MMLU", "GPQA"])
def test_fixture_items_and_labels(subset):
    loaded = TASK.load(fixture_opts(subset))
    assert len(loaded.items) == 20
    first = loaded.items[0]
    assert first.id == f"{subset.lower()}-fx-000:r1"
    assert first.meta == {
        "ppe_subset": subset,
        "question_id": f"{subset.lower()}-fx-000",
        "row": 0,
        "round": 1,
        "pair": [0, 1],
        "chosen_index": 0,
        "rejected_index": 1,
    }
    assert first.chosen.startswith("Response 1 ") and first.rejected.startswith("Response 2 ")
    for it in loaded.items:
        assert "GOOD" in it.chosen and "GOOD" not in it.rejected
        assert it.chosen == synth.response(it.meta["chosen_index"], True, it.meta["question_id"])
    by_id = {it.id: it for it in loaded.items}
    # Pair listed incorrect-first: chosen is still the correct one ([1, 0] in round 4 of row 0).
    r4 = by_id[f"{subset.lower()}-fx-000:r4"]
    assert r4.meta["pair"] == [1, 0] and r4.meta["chosen_index"] == 0
    # Prompts are the extracted questions.
    s = ppe.resolve_subset(subset)
    assert all(s.marker not in it.prompt.splitlines()[0] for it in loaded.items)


def test_round_selection_and_subset_alias():
    loaded = TASK.load(fixture_opts("MMLU", rounds="2,5"))
    assert sorted({it.subset for it in loaded.items}) == ["round_2", "round_5"]
    alias = TASK.load(fixture_opts("MMLU", rounds=[2, 5], data=str(FIX / "MMLU.jsonl")))
    assert [i.id for i in alias.items] == [i.id for i in loaded.items]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("all", None), (None, None), ("3", [3]), (3, [3]), ("3,1,3", [1, 3]), ([5, 2], [2, 5]), (" 1 , 2 ", [1, 2])],
)
def test_parse_rounds(value, expected):
    assert parse_rounds(value) == expected


@pytest.mark.parametrize("value", ["x", "1,,2", [True], ""])
def test_parse_rounds_rejects(value):
    with pytest.raises(RRMError):
        parse_rounds(value)


@pytest.mark.parametrize("round_", [0, 6, -1])
def test_round_outside_1_to_5(synthetic_dir, round_):
    with pytest.raises(RRMError, match=f"round {round_} is outside 1..5"):
        TASK.load(TaskOptions(data=str(synthetic_dir), extra={"subset": "MATH", "rounds": [round_]}))


def test_custom_pairs_set_the_round_range(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps([[[0, 1]] * 7, [[1, 0]] * 7, [[7, 8]] * 7, [[1, 0]] * 7]))
    loaded = TASK.load(fixture_opts("MATH", pairs=str(tmp_path / "p.json"), rounds=[7]))
    assert {it.subset for it in loaded.items} == {"round_7"}
    assert len(TASK.load(fixture_opts("MATH", pairs=str(tmp_path / "p.json"))).items) == 28
    with pytest.raises(RRMError, match=r"round 8 is outside 1\.\.7"):
        TASK.load(fixture_opts("MATH", pairs=str(tmp_path / "p.json"), rounds=[8]))


# -- bad input ------------------------------------------------------------------------------------------------------


def write_pairs(tmp_path: Path, pairs) -> str:
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(pairs))
    return str(path)


def base_pairs() -> list:
    return json.loads((FIX / "MATH_pairs.json").read_text())


@pytest.mark.parametrize(
    ("row", "pair", "problem"),
    [
        (1, [1, 2], r"row #1 \(question_id math-fx-001\): field 'pairs\[round 3\]': pair \[1, 2\] is not a conflict: "
         r"both responses are correct"),
        (2, [0, 1], r"row #2 \(question_id math-fx-002\): field 'pairs\[round 3\]': pair \[0, 1\] is not a conflict: "
         r"both responses are wrong"),
        (3, [1, 32], r"row #3 \(question_id math-fx-003\): field 'pairs\[round 3\]': pair \[1, 32\]: index 32 is out "
         r"of range"),
    ],
)  # fmt: skip
def test_bad_pairs_name_the_row(tmp_path, row, pair, problem):
    pairs = base_pairs()
    pairs[row][2] = pair
    opts = fixture_opts("MATH", pairs=write_pairs(tmp_path, pairs), rounds=[3])
    with pytest.raises(DataError, match=problem):
        TASK.load(opts)
    # Other rounds of the same data are unaffected.
    assert len(TASK.load(fixture_opts("MATH", pairs=write_pairs(tmp_path, pairs), rounds=[1])).items) == 4
    # --skip-bad-rows drops that row (all its rounds) and counts it.
    skipped = TASK.load(fixture_opts("MATH", pairs=write_pairs(tmp_path, pairs), rounds="all", skip_bad_rows=True))
    assert len(skipped.items) == 15 and row not in {it.meta["row"] for it in skipped.items}
    assert sum(skipped.dropped.values()) == 1


def test_too_few_pairs_for_round(tmp_path):
    pairs = base_pairs()
    pairs[0] = pairs[0][:2]
    with pytest.raises(DataError, match=r"row #0 .*pairs\[round 3\].*has only 2 pairs"):
        TASK.load(fixture_opts("MATH", pairs=write_pairs(tmp_path, pairs), rounds=[3]))


def test_row_count_must_match_pairs(tmp_path):
    with pytest.raises(RRMError, match=r"has 3 entries but .*MATH\.jsonl has 4 rows"):
        TASK.load(fixture_opts("MATH", pairs=write_pairs(tmp_path, base_pairs()[:3])))
    with pytest.raises(RRMError, match=r"published:MATH_conflict_pairs\.json has 512 entries"):
        TASK.load(TaskOptions(data=str(FIX), extra={"subset": "MATH", "rounds": [1]}))


def test_bad_row_and_duplicate_question_id(tmp_path):
    rows = synth.fixture_rows("MATH")
    bad = copy.deepcopy(rows)
    bad[2].pop("response_9")
    synth.write_jsonl(tmp_path / "MATH.jsonl", bad)
    with pytest.raises(DataError, match=r"row #2 \(question_id math-fx-002\): field 'response_9': missing"):
        TASK.load(fixture_opts("MATH", data=str(tmp_path)))
    skipped = TASK.load(fixture_opts("MATH", data=str(tmp_path), skip_bad_rows=True))
    assert skipped.dropped == {"bad response_9": 1} and len(skipped.items) == 15
    dup = copy.deepcopy(rows)
    dup[3]["question_id"] = dup[0]["question_id"]
    synth.write_jsonl(tmp_path / "MATH.jsonl", dup)
    with pytest.raises(
        DataError, match=r"row #3 \(question_id math-fx-000\): field 'question_id': duplicate of row #0"
    ):
        TASK.load(fixture_opts("MATH", data=str(tmp_path)))


def test_drawn_pairs_check_question_ids(tmp_path):
    subset = ppe.resolve_subset("GPQA")
    raw = [json.loads(x) for x in (FIX / "GPQA.jsonl").read_text().splitlines()]
    rows = [ppe.validate_row(r, n, "fx", subset) for n, r in enumerate(raw)]
    doc = ppe.pairs_document(subset, "fx", rows, ppe.draw_pairs(rows, 5, seed=4), 4, False)
    (tmp_path / "drawn.json").write_text(json.dumps(doc))
    loaded = TASK.load(fixture_opts("GPQA", pairs=str(tmp_path / "drawn.json"), rounds="all"))
    assert len(loaded.items) == 20
    assert all("GOOD" in it.chosen and "GOOD" not in it.rejected for it in loaded.items)
    raw[0], raw[1] = raw[1], raw[0]
    synth.write_jsonl(tmp_path / "GPQA.jsonl", raw)
    with pytest.raises(
        DataError, match=r"row #0 \(question_id gpqa-fx-001\).*drew entry 0 for question_id gpqa-fx-000"
    ):
        TASK.load(fixture_opts("GPQA", data=str(tmp_path), pairs=str(tmp_path / "drawn.json")))


def test_options_errors():
    with pytest.raises(RRMError, match="needs a subset") as exc:
        TASK.load(TaskOptions(data=str(FIX)))
    assert "rrm-eval ppe --subset" in exc.value.hint
    with pytest.raises(RRMError, match="unknown ppe task option 'round'"):
        TASK.load(TaskOptions(data=str(FIX), extra={"subset": "MATH", "round": 3}))
    with pytest.raises(RRMError, match="unknown PPE subset"):
        TASK.load(TaskOptions(data=str(FIX), extra={"subset": "MBBP-plus-x"}))


def test_fingerprint_follows_data_and_pairs(tmp_path):
    a = TASK.load(fixture_opts("MATH"))
    pairs = base_pairs()
    pairs[0][0] = [0, 2]
    b = TASK.load(fixture_opts("MATH", pairs=write_pairs(tmp_path, pairs)))
    assert a.fingerprint != b.fingerprint
    assert TASK.load(fixture_opts("MATH", rounds=[1])).fingerprint == a.fingerprint


# -- scoring rule ---------------------------------------------------------------------------------------------------


def test_summarize_is_per_round_and_their_mean():
    acc = {"round_10": 0.2, "round_2": 0.5, "round_1": 1.0}
    out = TASK.summarize(acc, {"round_10": 1, "round_2": 100, "round_1": 3})
    assert list(out["rounds"]) == ["round_1", "round_2", "round_10"]
    assert out["overall"] == pytest.approx((1.0 + 0.5 + 0.2) / 3)  # unweighted: every round counts the same
    assert out["n_rounds"] == 3
    assert TASK.summarize({}, {}) == {}


def test_pairs_file_without_pairs(tmp_path):
    with pytest.raises(RRMError, match="holds no pairs"):
        TASK.load(fixture_opts("MATH", pairs=write_pairs(tmp_path, [[], [], [], []])))
    # Rows without a conflict (empty entries) are dropped and counted, the rest still run.
    pairs = base_pairs()
    pairs[1] = []
    loaded = TASK.load(fixture_opts("MATH", pairs=write_pairs(tmp_path, pairs), rounds="all"))
    assert loaded.dropped == {"no conflict pair": 1} and len(loaded.items) == 15

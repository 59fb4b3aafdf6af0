"""`rrm-eval ppe` and `rrm-eval ppe-pairs` end to end with the scripted driver (no model weights)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from helpers import cli, read_jsonl, run_cli

from rrm_eval import ppe_dataset as ppe

FIX = Path(__file__).parent / "fixtures" / "ppe"
_spec = importlib.util.spec_from_file_location("ppe_synth", FIX / "synth.py")
synth = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synth)


def ppe_args(tmp_path: Path, *extra: str, subset: str = "MATH", model: str = "scripted:marker") -> list[str]:
    return [
        "ppe",
        "--subset",
        subset,
        "--data",
        str(FIX),
        "--pairs",
        str(FIX / f"{subset}_pairs.json"),
        "--model",
        model,
        "--output-dir",
        str(tmp_path),
        "--run-name",
        "run",
        "--quiet",
        *extra,
    ]


def records(run_dir: Path) -> list[dict]:
    return read_jsonl(run_dir / "records.jsonl")


def test_all_rounds_with_the_marker_judge(tmp_path):
    res = cli(*ppe_args(tmp_path, "--rounds", "all"))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "PPE MATH: accuracy per round" in out and "mean" in out and "RRM-7B 89.65" in out
    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["scores"]["rounds"] == {f"round_{r}": 1.0 for r in range(1, 6)}
    assert summary["scores"]["overall"] == 1.0
    recs = records(run)
    assert len(recs) == 20
    rec = next(r for r in recs if r["item_id"] == "math-fx-002:r3")
    assert rec["meta"] == {
        "ppe_subset": "MATH",
        "question_id": "math-fx-002",
        "row": 2,
        "round": 3,
        "pair": [7, 31],
        "chosen_index": 7,
        "rejected_index": 31,
    }
    spec = json.loads((run / "spec.json").read_text())
    assert spec["task"]["extra"]["subset"] == "MATH" and spec["task"]["extra"]["rounds"] == "all"
    # Same command again: everything is reused, nothing judged twice.
    assert cli(*ppe_args(tmp_path, "--rounds", "all")).returncode == 0
    assert json.loads((run / "run_stats.json").read_text())["records_written"] == 0
    assert len(records(run)) == 20


def test_round_mean_matches_records(tmp_path):
    """scripted:first is right exactly when the chosen response is shown first; the per-round numbers and their
    mean must agree with a count over the records."""
    assert cli(*ppe_args(tmp_path, "--round", "1,2,4", subset="GPQA", model="scripted:first")).returncode == 0
    run = tmp_path / "run"
    recs = records(run)
    assert sorted({r["subset"] for r in recs}) == ["round_1", "round_2", "round_4"]
    expected = {}
    for rnd in ("round_1", "round_2", "round_4"):
        rs = [r for r in recs if r["subset"] == rnd]
        expected[rnd] = sum(r["order"] == "AB" for r in rs) / len(rs)
    scores = json.loads((run / "summary.json").read_text())["scores"]
    assert scores["rounds"] == pytest.approx(expected)
    assert scores["overall"] == pytest.approx(sum(expected.values()) / 3)
    # Rescoring from the records alone reproduces the per-round scores.
    assert cli("rescore", str(run)).returncode == 0
    rescored = json.loads((run / "summary.rescored.json").read_text())
    assert rescored["scores"]["rounds"] == pytest.approx(expected)


def test_seed_changes_orders_reproducibly(tmp_path):
    orders = []
    for seed, name in (("0", "a"), ("1", "b"), ("0", "c")):
        args = ppe_args(tmp_path, "--seed", seed, subset="MMLU")
        args[args.index("--run-name") + 1] = name
        assert cli(*args).returncode == 0
        orders.append([(r["item_id"], r["order"]) for r in records(tmp_path / name)])
    assert orders[0] == orders[2] != orders[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--round", "6"], "round 6 is outside 1..5"),
        (["--round", "0"], "round 0 is outside 1..5"),
        (["--round", "two"], "round 'two' is not a number"),
    ],
)
def test_bad_rounds_are_clear_errors(tmp_path, args, message):
    argv = ppe_args(tmp_path, *args)
    pairs_at = argv.index("--pairs")
    del argv[pairs_at : pairs_at + 2]  # published pairs: rounds 1..5
    res = cli(*argv)
    assert res.returncode == 2
    assert f"error: {message}" in res.stderr
    assert not (tmp_path / "run").exists()


def test_unknown_subset_and_conflicting_round_flags(tmp_path):
    res = cli(*ppe_args(tmp_path, subset="MATHS"))
    assert res.returncode == 2
    err = res.stderr
    assert "unknown PPE subset 'MATHS'" in err and "did you mean 'MATH'" in err
    assert cli(*ppe_args(tmp_path, "--round", "1", "--rounds", "all")).returncode == 2  # argparse: exclusive flags


def test_generic_pairwise_command_points_to_ppe():
    res = cli("pairwise", "--task", "ppe", "--model", "scripted:first", "--quiet")
    assert res.returncode == 2
    captured = res.stderr
    assert "needs a subset" in captured and "rrm-eval ppe --subset" in captured


def test_ppe_pairs_check_and_draw(tmp_path):
    published = [[list(p) for p in e] for e in ppe.published_pairs(ppe.resolve_subset("MMLU")).pairs]
    synth.write_jsonl(tmp_path / "PPE-MMLU-Pro-Best-of-K.jsonl", synth.synthetic_rows("MMLU", published))
    res = cli("ppe-pairs", "--subset", "mmlu-pro", "--data", str(tmp_path))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "512 rows; every published pair of rounds 1-5 is a conflict (2560 pairs, 18 repeated" in out

    out_file = tmp_path / "drawn.json"
    argv = [
        "ppe-pairs",
        "--subset",
        "GPQA",
        "--data",
        str(FIX),
        "-o",
        str(out_file),
        "--seed",
        "7",
        "--per-prompt",
        "3",
    ]
    res = cli(*argv)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out_file.read_text())
    assert doc["question_ids"] == [f"gpqa-fx-00{n}" for n in range(4)]
    assert doc["seed"] == 7 and [len(e) for e in doc["pairs"]] == [3, 3, 3, 3]
    assert "wrote" in res.stdout
    run_argv = ppe_args(tmp_path, subset="GPQA")
    run_argv[run_argv.index("--pairs") + 1] = str(out_file)
    assert cli(*run_argv).returncode == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["scores"]["n_rounds"] == 3


def test_ppe_pairs_check_reports_the_bad_row(tmp_path):
    published = [[list(p) for p in e] for e in ppe.published_pairs(ppe.resolve_subset("GPQA")).pairs]
    rows = synth.synthetic_rows("GPQA", published)
    rows[100]["scores"] = [True] * 32
    synth.write_jsonl(tmp_path / "GPQA.jsonl", rows)
    res = cli("ppe-pairs", "--subset", "GPQA", "--data", str(tmp_path))
    assert res.returncode == 2
    err = res.stderr
    assert "row #100 (question_id gpqa-syn-100)" in err and "both responses are correct" in err


def test_default_source_is_the_hub_set(tmp_path):
    """Without --data the task asks the hub for the right set and split; offline, that is one clear error.

    A fresh process: the hub libraries read HF_HOME when imported, and only an empty cache of our own makes sure no
    copy the machine already holds answers instead."""
    env = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    argv = ["ppe", "--subset", "mmlu-pro", "--round", "1", "--model", "scripted:first"]
    proc = run_cli(*argv, "--quiet", env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2
    assert "cannot load 'lmarena-ai/PPE-MMLU-Pro-Best-of-K' (split 'train') from the hub" in proc.stderr
    assert "--data" in proc.stderr and "Traceback" not in proc.stderr

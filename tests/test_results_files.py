"""reward-bench's result file layouts (the interop tests check them against reward-bench itself)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import cli, only_run

from rrm_eval.tasks._results_files import leaderboard_id, model_results, v1_item_scores, v2_item_scores


def test_per_model_results_have_exactly_reward_benchs_keys() -> None:
    out = model_results("org/m", {"hep-go": 0.5, "alpacaeval-easy": 1})
    assert out == {
        "alpacaeval-easy": 1.0,
        "chat_template": None,
        "hep-go": 0.5,
        "model": "org/m",
        "model_type": "Generative RM",
    }
    with pytest.raises(ValueError, match="clash"):
        model_results("org/m", {"model": 0.5})


def test_v1_per_item_file_is_column_oriented_in_dataset_order() -> None:
    out = v1_item_scores("org/m", [("7", "hep-go", 1, "q", "a", "b"), ("x-2", "math-prm", 0.5, "q2", "c", "d")])
    assert out["id"] == [7, "x-2"] and out["subset"] == ["hep-go", "math-prm"] and out["results"] == [1.0, 0.5]
    assert out["text_rejected"][1] == [{"role": "user", "content": "q2"}, {"role": "assistant", "content": "d"}]
    assert out["model"] == "org/m" and out["model_type"] == "Generative RM"
    assert leaderboard_id("0012") == 12 and leaderboard_id("tied:3") == "tied:3"


def test_v2_per_item_file_nulls_the_columns_a_row_lacks() -> None:
    rows = [
        {"id": "1", "subset": "Math", "num_correct": 1, "results": 0.5},
        {"id": "tied:3", "subset": "Ties", "num_correct": 2, "scores": [9, 8, 3]},
    ]
    out = v2_item_scores("org/m", rows)
    assert out["results"] == [0.5, None] and out["scores"] == [None, [9, 8, 3]] and out["num_correct"] == [1, 2]
    with pytest.raises(ValueError, match="#0 lacks"):
        v2_item_scores("org/m", [{"id": "1", "subset": "Math", "num_correct": 1}])


def test_every_rewardbench_run_writes_both_files(tmp_path: Path, marked_pairs: Path) -> None:
    res = cli(
        "pairwise",
        "--dataset",
        "rewardbench",
        "--data",
        str(marked_pairs),
        "--model",
        "scripted:marker",
        "--judge",
        "rrm",
        "--order",
        "both",
        "--output-dir",
        str(tmp_path),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    run = only_run(tmp_path)
    results = json.loads((run / "results.json").read_text())
    per_item = json.loads((run / "results_per_item.json").read_text())
    assert "judge" not in results  # a string column breaks reward-bench's leaderboard loader (np.nanmean)
    assert len(per_item["id"]) == 40 and per_item["id"][:3] == [0, 1, 2] and set(per_item["results"]) == {1.0}
    for subset in set(per_item["subset"]):
        scores = [r for r, s in zip(per_item["results"], per_item["subset"], strict=True) if s == subset]
        assert results[subset] == sum(scores) / len(scores)

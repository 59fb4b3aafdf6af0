"""RewardBench 2 runs write reward-bench's v2 leaderboard files (tests/interop checks them against reward-bench)."""

from __future__ import annotations

import json

import pytest

import rrm_eval
from rrm_eval import BestOfConfig, BestOfRunConfig
from rrm_eval.models import Model
from rrm_eval.models._scripted import ScriptedDriver
from rrm_eval.tasks import TaskOptions
from rrm_eval.tasks._results_files import model_results, v2_item_scores
from rrm_eval.tasks._rewardbench2 import SUBSETS, leaderboard_item_rows, load_rewardbench2

ITEMS = load_rewardbench2("rewardbench2-sample", TaskOptions()).items


def _rating(prompt: str, sample: int, seed: int) -> str:
    # "Rating: 5" for everything, except the one response below, which gets no readable rating.
    return "no idea" if UNRATED in prompt else "Rating: 5"


TIED47 = next(i for i in ITEMS if i.id == "tied:47")
UNRATED = TIED47.completions[0]  # a correct completion of a tied row: a failed rating counts as 0 there


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory):
    cfg = BestOfRunConfig(
        model="scripted:custom",
        task="rewardbench2-sample",
        protocol=BestOfConfig(mode="ratings", seed=0),
        output_dir=str(tmp_path_factory.mktemp("rb2")),
    )
    return rrm_eval.evaluate_bestof(cfg, model=Model(ScriptedDriver("custom", respond=_rating))).run_dir


def test_results_file_is_numbers_only_without_an_overall(run_dir) -> None:
    results = json.loads((run_dir / "results.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(results) == {"model", "model_type", "chat_template", *SUBSETS}  # the leaderboard averages the rest
    assert results["model_type"] == "Generative RM" and results["chat_template"] is None
    assert {s: results[s] for s in SUBSETS} == {s: v["score"] for s, v in summary["subsets"].items()}
    assert list(results) == sorted(results)


def test_per_item_file_has_reward_benchs_v2_layout(run_dir) -> None:
    per_item = json.loads((run_dir / "results_per_item.json").read_text())
    assert set(per_item) == {"id", "subset", "num_correct", "texts_chosen", "texts_rejected", "results", "scores",
                             "model", "model_type"}  # fmt: skip
    n = len(per_item["id"])
    assert n == 44 and all(len(per_item[k]) == n for k in per_item if k not in ("model", "model_type"))
    # Non-Ties rows first (in dataset order), then the Ties rows, as run_generative_v2.py concatenates them.
    first_ties = per_item["subset"].index("Ties")
    assert first_ties == 29 and set(per_item["subset"][first_ties:]) == {"Ties"}
    assert per_item["id"][:first_ties] == [i.id for i in ITEMS if not i.is_ties]
    assert all(isinstance(i, str) for i in per_item["id"])  # "ref:43" cannot be an int: v2 ids stay strings
    # results on non-Ties rows only, scores on Ties rows only; null elsewhere.
    assert all(r == 0.25 for r in per_item["results"][:first_ties])  # every rating 5: four-way tie at the top
    assert per_item["results"][first_ties:] == [None] * 15 and per_item["scores"][:first_ties] == [None] * 29
    k = per_item["id"].index("tied:47")
    assert per_item["num_correct"][k] == TIED47.num_correct
    assert len(per_item["texts_chosen"][k]) == TIED47.num_correct
    assert len(per_item["texts_chosen"][k]) + len(per_item["texts_rejected"][k]) == len(TIED47.completions)
    assert per_item["texts_chosen"][k][0] == [
        {"role": "user", "content": TIED47.prompt},
        {"role": "assistant", "content": TIED47.completions[0]},
    ]
    # The failed rating is written as the value our scoring used (0 for a correct completion), never as null.
    assert per_item["scores"][k][0] == 0 and set(per_item["scores"][k][1:]) == {5}


def test_unscored_items_are_left_out_of_the_per_item_rows() -> None:
    math = next(i for i in ITEMS if i.subset == "Math")
    summary = {"item_scores": {"Math": {math.id: 1.0}}, "ties_ratings": {}}
    rows = leaderboard_item_rows(ITEMS, summary)
    assert [r["id"] for r in rows] == [math.id] and rows[0]["results"] == 1.0 and "scores" not in rows[0]


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ({"id": "1", "subset": "Math", "num_correct": 1, "results": None}, "results must be a number"),
        ({"id": "1", "subset": "Math", "num_correct": 1, "results": float("nan")}, "results must be a number"),
        ({"id": "tied:1", "subset": "Ties", "num_correct": 2, "scores": [9, None, 3]}, "scores must be a list"),
        ({"id": "tied:1", "subset": "Ties", "num_correct": 2, "scores": []}, "scores must be a list"),
    ],
)
def test_v2_rows_reward_bench_could_not_score_are_refused(row, needle) -> None:
    with pytest.raises(ValueError, match=needle):
        v2_item_scores("org/m", [row])


def test_per_model_scores_must_be_numbers() -> None:
    with pytest.raises(ValueError, match="finite numbers"):
        model_results("org/m", {"Math": None})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="finite numbers"):
        model_results("org/m", {"Math": "0.5"})  # type: ignore[dict-item]

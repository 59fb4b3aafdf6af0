"""reward-bench itself (PyPI ``rewardbench==0.1.4``) against our RewardBench v1 numbers and files.

A scripted run on the bundled 441-row real sample (all 23 subsets) writes results.json and results_per_item.json;
reward-bench's own loaders read them and reward-bench's own ``calculate_scores_per_section`` (with its
``EXAMPLE_COUNTS``, math-prm weighted 984, and ``SUBSET_MAPPING``) must give our section and overall scores to 1e-9.

reward-bench's function returns sections only; its leaderboard's overall is the plain mean of the four sections, so
that is what our overall is compared with. On a partial run both sides are fed exactly the subsets that were run:
inside a section, reward-bench weights only the subsets present in ``metrics`` (as we do); a section with no subset
present comes back as 0 from reward-bench, while we leave it out and flag it under ``incomplete_sections``. The
partial test checks that difference explicitly and compares the overall over the sections actually run.

Runs in reward-bench's venv: ``bash scripts/setup_rewardbench.sh``; skipped wherever ``rewardbench`` is missing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.rewardbench

rb_utils = pytest.importorskip(
    "rewardbench.utils", reason="rewardbench is not installed here; run bash scripts/setup_rewardbench.sh"
)
rb_constants = pytest.importorskip("rewardbench.constants", reason="rewardbench is not installed here")
# reward-bench's leaderboard loaders ship in the same wheel as the top-level package `analysis`.
rb_analysis = pytest.importorskip("analysis.utils", reason="rewardbench's analysis package is not installed here")

import rrm_eval  # noqa: E402  (after the skips: nothing to import when reward-bench is absent)
from rrm_eval.tasks import SECTIONS, SUBSET_COUNTS  # noqa: E402

TOL = 1e-9
PARTIAL = ("alpacaeval-easy", "mt-bench-med", "llmbar-natural", "math-prm", "hep-go", "hep-rust")


def _run(out: Path, subsets: tuple[str, ...] | None = None) -> rrm_eval.RunOutcome:
    # scripted:random with both orders gives item scores 0, 0.5 and 1, so the weighting is really exercised.
    cfg = rrm_eval.PairwiseRunConfig(
        model="scripted:random",
        judge="rrm",
        task="rewardbench-sample",
        task_options=rrm_eval.TaskOptions(subsets=subsets),
        protocol=rrm_eval.PairwiseConfig(order="both", seed=0),
        output_dir=str(out),
    )
    return rrm_eval.evaluate_pairwise(cfg)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> rrm_eval.RunOutcome:
    return _run(tmp_path_factory.mktemp("full"))


def _leaderboard_tree(tmp: Path, run_dir: Path, model: str = "rrm-eval-test/scripted-random") -> Path:
    """The hub layout reward-bench's loaders walk: <repo>/eval-set/<org>/<model>.json and eval-set-scores/..."""
    org, name = model.split("/")
    for sub, file in (("eval-set", "results.json"), ("eval-set-scores", "results_per_item.json")):
        (tmp / sub / org).mkdir(parents=True, exist_ok=True)
        shutil.copy(run_dir / file, tmp / sub / org / f"{name}.json")
    return tmp


def _rb_sections(metrics: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = rb_utils.calculate_scores_per_section(
        rb_constants.EXAMPLE_COUNTS, rb_constants.SUBSET_MAPPING, metrics
    )
    return out


def test_reward_bench_constants_are_ours() -> None:
    # Same subsets in the same sections, and the same weights (math-prm 984, every other subset its true count).
    assert {k: tuple(v) for k, v in rb_constants.SUBSET_MAPPING.items()} == SECTIONS
    assert rb_constants.EXAMPLE_COUNTS == {**SUBSET_COUNTS, "math-prm": 984}


def test_sections_and_overall_match_reward_bench(full_run: rrm_eval.RunOutcome, tmp_path: Path) -> None:
    ours = full_run.summary["scores"]
    assert "incomplete_sections" not in ours  # the sample has every subset
    # reward-bench's leaderboard loader reads our per-model file (it would choke on a stray text column).
    df = rb_analysis.load_results(_leaderboard_tree(tmp_path, full_run.run_dir), subdir="eval-set/")
    assert len(df) == 1
    row = df.iloc[0].to_dict()
    assert row["model_type"] == "Generative"  # the loader's own relabelling of "Generative RM"
    metrics = {s: float(row[s]) for s in rb_constants.EXAMPLE_COUNTS}
    rb = _rb_sections(metrics)
    assert set(rb) == set(ours["sections"])
    for section, value in rb.items():
        assert abs(value - ours["sections"][section]) < TOL, section
    assert abs(sum(rb.values()) / 4 - ours["overall"]) < TOL
    # Not a vacuous match: the scripted judge is far from perfect and differs across sections.
    assert 0.2 < ours["overall"] < 0.8 and len({round(v, 6) for v in rb.values()}) > 1


def test_per_item_file_is_what_reward_bench_reads(full_run: rrm_eval.RunOutcome, tmp_path: Path) -> None:
    df = rb_analysis.load_scores(_leaderboard_tree(tmp_path, full_run.run_dir), subdir="eval-set-scores/")
    assert len(df) == full_run.summary["n_items"] == 441
    assert {"id", "subset", "results", "text_chosen", "text_rejected", "model", "model_type"} <= set(df.columns)
    assert set(df["results"].unique()) <= {0.0, 0.5, 1.0} and df["results"].nunique() == 3
    # reward-bench's way from the per-item file to subset accuracies: mean of `results` per subset.
    per_subset = df.groupby("subset")["results"].mean().to_dict()
    results = json.loads((full_run.run_dir / "results.json").read_text())
    for subset, acc in per_subset.items():
        assert abs(acc - results[subset]) < TOL, subset
    rb = _rb_sections(per_subset)
    for section, value in rb.items():
        assert abs(value - full_run.summary["scores"]["sections"][section]) < TOL, section
    # ids join with reward-bench's dataset (integers there) and match our records one to one.
    records = rrm_eval.load_run_records(full_run.run_dir)
    assert {str(i) for i in df["id"]} == {r.item_id for r in records}
    first = df.iloc[0]
    assert first["text_chosen"][0]["role"] == "user" and first["text_chosen"][1]["role"] == "assistant"


def test_partial_run_fed_the_same_subsets(tmp_path: Path) -> None:
    outcome = _run(tmp_path, PARTIAL)
    ours = outcome.summary["scores"]
    results = json.loads((outcome.run_dir / "results.json").read_text())
    metrics = {s: results[s] for s in PARTIAL}
    assert set(results) - {"model", "model_type", "chat_template"} == set(PARTIAL)
    rb = _rb_sections(metrics)
    run_sections = {sec for sec, subs in SECTIONS.items() if set(subs) & set(PARTIAL)}
    assert set(ours["sections"]) == run_sections == {"Chat", "Chat Hard", "Reasoning"}
    for section in run_sections:
        assert abs(rb[section] - ours["sections"][section]) < TOL, section
    # The difference, stated: reward-bench scores a section with nothing run as 0; we leave it out and flag it.
    assert rb["Safety"] == 0 and "Safety" in ours["incomplete_sections"]
    assert abs(sum(rb[s] for s in run_sections) / len(run_sections) - ours["overall"]) < TOL

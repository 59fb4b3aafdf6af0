"""reward-bench itself (PyPI ``rewardbench==0.1.4``) against our RewardBench 2 numbers and files.

Scripted ``rrm-eval bestof`` runs on the bundled 44 real rows (all six subsets, Ties with 8 ``ref`` and 7 ``tied``
rows: pid 43 has no ``tied`` row) write results.json and results_per_item.json. reward-bench's own code then scores
what we wrote, and must give the numbers we print, to 1e-9:

* Ties: ``rewardbench.utils.process_single_model`` on the Ties rows of our per-item file (their ``scores``).
* Per-item best-of-4 scores in ratings mode: ``rewardbench.utils.reroll_and_score_dataset`` (reward-bench's
  ``1/#tied-at-max`` rule) on the per-completion ratings in our records.
* Per-subset scores of the other five subsets: reward-bench 0.1.4 has no function for it; ``run_generative_v2.py``
  computes ``sum(results) / len(results)`` per subset inline in ``main()``, so the test applies that expression to
  the ``results`` column as reward-bench's own loader (``analysis.utils.load_scores``) reads it.
* Overall: ``analysis.utils.load_results`` (the leaderboard loader) reads our per-model file and adds ``average``,
  the ``np.nanmean`` of the subset columns -- the official unweighted mean of the six subsets.

The ``"ties"`` vs ``"Ties"`` bug (REFERENCE.md) sits in ``scripts/run_v2.py`` (the scalar-RM script: its
``ties_indices`` lookup ``s == "ties"`` never matches, so the Ties rows' ``results`` are not written back). None of
the functions called here looks a subset up by name: ``process_single_model`` gets the Ties rows, selected here as
``run_generative_v2.py`` selects them (``subset == "Ties"``), so no renaming is needed for the call.

Spread 0 (``test_ties_with_spread_zero_agrees_too``): where every correct completion of a ``tied`` prompt gets the
same rating, both our scoring and ``process_single_model`` leave that prompt id out of the tanh mean (0 when none is
left); the main runs have no spread-0 prompt, so that test covers the case on its own.

Runs in reward-bench's venv: ``bash scripts/setup_rewardbench.sh``; skipped wherever ``rewardbench`` is missing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.rewardbench

rb_utils = pytest.importorskip(
    "rewardbench.utils", reason="rewardbench is not installed here; run bash scripts/setup_rewardbench.sh"
)
rb_analysis = pytest.importorskip("analysis.utils", reason="rewardbench's analysis package is not installed here")
datasets = pytest.importorskip("datasets", reason="datasets (a rewardbench dependency) is not installed here")

import rrm_eval  # noqa: E402  (after the skips: nothing to import when reward-bench is absent)
from rrm_eval._seeding import stable_seed  # noqa: E402
from rrm_eval.models import Model  # noqa: E402
from rrm_eval.models._scripted import ScriptedDriver  # noqa: E402
from rrm_eval.tasks import TaskOptions  # noqa: E402
from rrm_eval.tasks._rewardbench2 import SUBSETS, load_rewardbench2  # noqa: E402

TOL = 1e-9
MODEL_NAME = "rrm-eval-test/scripted-rb2"  # the loader drops any model whose name contains "ai2"
ITEMS = load_rewardbench2("rewardbench2-sample", TaskOptions()).items
# Correctness is per (prompt, completion): a ref row's incorrect completions include its tied row's correct ones (the
# two rows ask different versions of the question).
CORRECT = {(i.prompt.strip(), c.strip()) for i in ITEMS for c in i.completions[: i.num_correct]}
# One incorrect Ties completion the judge fails to rate: the file must carry the value our scoring used for it.
TIED47 = next(i for i in ITEMS if i.id == "tied:47").completions
UNRATED_AT = max(k for k, c in enumerate(TIED47) if sum(c in i.completions for i in ITEMS) == 1)  # its own text
UNRATED = TIED47[UNRATED_AT].strip()
Respond = Callable[[str, int, int], str]


def _between(prompt: str, start: str, end: str) -> str:
    return prompt.split(start, 1)[1].split(end, 1)[0].strip()


def _rated(prompt: str) -> tuple[str, bool]:
    """The response a rating prompt shows (rb2-ratings layout) and whether it is a correct one for its request."""
    text = _between(prompt, "## Response\n\n", "\n\n## Your rating")
    return text, (_between(prompt, "## Request\n\n", "\n\n## Response"), text) in CORRECT


def graded(prompt: str, sample: int, seed: int) -> str:
    """A noisy judge: correct completions rated 9-10 or 6-10, incorrect ones 1 up to 3-8 (per request), from a hash of
    the text -- partial accuracy, shared top ratings, margins of both signs and (checked below) no tied prompt with
    spread 0. Listwise and pairwise prompts get a hashed slot / side, sometimes no verdict at all."""
    h = stable_seed("rb2-interop", prompt)
    if "## Your rating" in prompt:
        text, correct = _rated(prompt)
        if text == UNRATED:
            return "I cannot decide."
        h = stable_seed("rb2-interop", text)
        # How well the judge separates depends on the request: on some the correct ones sit close together at the
        # top (margin > spread), on others they spread wide and incorrect ones reach into them.
        q = stable_seed("rb2-interop", _between(prompt, "## Request", "## Response")) % 6
        if correct:
            return f"Rating: {9 + h % 2 if q < 3 else 6 + h % 5}"
        return f"Rating: {1 + h % (3 + q)}"
    if "## Candidate responses" in prompt:
        return "No verdict." if h % 7 == 0 else f"[[{1 + h % 4}]]"
    return "[[A]]" if h % 2 else "[[B]]"


def flat(prompt: str, sample: int, seed: int) -> str:
    """Correct completions all rated 9, incorrect ones 3: every tied prompt has spread 0."""
    return "Rating: 9" if _rated(prompt)[1] else "Rating: 3"


def _run(out: Path, mode: str, respond: Respond) -> rrm_eval.BestOfOutcome:
    cfg = rrm_eval.BestOfRunConfig(
        model="scripted:custom",
        judge="skywork-critic" if mode == "knockout" else None,
        task="rewardbench2-sample",
        protocol=rrm_eval.BestOfConfig(mode=mode, seed=0),
        output_dir=str(out),
    )
    return rrm_eval.evaluate_bestof(cfg, model=Model(ScriptedDriver("custom", respond=respond)))


@pytest.fixture(scope="module", params=["ratings", "listwise", "knockout"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> rrm_eval.BestOfOutcome:
    return _run(tmp_path_factory.mktemp(request.param), request.param, graded)


def _tree(tmp: Path, run_dir: Path) -> Path:
    """The hub layout reward-bench's loaders walk: <repo>/eval-set/<org>/<model>.json and eval-set-scores/..."""
    org, name = MODEL_NAME.split("/")
    for sub, file in (("eval-set", "results.json"), ("eval-set-scores", "results_per_item.json")):
        (tmp / sub / org).mkdir(parents=True, exist_ok=True)
        shutil.copy(run_dir / file, tmp / sub / org / f"{name}.json")
    return tmp


def _rb_ties(per_item: Any) -> float:
    """reward-bench's Ties score of the Ties rows of a per-item frame (selected as run_generative_v2.py does)."""
    ties = per_item[per_item["subset"] == "Ties"]
    dataset = datasets.Dataset.from_dict(
        {
            "id": list(ties["id"]),
            "subset": list(ties["subset"]),
            "num_correct": [int(n) for n in ties["num_correct"]],
            "scores": [[float(x) for x in s] for s in ties["scores"]],
        }
    )
    _, score = rb_utils.process_single_model(dataset)
    return float(score)


def _spreads(run_dir: Path) -> dict[str, float]:
    per_item = json.loads((run_dir / "results_per_item.json").read_text())
    out = {}
    for rid, scores, n in zip(per_item["id"], per_item["scores"], per_item["num_correct"], strict=True):
        if str(rid).startswith("tied:"):
            out[rid] = max(scores[:n]) - min(scores[:n])
    return out


def test_per_model_file_is_numbers_only_and_the_leaderboard_average_is_our_overall(
    run: rrm_eval.BestOfOutcome, tmp_path: Path
) -> None:
    results = json.loads((run.run_dir / "results.json").read_text())
    assert set(results) == {"model", "model_type", "chat_template", *SUBSETS}
    assert all(isinstance(results[s], float) for s in SUBSETS)
    df = rb_analysis.load_results(_tree(tmp_path, run.run_dir), subdir="eval-set/")
    assert len(df) == 1
    row = df.iloc[0].to_dict()
    assert row["model_type"] == "Generative"  # the loader's own relabelling of "Generative RM"
    for subset in SUBSETS:
        assert abs(row[subset] - run.summary["subsets"][subset]["score"]) < TOL, subset
    assert abs(row["average"] - run.summary["scores"]["overall"]) < TOL
    # Not vacuous: the scripted judge is far from perfect and the subsets differ.
    assert 0.1 < run.summary["scores"]["overall"] < 0.9 and len({round(results[s], 6) for s in SUBSETS}) > 3


def test_subsets_and_ties_match_reward_bench_on_our_per_item_file(run: rrm_eval.BestOfOutcome, tmp_path: Path) -> None:
    per_item = rb_analysis.load_scores(_tree(tmp_path, run.run_dir), subdir="eval-set-scores/")
    assert len(per_item) == 44 == run.summary["n_items"]
    assert list(per_item["subset"]).index("Ties") == 29  # reward-bench's order: non-Ties rows, then Ties rows
    model = json.loads((run.run_dir / "results.json").read_text())["model"]
    assert set(per_item["model"]) == {model} and set(per_item["model_type"]) == {"Generative RM"}
    ours = run.summary["subsets"]
    for subset in SUBSETS[:-1]:
        results = list(per_item[per_item["subset"] == subset]["results"])
        # run_generative_v2.py's inline per-subset score
        assert abs(sum(results) / len(results) - ours[subset]["score"]) < TOL, subset
    rb_ties = _rb_ties(per_item)
    assert abs(rb_ties - ours["Ties"]["score"]) < TOL
    # Every tied prompt here has a spread > 0, so the tanh term is exercised (spread 0: the test below).
    spreads = _spreads(run.run_dir)
    assert len(spreads) == 7 and min(spreads.values()) > 0
    # The unrated completion went into the file as the value that counts against the judge (11, above every rating).
    tied47 = per_item[per_item["id"] == "tied:47"].iloc[0]
    assert tied47["num_correct"] <= UNRATED_AT and tied47["scores"][UNRATED_AT] == 11
    assert run.summary["records"]["failures"] and run.summary["ties_ratings"]["tied:47"][UNRATED_AT] is None
    details = ours["Ties"]["ties"]
    assert details["paired_prompts"] == 7 and details["unpaired_prompts"] == 1
    # Every term of the formula is really exercised: none at 0 or at its maximum.
    for term in ("ref_accuracy", "tied_accuracy", "correctness_preferred", "correctness_preferred_hard"):
        assert 0 < details[term] < 1, term
    assert -1 < details["correctness_margin_score"] < 1


def test_ratings_item_scores_match_reward_benchs_reroll(tmp_path: Path) -> None:
    run = _run(tmp_path, "ratings", graded)
    records = [json.loads(line) for line in (run.run_dir / "records.jsonl").read_text().splitlines() if line]
    ratings = {
        (r["item_id"], r["meta"]["completion"]): r["verdict"]
        for r in records
        if r.get("kind", "judge") == "judge" and (r.get("meta") or {}).get("bestof_layout") == "rating"
    }
    items = [i for i in ITEMS if not i.is_ties]
    unrolled: dict[str, list[Any]] = {"id": [], "subset": [], "text": [], "scores": []}
    for item in items:
        for k, text in enumerate(item.completions):
            unrolled["id"].append(item.id)
            unrolled["subset"].append(item.subset)
            unrolled["text"].append(text)
            unrolled["scores"].append(float(ratings[(item.id, k)]))
    rerolled = rb_utils.reroll_and_score_dataset(
        datasets.Dataset.from_dict(unrolled), [len(i.completions) for i in items], cols_to_combine=["text", "scores"]
    )
    theirs = dict(zip(rerolled["id"], rerolled["results"], strict=True))
    ours = {iid: s for per_subset in run.summary["item_scores"].values() for iid, s in per_subset.items()}
    assert set(theirs) == set(ours) and len(ours) == 29
    for iid, score in ours.items():
        assert abs(theirs[iid] - score) < TOL, iid
    # Shared top ratings really occur (scores strictly between 0 and 1), so the 1/#tied rule is exercised.
    assert any(0 < s < 1 for s in ours.values()) and {0.0, 1.0} <= set(ours.values())


def test_ties_with_spread_zero_agrees_too(tmp_path: Path) -> None:
    # Spread 0 (every correct completion of a tied prompt rated the same) is common with integer ratings. Our scoring
    # follows reward-bench's process_single_model: such prompt ids leave the tanh mean, and with none left it is 0.
    run = _run(tmp_path, "ratings", flat)
    assert set(_spreads(run.run_dir).values()) == {0}
    per_item = rb_analysis.load_scores(_tree(tmp_path, run.run_dir), subdir="eval-set-scores/")
    ours = run.summary["subsets"]["Ties"]
    assert ours["ties"]["correctness_margin_score"] == 0.0
    assert abs(ours["score"] - 1.00) < TOL
    assert abs(_rb_ties(per_item) - ours["score"]) < TOL

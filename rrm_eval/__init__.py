"""rrm-eval: evaluation harness and training kit for generative reasoning reward models.

The public front door. The CLI, scripts and benches use only these names::

    import rrm_eval

    outcome = rrm_eval.evaluate_pairwise(rrm_eval.PairwiseRunConfig(model="hf:...", judge="rrm", task="rewardbench"))
    summary = rrm_eval.rescore(outcome.run_dir, failure_policy="wrong")
    records = rrm_eval.load_run_records(outcome.run_dir)      # typed JudgeRecord objects

Heavy modules load on first use of a name, so ``import rrm_eval`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    # pairwise evaluation (RewardBench, PPE, any pairwise task)
    "PairwiseRunConfig": "rrm_eval.pipelines",
    "PairwiseConfig": "rrm_eval.protocols",
    "TaskOptions": "rrm_eval.tasks",
    "RunOutcome": "rrm_eval.pipelines",
    "evaluate_pairwise": "rrm_eval.pipelines",
    "build_summary": "rrm_eval.pipelines",
    # thinking-budget sweeps
    "SweepConfig": "rrm_eval.pipelines.sweep",
    "SweepOutcome": "rrm_eval.pipelines.sweep",
    "think_budget_sweep": "rrm_eval.pipelines.sweep",
    "ThinkBudget": "rrm_eval.protocols._modes",
    # tournaments and candidates
    "TournamentRunConfig": "rrm_eval.pipelines",
    "TournamentConfig": "rrm_eval.protocols",
    "TournamentOutcome": "rrm_eval.pipelines",
    "run_tournament_eval": "rrm_eval.pipelines",
    "rival_results": "rrm_eval.pipelines",
    "accuracy_results": "rrm_eval.pipelines",
    "CandidateGenConfig": "rrm_eval.pipelines",
    "CandidateGenOutcome": "rrm_eval.pipelines",
    "COT_SYSTEM": "rrm_eval.pipelines",
    "ACCURACY": "rrm_eval.pipelines",
    "generate_candidates": "rrm_eval.pipelines",
    # best-of-N (RewardBench 2)
    "BestOfRunConfig": "rrm_eval.pipelines.bestof",
    "BestOfConfig": "rrm_eval.protocols._bestof",
    "BestOfOutcome": "rrm_eval.pipelines.bestof",
    "evaluate_bestof": "rrm_eval.pipelines.bestof",
    "rescore_bestof": "rrm_eval.pipelines.bestof",
    # runs, records, re-scoring
    "rescore": "rrm_eval._public",
    "load_run_records": "rrm_eval._public",
    "run_spec": "rrm_eval.pipelines",
    "compare_runs": "rrm_eval.pipelines",
    "JudgeRecord": "rrm_eval.runs",
    "SampleRecord": "rrm_eval.runs",
    "AdvanceRecord": "rrm_eval.runs",
    "Run": "rrm_eval.runs",
    # building blocks
    "load_model": "rrm_eval.models",
    "load_judge": "rrm_eval.judges",
    "get_task": "rrm_eval.tasks",
    "RRMError": "rrm_eval._errors",
    "MODES": "rrm_eval.protocols",
    "SCHEDULES": "rrm_eval.protocols",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rrm_eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

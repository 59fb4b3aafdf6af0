"""Pipelines: the end-to-end commands (pairwise evaluation, tournaments, candidate generation) built on the run
lifecycle (:class:`rrm_eval.runs.Run`). The public entry points are re-exported from :mod:`rrm_eval`."""

from rrm_eval.pipelines.candidates import (
    COT_SYSTEM,
    CandidateGenConfig,
    CandidateGenOutcome,
    generate_candidates,
    read_problems,
)
from rrm_eval.pipelines.compare import compare_runs
from rrm_eval.pipelines.pairwise import (
    RESULTS,
    PairwiseRunConfig,
    RunOutcome,
    build_summary,
    evaluate_pairwise,
    rescore_run,
    run_spec,
)
from rrm_eval.pipelines.tournament import (
    ACCURACY,
    CANDIDATES,
    RATINGS,
    RIVALS,
    TournamentOutcome,
    TournamentRunConfig,
    accuracy_results,
    rival_results,
    run_tournament_eval,
)

__all__ = [
    "ACCURACY",
    "CANDIDATES",
    "COT_SYSTEM",
    "RATINGS",
    "RESULTS",
    "RIVALS",
    "CandidateGenConfig",
    "CandidateGenOutcome",
    "PairwiseRunConfig",
    "RunOutcome",
    "TournamentOutcome",
    "TournamentRunConfig",
    "accuracy_results",
    "build_summary",
    "compare_runs",
    "evaluate_pairwise",
    "generate_candidates",
    "read_problems",
    "rescore_run",
    "rival_results",
    "run_spec",
    "run_tournament_eval",
]

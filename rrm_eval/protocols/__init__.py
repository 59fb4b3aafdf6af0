"""Protocols: how judges meet items. They emit records; they never compute scores."""

from rrm_eval.protocols._pairwise import (
    ORDERS,
    PairwiseConfig,
    PlannedCall,
    generation_records,
    logprob_record,
    parse_completion,
    plan_calls,
    presentation_orders,
    run_pairwise,
    sampling_for,
)
from rrm_eval.protocols._tournament import (  # tournaments over candidate sets
    GAMES_PER_MATCH,
    PLANNERS,
    SCHEDULES,
    SHIPPED_BRACKETS,
    Bracket,
    GamePlan,
    TournamentConfig,
    expected_games,
    load_bracket,
    parse_bracket,
    random_slots,
    record_winner,
    run_tournament,
)

__all__ = [
    "ORDERS",
    "PairwiseConfig",
    "PlannedCall",
    "generation_records",
    "logprob_record",
    "parse_completion",
    "plan_calls",
    "presentation_orders",
    "run_pairwise",
    "sampling_for",
]
__all__ += [  # tournaments
    "GAMES_PER_MATCH",
    "PLANNERS",
    "SCHEDULES",
    "SHIPPED_BRACKETS",
    "Bracket",
    "GamePlan",
    "TournamentConfig",
    "expected_games",
    "load_bracket",
    "parse_bracket",
    "random_slots",
    "record_winner",
    "run_tournament",
]

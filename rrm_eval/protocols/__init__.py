"""Protocols: how judges meet items. They emit records; they never compute scores.

Judge modes (:data:`MODES`: generate, logprob, reason) and tournament schedules (:data:`SCHEDULES`: round-robin,
knockout, swiss) are registries; both protocols judge through the same modes.
"""

from rrm_eval.protocols import (
    _bestof,  # noqa: F401 - registers the ``listwise`` and ``rating`` modes
    _reasoning,  # noqa: F401 - registers the ``reason`` mode
)
from rrm_eval.protocols._modes import (
    MODES,
    JudgeMode,
    PlannedCall,
    check_mode_fits,
    check_modes_match,
    completion_record,
    judge_calls,
    logprob_record,
    mode_of,
    parse_completion,
    register_mode,
)
from rrm_eval.protocols._pairwise import (
    ORDERS,
    PairwiseConfig,
    check_sampling_overrides,
    expected_records,
    plan_calls,
    presentation_orders,
    run_pairwise,
    sampling_for,
)
from rrm_eval.protocols._reasoning import (
    REASON_ROLE,
    VERDICT_MAX_NEW_TOKENS,
    TwoPhase,
    check_reason_template,
    reason_then_verdict,
)
from rrm_eval.protocols._tournament import (  # tournaments over candidate sets
    GAMES_PER_MATCH,
    SCHEDULES,
    SHIPPED_BRACKETS,
    AdvanceLog,
    Bracket,
    GamePlan,
    Schedule,
    TournamentConfig,
    expected_games,
    load_bracket,
    parse_bracket,
    random_slots,
    record_winner,
    run_tournament,
)

__all__ = [
    "GAMES_PER_MATCH",
    "MODES",
    "ORDERS",
    "REASON_ROLE",
    "SCHEDULES",
    "SHIPPED_BRACKETS",
    "VERDICT_MAX_NEW_TOKENS",
    "AdvanceLog",
    "Bracket",
    "GamePlan",
    "JudgeMode",
    "PairwiseConfig",
    "PlannedCall",
    "Schedule",
    "TournamentConfig",
    "TwoPhase",
    "check_mode_fits",
    "check_modes_match",
    "check_reason_template",
    "check_sampling_overrides",
    "completion_record",
    "expected_games",
    "expected_records",
    "judge_calls",
    "load_bracket",
    "logprob_record",
    "mode_of",
    "parse_bracket",
    "parse_completion",
    "plan_calls",
    "presentation_orders",
    "random_slots",
    "reason_then_verdict",
    "record_winner",
    "register_mode",
    "run_pairwise",
    "run_tournament",
    "sampling_for",
]

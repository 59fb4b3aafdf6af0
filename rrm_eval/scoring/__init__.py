"""Scoring: pure functions over records (accuracy with failure policy, section scores, rates)."""

from rrm_eval.scoring._pairwise import (
    FAILURE_POLICIES,
    FAILURE_SCORE,
    ItemScore,
    chosen_position,
    presentation_score,
    record_outcome,
    record_stats,
    score_items,
    summarize_pairwise,
)

__all__ = [
    "FAILURE_POLICIES",
    "FAILURE_SCORE",
    "ItemScore",
    "chosen_position",
    "presentation_score",
    "record_outcome",
    "record_stats",
    "score_items",
    "summarize_pairwise",
]

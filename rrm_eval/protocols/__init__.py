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

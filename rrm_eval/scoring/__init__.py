"""Scoring: pure functions over records (accuracy with failure policy, section scores, rates)."""

from rrm_eval.scoring._bestofn import SELECTORS, best_of_n, majority_vote, rate_set, rival_rows
from rrm_eval.scoring._intervals import (  # bootstrap intervals and paired tests
    BOOTSTRAP_RESAMPLES,
    Intervals,
    PairedIntervals,
    bootstrap_intervals,
    mcnemar_exact,
    paired_bootstrap,
    score_dependencies,
    score_leaves,
    sign_test,
)
from rrm_eval.scoring._pairwise import (
    FAILURE_POLICIES,
    FAILURE_SCORE,
    ITEM_RULES,
    ItemScore,
    chosen_position,
    presentation_score,
    record_outcome,
    record_stats,
    score_items,
    summarize_pairwise,
)
from rrm_eval.scoring._ratings import (  # tournaments: ratings and the unreadable-verdict policy
    ELO_DEFAULTS,
    VERDICT_POLICIES,
    Game,
    bradley_terry,
    bradley_terry_bootstrap,
    elo,
    match_winner,
    resolve_games,
    select_winner,
    shuffled,
    win_counts,
)

__all__ = [
    "FAILURE_POLICIES",
    "FAILURE_SCORE",
    "ITEM_RULES",
    "ItemScore",
    "chosen_position",
    "presentation_score",
    "record_outcome",
    "record_stats",
    "score_items",
    "summarize_pairwise",
]
__all__ += [  # intervals and paired tests
    "BOOTSTRAP_RESAMPLES",
    "Intervals",
    "PairedIntervals",
    "bootstrap_intervals",
    "mcnemar_exact",
    "paired_bootstrap",
    "score_dependencies",
    "score_leaves",
    "sign_test",
]
__all__ += [  # tournaments
    "ELO_DEFAULTS",
    "SELECTORS",
    "VERDICT_POLICIES",
    "Game",
    "best_of_n",
    "bradley_terry",
    "bradley_terry_bootstrap",
    "elo",
    "majority_vote",
    "match_winner",
    "rate_set",
    "resolve_games",
    "rival_rows",
    "select_winner",
    "shuffled",
    "win_counts",
]

"""Tasks: data sources turned into items, with each benchmark's scoring rule."""

from rrm_eval.tasks import (
    _ppe,  # noqa: F401  (registers the PPE correctness-pairs task)
    _rewardbench,  # noqa: F401  (registers the RewardBench tasks)
)
from rrm_eval.tasks._base import TASKS, LoadedItems, PairwiseTask, TaskOptions, register_task, select
from rrm_eval.tasks._candidates import (  # candidate sets for tournaments
    CANDIDATE_FORMATS,
    LoadedCandidates,
    answers_match,
    extract_boxed,
    load_candidate_sets,
    normalize_answer,
    set_to_row,
    write_candidate_sets,
)
from rrm_eval.tasks._items import Candidate, CandidateSet, PairwiseItem
from rrm_eval.tasks._loading import fingerprint_rows, load_hub, read_rows, require_text
from rrm_eval.tasks._rewardbench import SECTION_WEIGHTS, SECTIONS, SUBSET_COUNTS, section_scores


def get_task(name: str) -> PairwiseTask:
    return TASKS.get(name)


__all__ = [
    "SECTIONS",
    "SECTION_WEIGHTS",
    "SUBSET_COUNTS",
    "TASKS",
    "Candidate",
    "CandidateSet",
    "LoadedItems",
    "PairwiseItem",
    "PairwiseTask",
    "TaskOptions",
    "fingerprint_rows",
    "get_task",
    "load_hub",
    "read_rows",
    "register_task",
    "require_text",
    "section_scores",
    "select",
]
__all__ += [  # candidate sets for tournaments
    "CANDIDATE_FORMATS",
    "LoadedCandidates",
    "answers_match",
    "extract_boxed",
    "load_candidate_sets",
    "normalize_answer",
    "set_to_row",
    "write_candidate_sets",
]

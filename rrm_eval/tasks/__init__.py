"""Tasks: data sources turned into items, with each benchmark's scoring rule."""

import shlex
from pathlib import Path

from rrm_eval._errors import UnknownNameError
from rrm_eval.tasks import (
    _judgebench,  # noqa: F401  (registers the JudgeBench task)
    _ppe,  # noqa: F401  (registers the PPE correctness-pairs task)
    _rewardbench,  # noqa: F401  (registers the RewardBench tasks)
    _rewardbench2,  # noqa: F401  (lists the RewardBench 2 tasks; they run with `rrm-eval bestof`)
    _rmbench,  # noqa: F401  (registers the RM-Bench task)
)
from rrm_eval.tasks._base import TASKS, LoadedItems, PairwiseTask, TaskOptions, check_limit, register_task, select
from rrm_eval.tasks._candidates import (  # candidate sets for tournaments
    CANDIDATE_FORMATS,
    LoadedCandidates,
    answer_groups,
    answers_match,
    choice_letter,
    extract_boxed,
    final_answer,
    load_candidate_sets,
    normalize_answer,
    same_answer,
    set_to_row,
    write_candidate_sets,
)
from rrm_eval.tasks._detect import detect_task
from rrm_eval.tasks._items import Candidate, CandidateSet, PairwiseItem
from rrm_eval.tasks._loading import fingerprint_rows, load_hub, read_rows, require_text
from rrm_eval.tasks._rewardbench import SECTION_WEIGHTS, SECTIONS, SUBSET_COUNTS, section_scores

_DATA_SUFFIXES = (".json", ".jsonl", ".ndjson", ".parquet", ".csv", ".tsv", ".gz")


def _looks_like_path(name: str) -> bool:
    try:
        exists = Path(name).exists()
    except (OSError, ValueError):
        exists = False
    return exists or "/" in name or "\\" in name or name.lower().endswith(_DATA_SUFFIXES)


def get_task(name: str) -> PairwiseTask:
    """The registered task ``name``. A file path given as the task name (``--dataset my.jsonl``) is the common slip:
    the error says the file goes to ``--data`` and keeps the did-you-mean list of task names."""
    try:
        return TASKS.get(name)
    except UnknownNameError as exc:
        if not _looks_like_path(name):
            raise
        exc.message = f"{exc.message}: that looks like a data file, and --dataset/--task takes a task name"
        exc.args = (exc.message,)
        # An existing file's columns say which benchmark it is: give the exact flags rather than an example.
        detected = detect_task(name) if Path(name).is_file() else None
        if detected is not None:
            exc.hint = f"its columns are {detected}'s layout: use --dataset {detected} --data {shlex.quote(name)}"
        else:
            exc.hint = f"a data file goes to --data, e.g. --dataset rewardbench --data {name}; {exc.hint}"
        raise


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
    "answer_groups",
    "check_limit",
    "choice_letter",
    "final_answer",
    "fingerprint_rows",
    "get_task",
    "load_hub",
    "read_rows",
    "register_task",
    "require_text",
    "same_answer",
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

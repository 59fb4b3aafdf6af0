"""PPE correctness conflict pairs (shipped data) and the builder that joins them with the PPE Best-of-K sets.

Package data (read with ``importlib.resources.files("rrm_eval.ppe_dataset")``): the published conflict pairs
``{MATH,MMLU,GPQA}_conflict_pairs.json`` and the 32-candidate knockout bracket ``MMLU_knockout_bracket.json``.
Provenance and licence: README.md next to this file.
"""

from rrm_eval.ppe_dataset.builder import (
    HUB_SPLIT,
    PUBLISHED_ROUNDS,
    QUESTION_RULE,
    SUBSETS,
    ConflictPair,
    JoinResult,
    PairsFile,
    PPERow,
    PPESubset,
    draw_pairs,
    duplicate_count,
    extract_question,
    find_local_copy,
    join_pairs,
    label_pair,
    load_raw_rows,
    pairs_document,
    published_pairs,
    read_pairs,
    resolve_subset,
    row_label,
    validate_row,
)

__all__ = [
    "HUB_SPLIT",
    "PUBLISHED_ROUNDS",
    "QUESTION_RULE",
    "SUBSETS",
    "ConflictPair",
    "JoinResult",
    "PPERow",
    "PPESubset",
    "PairsFile",
    "draw_pairs",
    "duplicate_count",
    "extract_question",
    "find_local_copy",
    "join_pairs",
    "label_pair",
    "load_raw_rows",
    "pairs_document",
    "published_pairs",
    "read_pairs",
    "resolve_subset",
    "row_label",
    "validate_row",
]

"""Judges as data (TOML prompt + parser + sampling) and the verdict parsers."""

from rrm_eval.judges._judge import (
    JUDGE_MODE_NAMES,
    PLACEHOLDERS,
    Judge,
    JudgeMode,
    Sampling,
    builtin_judges,
    check_template,
    load_judge,
)
from rrm_eval.judges._parsers import FAILURE_REASONS, PARSERS, ParseResult, Verdict, get_parser

__all__ = [
    "FAILURE_REASONS",
    "JUDGE_MODE_NAMES",
    "PARSERS",
    "PLACEHOLDERS",
    "Judge",
    "JudgeMode",
    "ParseResult",
    "Sampling",
    "Verdict",
    "builtin_judges",
    "check_template",
    "get_parser",
    "load_judge",
]

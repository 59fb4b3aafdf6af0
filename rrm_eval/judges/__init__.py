"""Judges as data (TOML prompt + parser + sampling) and the verdict parsers."""

from rrm_eval.judges._judge import Judge, Sampling, builtin_judges, load_judge
from rrm_eval.judges._parsers import FAILURE_REASONS, PARSERS, ParseResult, Verdict, get_parser

__all__ = [
    "FAILURE_REASONS",
    "PARSERS",
    "Judge",
    "ParseResult",
    "Sampling",
    "Verdict",
    "builtin_judges",
    "get_parser",
    "load_judge",
]

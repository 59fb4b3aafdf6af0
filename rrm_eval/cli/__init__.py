"""Command-line interface: ``rrm-eval``."""

from rrm_eval.cli._main import build_parser, main

__all__ = ["build_parser", "main"]

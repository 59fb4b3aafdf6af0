"""The `rrm-eval` command. Each subcommand is a module with ``add_parser(sub)``; errors become one clear message."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from rrm_eval._errors import RRMError

#: Subcommand modules, in help order.
COMMANDS = [
    "rrm_eval.cli._pairwise",
    "rrm_eval.cli._sweep",
    "rrm_eval.cli._rewardbench_gen",
    "rrm_eval.cli._ppe",
    "rrm_eval.cli._rewardbench2",
    "rrm_eval.cli._tournament",
    "rrm_eval.cli._candidates",
    "rrm_eval.cli._train",
    "rrm_eval.cli._rescore",
    "rrm_eval.cli._compare",
    "rrm_eval.cli._list",
    "rrm_eval.cli._serve",
    "rrm_eval.cli._report",
]


def build_parser() -> argparse.ArgumentParser:
    from rrm_eval import __version__

    parser = argparse.ArgumentParser(
        prog="rrm-eval",
        description="Evaluate and train generative reasoning reward models (pairwise judges).",
    )
    parser.add_argument("--version", action="version", version=f"rrm-eval {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a `kill` gets the same clean stop as Ctrl-C


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args) or 0)
    except RRMError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\ninterrupted: every finished record is saved; run the same command again to resume.",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

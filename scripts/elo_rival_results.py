#!/usr/bin/env python
"""Merge a tournament run's judgements into the rival (match) table.

The published RRM ELO step of the same name, with arguments instead of hard-coded paths. It calls the function the
run itself uses, so its table is the run's ``rivals.jsonl``, byte for byte. Same as
``rrm-eval tournament rival-results RUN_DIR``.

    python scripts/elo_rival_results.py runs/tournament-round-robin__...
"""

from __future__ import annotations

import argparse
import sys

from rrm_eval import rival_results
from rrm_eval._errors import RRMError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a run directory made by `rrm-eval tournament ...`")
    parser.add_argument("--output", help="where to write the table (default RUN_DIR/rivals.jsonl)")
    args = parser.parse_args(argv)
    try:
        rows, path = rival_results(args.run_dir, args.output)
    except RRMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"rival table: {len(rows)} games -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Ratings (Elo, Bradley-Terry, wins) and best-of-N accuracy from a tournament run's rival table.

The published RRM ELO step of the same name, with arguments instead of hard-coded paths: Elo with initial 1000,
base 10, scale 400, K 4, one pass over each problem's games in a seeded shuffled order; the top-rated candidate is
the pick. It calls the function the run itself uses, so with the run's settings it reproduces the run's
``summary.json`` numbers. Same as ``rrm-eval tournament accuracy-results RUN_DIR``.

    python scripts/elo_accuracy_results.py runs/tournament-round-robin__... --verdict-policy coin
"""

from __future__ import annotations

import argparse
import sys

from rrm_eval import ACCURACY, accuracy_results
from rrm_eval._errors import RRMError
from rrm_eval.scoring import VERDICT_POLICIES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a run directory made by `rrm-eval tournament ...`")
    parser.add_argument("--rivals", help="rival table (default RUN_DIR/rivals.jsonl, see elo_rival_results.py)")
    parser.add_argument("--verdict-policy", choices=VERDICT_POLICIES, help="unreadable verdicts (default: the run's)")
    parser.add_argument("--seed", type=int, help="seed of the Elo order and coin flips (default: the run's)")
    parser.add_argument("--bt-bootstrap", type=int, help="per-candidate Bradley-Terry bootstrap resamples")
    parser.add_argument("--bootstrap", type=int, help="accuracy bootstrap resamples over problems")
    parser.add_argument("--output", help=f"summary JSON (default RUN_DIR/{ACCURACY})")
    parser.add_argument("--ratings-output", help="per-problem ratings and picks (jsonl)")
    args = parser.parse_args(argv)
    try:
        summary = accuracy_results(
            args.run_dir,
            rivals=args.rivals,
            policy=args.verdict_policy,
            seed=args.seed,
            bt_bootstrap=args.bt_bootstrap,
            bootstrap=args.bootstrap,
            output=args.output,
            ratings_output=args.ratings_output,
        )
    except RRMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, entry in summary["accuracy"].items():
        mark = "  <- " + summary["schedule"] if name == summary["primary"] else ""
        n = f"  ({entry['correct']}/{entry['n']})" if entry.get("correct") is not None else ""
        print(f"{name:<14} {100 * entry['accuracy']:6.2f}%{n}{mark}")
    print(f"judge calls {summary['spend']['judge_calls']}, verdict policy {summary['verdicts']['policy']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

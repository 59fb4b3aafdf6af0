"""`rrm-eval list [judges|tasks|backends|parsers]`."""

from __future__ import annotations

import argparse

from rrm_eval.judges import PARSERS, builtin_judges, load_judge
from rrm_eval.models import backends
from rrm_eval.tasks import TASKS

KINDS = ("judges", "tasks", "backends", "parsers")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list judges, tasks, backends and parsers")
    p.add_argument("kind", nargs="?", choices=KINDS, help="what to list (default: everything)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else list(KINDS)
    for kind in kinds:
        print(f"{kind}:")
        if kind == "judges":
            rows = {name: load_judge(name).description for name in builtin_judges()}
        elif kind == "tasks":
            rows = {name: TASKS.help(name) for name in TASKS}
        elif kind == "backends":
            rows = {(f"{p}:" if ":" not in d and p not in ("smollm2",) else p): d for p, d in backends().items()}
        else:
            rows = {name: PARSERS.help(name) for name in PARSERS}
        width = max(map(len, rows), default=0)
        for name, desc in rows.items():
            print(f"  {name:<{width}}  {desc}")
    return 0

"""`rrm-eval serve [RUNS_DIR]`: a local web app to browse runs and try a judge (the ``app`` extra)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from rrm_eval._errors import RRMError, require

DEFAULT_PORT = 8765


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="a local web app: browse runs, try a judge in the playground")
    p.add_argument("runs_dir", nargs="?", default="runs", help="folder of run directories, or one run (default: runs)")
    p.add_argument("--model", help="model spec for the judge playground (without it the playground refuses)")
    p.add_argument("--model-opt", action="append", default=[], metavar="KEY=VALUE", help="backend option, repeatable")
    p.add_argument("--judge", help="the playground's default judge (name or .toml file)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host; anyone who reaches it can read the runs and use the model",
    )
    p.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a hostname other than localhost may resolve anywhere


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback address unless asked for; warn when it is."""
    if is_loopback(host):
        return
    if not allow_remote:
        raise RRMError(
            f"--host {host} is not a loopback address: the app would be reachable from other machines",
            hint="keep the default 127.0.0.1 (use an SSH tunnel to reach it), or pass --allow-remote knowingly",
        )
    print(
        f"warning: serving on {host}: anyone who can reach it can read these runs and use the loaded model "
        "(there is no login)",
        file=sys.stderr,
    )


def run(args: argparse.Namespace) -> int:
    from rrm_eval.app import LOOPBACK_HOSTS, Playground, create_app
    from rrm_eval.models import load_model, parse_options

    check_host(args.host, args.allow_remote)
    if not 0 < args.port < 65536:
        raise RRMError(f"--port must be 1..65535, got {args.port}")
    runs_dir = Path(args.runs_dir)
    if not runs_dir.is_dir():
        raise RRMError(f"{runs_dir} is not a directory", hint="give the folder your runs are written to (runs/)")
    uvicorn = require("uvicorn", "app", "rrm-eval serve")
    model = None
    judge = args.judge
    if args.model:
        from rrm_eval.cli._common import default_judge
        from rrm_eval.judges import load_judge

        judge = default_judge(args)
        load_judge(judge)  # a wrong judge name is refused before the model loads
        model = load_model(args.model, **parse_options(args.model_opt))
    elif args.judge:
        print("note: --judge without --model: the playground refuses until a model is given", file=sys.stderr)
    hosts = None if args.allow_remote else [*LOOPBACK_HOSTS, args.host]
    app = create_app(runs_dir, Playground(model, judge, args.model), allowed_hosts=hosts)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"rrm-eval serve: http://{shown}:{args.port}/ (runs from {runs_dir}; Ctrl-C stops)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0

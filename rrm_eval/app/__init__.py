"""``rrm-eval serve``: a local web app over run directories (a run browser) and a judge playground.

FastAPI and uvicorn are the ``app`` extra (``pip install 'rrm-eval[app]'``); they are imported only when an app is
made. The browser reads runs and never writes into them; the playground writes nothing.
"""

from __future__ import annotations

from typing import Any

from rrm_eval.app._playground import Playground, PlaygroundInput, pairwise_judges, verdict_for
from rrm_eval.app._runs import Filters, RunInfo, inspect_run, list_runs, split_thinking

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def create_app(*args: Any, **kwargs: Any) -> Any:
    """The FastAPI app (see :func:`rrm_eval.app._server.create_app`); imports FastAPI on first use."""
    from rrm_eval.app._server import create_app as make

    return make(*args, **kwargs)


__all__ = [
    "LOOPBACK_HOSTS",
    "Filters",
    "Playground",
    "PlaygroundInput",
    "RunInfo",
    "create_app",
    "inspect_run",
    "list_runs",
    "pairwise_judges",
    "split_thinking",
    "verdict_for",
]

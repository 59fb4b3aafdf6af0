"""The run page's figures, from the report package (``rrm_eval.report``: ``load_report_run``, ``figures_for`` and
``peer_figures``).

The page shows each figure as ``<img src=...svg>``: an SVG loaded as an image never runs scripts, so a figure whose
labels carry data text cannot inject anything into the page. Figures are drawn once per state of the run's files
(and of the peer runs a cross-run figure reads) and cached; drawing holds a lock, since pyplot keeps global state
that the server's worker threads must not share mid-figure.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError

_lock = threading.Lock()
_draw = threading.Lock()
Stamp = tuple[tuple[int, int], ...]
_cache: dict[Path, tuple[Stamp, list[dict[str, str]]]] = {}
#: The files a figure is drawn from, per run (a sweep's table; a tournament's rating tables).
_FILES = ("spec.json", "summary.json", "records.jsonl", "sweep.json", "ratings.jsonl", "rivals.jsonl")


def report_available() -> bool:
    try:
        module = importlib.import_module("rrm_eval.report")
    except ImportError:
        return False
    return hasattr(module, "figures_for") and hasattr(module, "load_report_run")


def _stamp(run_dir: Path) -> Stamp:
    out = []
    for path in [run_dir] if run_dir.is_file() else [run_dir / name for name in _FILES]:
        try:
            st = path.stat()
            out.append((st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((-1, -1))
    return tuple(out)


def run_figures(run_dir: Path, peers: Sequence[Path] = ()) -> list[dict[str, str]]:
    """``[{"svg", "caption", "title"}]`` for a run, then the cross-run figures it takes part in with ``peers`` (other
    runs of the same runs directory that the caller picked as comparable); empty without the report package. A run
    the report cannot read raises :class:`RRMError` with the report's reason; an unreadable peer is left out."""
    if not report_available():
        return []
    stamp = _stamp(run_dir) + tuple(s for p in sorted(peers) for s in ((len(str(p)), 0), *_stamp(p)))
    with _lock:
        hit = _cache.get(run_dir)
        if hit and hit[0] == stamp:
            return hit[1]
    report: Any = importlib.import_module("rrm_eval.report")
    with _draw:
        run = report.load_report_run(run_dir)
        if not isinstance(run, report.ReportRun):
            raise RRMError(f"the report cannot draw this run: {run.reason}", hint=getattr(run, "hint", None))
        drawn = list(report.figures_for(run))
        if peers:
            # Peers go unlabelled (their directory names are long); this run is marked on the figure.
            others = [r for r in (report.load_report_run(p) for p in peers) if isinstance(r, report.ReportRun)]
            run.label = "this run"
            drawn += report.peer_figures(run, others)
    figures = [
        {"svg": f.svg, "caption": str(f.caption or ""), "title": str(getattr(f, "title", "") or "")}
        for f in drawn
        if isinstance(getattr(f, "svg", None), str)
    ]
    with _lock:
        _cache[run_dir] = (stamp, figures)
    return figures

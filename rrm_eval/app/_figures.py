"""The run page's figures, from the report package (``rrm_eval.report``: ``load_report_run`` and ``figures_for``).

The page shows each figure as ``<img src=...svg>``: an SVG loaded as an image never runs scripts, so a figure whose
labels carry data text cannot inject anything into the page. Figures are drawn once per state of the run's files
(drawing reads every record) and cached.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError

_lock = threading.Lock()
_cache: dict[Path, tuple[tuple[tuple[int, int], ...], list[dict[str, str]]]] = {}


def report_available() -> bool:
    try:
        module = importlib.import_module("rrm_eval.report")
    except ImportError:
        return False
    return hasattr(module, "figures_for") and hasattr(module, "load_report_run")


def _stamp(run_dir: Path) -> tuple[tuple[int, int], ...]:
    out = []
    for name in ("spec.json", "summary.json", "records.jsonl"):
        try:
            st = (run_dir / name).stat()
            out.append((st.st_size, st.st_mtime_ns))
        except FileNotFoundError:
            out.append((-1, -1))
    return tuple(out)


def run_figures(run_dir: Path) -> list[dict[str, str]]:
    """``[{"svg", "caption", "title"}]`` for a run; empty without the report package. A run the report cannot read
    raises :class:`RRMError` with the report's reason."""
    if not report_available():
        return []
    stamp = _stamp(run_dir)
    with _lock:
        hit = _cache.get(run_dir)
        if hit and hit[0] == stamp:
            return hit[1]
    report: Any = importlib.import_module("rrm_eval.report")
    run = report.load_report_run(run_dir)
    if not isinstance(run, report.ReportRun):
        raise RRMError(f"the report cannot draw this run: {run.reason}", hint=getattr(run, "hint", None))
    figures = [
        {"svg": f.svg, "caption": str(f.caption or ""), "title": str(getattr(f, "title", "") or "")}
        for f in report.figures_for(run)
        if isinstance(getattr(f, "svg", None), str)
    ]
    with _lock:
        _cache[run_dir] = (stamp, figures)
    return figures

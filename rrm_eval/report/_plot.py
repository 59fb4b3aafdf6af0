"""Shared plotting for the report's figures: matplotlib (Agg) rendered to inline SVG, readable on light and dark pages.

Figures have transparent backgrounds and mid-grey text and axes, which read on white and on black; the page's CSS
also recolours SVG text to its own foreground. ``svg.fonttype = "none"`` keeps text as text (small files, and the
browser's font); ``text.parse_math`` is off so a ``$`` in a subset name is shown, not parsed as math."""

from __future__ import annotations

import io
import itertools
import re
from dataclasses import dataclass
from typing import Any

from rrm_eval._errors import require

GREY = "#8a8a8a"
BAR = "#4c8fd6"
ACCENT = "#e0873a"
RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "rrm-eval-report",  # stable ids: the same run gives the same file
    "text.parse_math": False,
    "figure.facecolor": "none",
    "axes.facecolor": "none",
    "savefig.transparent": True,
    "text.color": GREY,
    "axes.labelcolor": GREY,
    "axes.edgecolor": GREY,
    "xtick.color": GREY,
    "ytick.color": GREY,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 9,
    "font.family": "sans-serif",
}


@dataclass(frozen=True)
class Figure:
    """One figure: a title, the inline SVG markup, and a caption saying what it shows and how it was computed."""

    title: str
    svg: str
    caption: str


def pyplot() -> Any:
    matplotlib = require("matplotlib", "report", "the HTML report's figures")
    matplotlib.use("Agg", force=True)
    return require("matplotlib.pyplot", "report", "the HTML report's figures")


#: Per-process figure numbers: ``next`` on a count is atomic under the GIL, so app threads never share one.
_numbers = itertools.count(1)


def to_svg(fig: Any) -> str:
    """The figure as SVG markup for inlining in HTML: no XML prolog, DOCTYPE, metadata or namespace URLs (the page
    must hold no http(s) reference), and ids made unique per figure so several figures share one page safely."""
    plt = pyplot()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    prefix = f"f{next(_numbers)}-"
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    if ids:
        pattern = re.compile(r'(\bid="|href="#|url\(#)(' + "|".join(re.escape(i) for i in ids) + r')(?=[")])')
        text = pattern.sub(lambda m: m.group(1) + prefix + m.group(2), text)
    return text.replace("<svg", '<svg role="img"', 1)


def new_figure(width: float, height: float) -> tuple[Any, Any]:
    fig, ax = pyplot().subplots(figsize=(width, height))
    return fig, ax


def number(x: Any) -> float | None:
    """``x`` as a float when it is a JSON number (never a bool), else None."""
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def interval(value: Any) -> tuple[float, float] | None:
    """A ``[lo, hi]`` pair of numbers as a tuple, else None (a missing or malformed interval)."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(number(x) is not None for x in value):
        return float(value[0]), float(value[1])
    return None

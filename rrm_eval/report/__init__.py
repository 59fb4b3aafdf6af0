"""`rrm-eval report`: one self-contained HTML file of one or more runs (scores, intervals, figures, comparison).

Public API (also used by ``rrm-eval serve``)::

    run = load_report_run(run_dir)          # ReportRun, or Unreadable(run_dir, reason, hint)
    figs = figures_for(run)                 # [Figure(title, svg, caption)], inline-SVG markup
    path = build_report([dir_a, dir_b], "report.html")

Nothing here writes into a run directory."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.report._across import peer_figures
from rrm_eval.report._figures import comparison_figure, figures_for, score_rows
from rrm_eval.report._html import esc, figure_html, page, run_section
from rrm_eval.report._loading import KINDS, ReportRun, Unreadable, load_report_run
from rrm_eval.report._plot import Figure


def _label(k: int) -> str:
    return chr(ord("A") + k) if k < 26 else f"R{k + 1}"


def _comparisons(runs: Sequence[ReportRun]) -> tuple[dict[str, Any] | None, list[Figure], list[str]]:
    """Paired comparison (``rrm_eval.compare_runs``) of the readable pairwise or bestof runs of one task and data,
    the first of them the baseline; groups that cannot be compared say why in a note."""
    from rrm_eval import compare_runs

    groups: dict[tuple[str, str, str | None], list[ReportRun]] = defaultdict(list)
    for run in runs:
        if run.kind in ("pairwise", "bestof"):
            groups[(run.kind, run.task, run.data_fingerprint)].append(run)
    result, figs, notes = None, [], []
    for (kind, task, _), group in groups.items():
        if len(group) < 2:
            continue
        labels = ", ".join(r.label for r in group)
        try:
            res = compare_runs([r.run_dir for r in group])
        except RRMError as exc:
            notes.append(f"runs {labels} ({kind}, {task}) not compared: {exc.message}")
            continue
        # compare_runs labels runs A, B, ... in its own order; say which report run each one is.
        names = {f"{c['label']}": g.label for c, g in zip(res["runs"], group, strict=True)}
        for comp in res["comparisons"]:
            comp["a"], comp["b"] = names.get(comp["a"], comp["a"]), names.get(comp["b"], comp["b"])
            figs.append(comparison_figure(comp, str(res.get("method"))))
        if result is None:
            result = res
        else:
            result["comparisons"] += res["comparisons"]
    if len(runs) > 1 and result is None and not notes:
        notes.append("no two readable pairwise (or bestof) runs share a task and data set: nothing to pair")
    return result, figs, notes


def render_report(run_dirs: Sequence[str | Path]) -> tuple[str, list[ReportRun], list[Unreadable]]:
    """The report page's HTML, with the readable and the unreadable runs."""
    from rrm_eval.report._across import across_figures, schedule_groups
    from rrm_eval.report._html import across_section, comparison_section

    loaded = [load_report_run(d, _label(k)) for k, d in enumerate(run_dirs)]
    runs = [r for r in loaded if isinstance(r, ReportRun)]
    bad = [r for r in loaded if isinstance(r, Unreadable)]
    body = "".join(run_section(r, figures_for(r)) for r in runs)
    if len(runs) > 1:
        groups = schedule_groups(runs)
        body = comparison_section(*_comparisons(runs)) + across_section(runs, across_figures(runs), groups) + body
    return page(runs, bad, body), runs, bad


def build_report(run_dirs: Sequence[str | Path], output: str | Path) -> Path:
    """Write the report of ``run_dirs`` to ``output``; refuses (RRMError) when no run is readable or when
    ``output`` would land inside one of the runs."""
    if not run_dirs:
        raise RRMError("no run directory given", hint="rrm-eval report RUN_DIR [RUN_DIR ...] -o report.html")
    out = Path(output).resolve()
    for d in run_dirs:
        if Path(d).resolve() in out.parents:
            raise RRMError(
                f"{output} is inside {d}, one of the folders the report reads: the report never writes into a "
                "run directory (or a folder of runs)",
                hint="write the report elsewhere, e.g. -o report.html",
            )
    text, runs, bad = render_report(run_dirs)
    if not runs:
        reasons = "; ".join(u.reason for u in bad)
        raise RRMError(
            f"no readable run: {reasons}",
            hint="give run directories made by rrm-eval (with spec.json, summary.json and records.jsonl)",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out


__all__ = [
    "KINDS",
    "Figure",
    "ReportRun",
    "Unreadable",
    "build_report",
    "esc",
    "figure_html",
    "figures_for",
    "load_report_run",
    "peer_figures",
    "render_report",
    "score_rows",
]

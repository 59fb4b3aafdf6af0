"""Figures across runs that are not paired item by item: tournaments of several schedules on the same candidates
(accuracy vs judge calls), and pairwise runs that differ only in --votes (accuracy vs votes)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from rrm_eval.report._loading import ReportRun
from rrm_eval.report._plot import Figure
from rrm_eval.report._tournament import schedule_figure
from rrm_eval.report._tts import votes_of, votes_runs_figure


def schedule_groups(runs: Sequence[ReportRun]) -> list[list[ReportRun]]:
    """Tournament runs on the same candidate sets (the data fingerprint of their candidates), two or more."""
    groups: dict[str | None, list[ReportRun]] = defaultdict(list)
    for run in runs:
        if run.kind == "tournament" and run.data_fingerprint:
            groups[run.data_fingerprint].append(run)
    return [g for g in groups.values() if len(g) > 1]


def votes_groups(runs: Sequence[ReportRun]) -> list[list[ReportRun]]:
    """Pairwise runs of one task, data, judge and model with at least two different --votes."""
    groups: dict[tuple[str, str | None, str, str], list[ReportRun]] = defaultdict(list)
    for run in runs:
        if run.kind == "pairwise":
            groups[(run.task, run.data_fingerprint, run.judge, run.model)].append(run)
    return [g for g in groups.values() if len({votes_of(r) for r in g}) > 1]


def across_figures(runs: Sequence[ReportRun]) -> list[Figure]:
    figs = [f for g in schedule_groups(runs) if (f := schedule_figure(g))]
    return figs + [f for g in votes_groups(runs) if (f := votes_runs_figure(g))]


def peer_figures(run: ReportRun, others: Sequence[ReportRun]) -> list[Figure]:
    """The across-run figures of the groups ``run`` belongs to among ``others`` (the run browser shows them on the
    run's page: the other runs are those of the same runs directory)."""
    pool = [run, *(o for o in others if o.run_dir != run.run_dir)]
    groups = [g for g in schedule_groups(pool) + votes_groups(pool) if run in g]
    figs: list[Figure] = []
    for g in groups:
        fig = schedule_figure(g) if run.kind == "tournament" else votes_runs_figure(g)
        if fig:
            figs.append(fig)
    return figs

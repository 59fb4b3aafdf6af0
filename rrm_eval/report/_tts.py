"""Test-time-compute figures: accuracy vs thinking budget (a sweep) and accuracy vs votes (a ``--votes k`` run).

Scores are recomputed from records with the scoring package's own functions (``score_items``, the task's
``summarize`` and ``item_rule``, ``bootstrap_intervals`` seeded as the run seeds its summary), so the last point of
a votes curve is the run's own summary score and interval; nothing is written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.report._loading import ReportRun
from rrm_eval.report._plot import ACCENT, BAR, GREY, RC, Figure, interval, new_figure, number, pyplot, to_svg

Aggregate = Callable[[dict[str, float], dict[str, int]], Mapping[str, Any]]
#: Resamples when a run's summary does not say how many it used.
RESAMPLES = 1000


@dataclass(frozen=True)
class Scorer:
    """How a task turns item scores into its headline: its own aggregation (``summarize``) and item rule when the
    task is known here and reports an ``overall`` for the subsets at hand, else item accuracy (the item-weighted
    mean of the subset accuracies)."""

    task: str
    aggregate: Aggregate | None
    rule: str


def _item_accuracy(acc: dict[str, float], counts: dict[str, int]) -> dict[str, Any]:
    total = sum(counts.values())
    return {"accuracy": sum(acc[s] * counts[s] for s in acc) / total if total else math.nan}


def scorer_for(task_name: str) -> Scorer:
    from rrm_eval.tasks import get_task

    try:
        task = get_task(task_name)
        return Scorer(task_name, task.summarize, str(task.item_rule))
    except (RRMError, KeyError, AttributeError):  # a task of a plugin not installed here: plain item accuracy
        return Scorer(task_name, None, "mean")


def _as_rows(records: Sequence[Any]) -> list[dict[str, Any]]:
    """Typed judge records as the mappings the scoring functions read."""
    return [
        {"item_id": r.item_id, "order": r.order, "subset": r.subset, "verdict": r.verdict, "sample": r.sample}
        for r in records
    ]


@dataclass(frozen=True)
class Scored:
    value: float | None
    interval: tuple[float, float] | None
    name: str  # what ``value`` is: ``overall`` (the task's) or ``accuracy`` (items)


def score_with_interval(
    rows: Sequence[Mapping[str, Any]], scorer: Scorer, policy: str, seed: int, resamples: int
) -> Scored:
    """The headline score of ``rows`` and its percentile bootstrap interval (items resampled within subsets), seeded
    from the run seed, the task name and the item ids exactly as the run's summary is."""
    from rrm_eval.scoring import bootstrap_intervals, score_items

    items = score_items(rows, policy, rule=scorer.rule)  # type: ignore[arg-type]
    if not items:
        return Scored(None, None, "accuracy")
    by_subset: dict[str, list[float]] = {}
    for it in items.values():
        by_subset.setdefault(it.subset, []).append(it.score)
    acc = {s: sum(v) / len(v) for s, v in by_subset.items()}
    counts = {s: len(v) for s, v in by_subset.items()}
    aggregate: Aggregate = _item_accuracy
    name = "accuracy"
    if scorer.aggregate is not None:
        try:
            if isinstance(scorer.aggregate(acc, counts).get("overall"), float):
                aggregate, name = scorer.aggregate, "overall"
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            pass  # an aggregation that needs subsets these records lack: item accuracy instead
    value = number(aggregate(acc, counts).get(name))
    if not resamples:
        return Scored(value, None, name)
    ivs = bootstrap_intervals(items, aggregate, resamples, seed=seed, content=(scorer.task,))
    return Scored(value, ivs.scores.get(name), name)


def _run_seed(spec: Mapping[str, Any]) -> int:
    seed = (spec.get("protocol") or {}).get("seed", 0)
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else 0


def _resamples(summary: Mapping[str, Any]) -> int:
    n = (summary.get("intervals") or {}).get("resamples")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else RESAMPLES


def _curve(
    xs: Sequence[float],
    ys: Sequence[float | None],
    cis: Sequence[tuple[float, float] | None],
    xlabel: str,
    ylabel: str,
    log2: bool,
) -> str:
    """Points joined by a line, with vertical interval whiskers; y in %, x on a log2 axis when asked."""
    plt = pyplot()
    with plt.rc_context(RC):
        fig, ax = new_figure(6.4, 2.6)
        pts = [(x, 100 * y, ci) for x, y, ci in zip(xs, ys, cis, strict=True) if y is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=BAR, marker="o", lw=1.4, ms=4)
        for x, y, ci in pts:
            if ci is not None:
                ax.errorbar([x], [y], yerr=[[y - 100 * ci[0]], [100 * ci[1] - y]], fmt="none", ecolor=GREY, capsize=3)
        if log2:
            ax.set_xscale("log", base=2)
        ax.set_xticks(list(xs), labels=[f"{x:g}" for x in xs])
        ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        return to_svg(fig)


# -- sweeps -------------------------------------------------------------------------------------------------------
def sweep_rows(run: ReportRun) -> list[dict[str, Any]]:
    """The sweep table's rows with each budget's interval: the sweep's own, else one bootstrapped from the budget
    run's records (``how`` says which)."""
    parts = dict(run.parts)
    out = []
    for row in run.summary.get("budgets") or []:
        acc, ci, how = number(row.get("accuracy")), interval(row.get("interval")), "sweep table"
        part = parts.get(row["budget"])
        if ci is None and isinstance(part, ReportRun):
            scorer = scorer_for(part.task)
            policy = str(part.summary.get("failure_policy") or part.spec.get("failure_policy") or "tie")
            got = score_with_interval(
                _as_rows(part.judge_records()), scorer, policy, _run_seed(part.spec), _resamples(part.summary)
            )
            acc, ci = (got.value, got.interval) if acc is None else (acc, got.interval)
            how = f"bootstrapped here from the run's records ({got.name})"
        out.append({**row, "accuracy": acc, "interval": ci, "interval_from": how})
    return out


def sweep_figures(run: ReportRun) -> list[Figure]:
    rows = [r for r in sweep_rows(run) if r["accuracy"] is not None]
    if not rows:
        return []
    budgets = [r["budget"] for r in rows]
    svg = _curve(
        budgets,
        [r["accuracy"] for r in rows],
        [r["interval"] for r in rows],
        "thinking budget (tokens)",
        "score (%)",
        True,
    )
    sources = sorted({r["interval_from"] for r in rows if r["interval"] is not None})
    cut = ", ".join(f"{r['budget']}: {100 * (number(r.get('cut_share')) or 0):.0f}%" for r in rows)
    return [
        Figure(
            "Accuracy vs thinking budget",
            svg,
            f"The headline score (the task's overall score, else item accuracy) of each budget's pairwise run of the "
            f"sweep, against --think-budget on a log2 axis. Smaller budgets reuse the largest run's thinking cut at "
            f"exactly N tokens and generate only the verdict. Whiskers: 95% percentile bootstrap interval over items "
            f"resampled within subsets ({'; '.join(sources) or 'none recorded'}). Share of records whose thinking "
            f"the budget cut: {cut}.",
        )
    ]


# -- votes --------------------------------------------------------------------------------------------------------
def votes_of(run: ReportRun) -> int:
    votes = (run.spec.get("protocol") or {}).get("votes", 1)
    return votes if isinstance(votes, int) and not isinstance(votes, bool) else 1


def votes_curve(run: ReportRun) -> list[tuple[int, Scored]]:
    """(j, score, interval) for j = 1..k: every presentation reduced to the majority of its first j votes (samples
    0..j-1), scored and bootstrapped as the run scores itself. Empty for a run of one vote or an early-stopped
    run (its later votes were never drawn, so a "first j" majority is not what it would have seen)."""
    k = votes_of(run)
    if k < 2 or (run.spec.get("protocol") or {}).get("early_stop"):
        return []
    scorer = scorer_for(run.task)
    policy = str(run.summary.get("failure_policy") or run.spec.get("failure_policy") or "tie")
    rows = _as_rows(run.judge_records())
    seed, resamples = _run_seed(run.spec), _resamples(run.summary)
    out = []
    for j in range(1, k + 1):
        out.append((j, score_with_interval([r for r in rows if r["sample"] < j], scorer, policy, seed, resamples)))
    return out


def votes_figure(run: ReportRun) -> Figure | None:
    curve = votes_curve(run)
    if not curve:
        return None
    svg = _curve(
        [j for j, _ in curve],
        [s.value for _, s in curve],
        [s.interval for _, s in curve],
        "votes per presentation (first j of k)",
        "score (%)",
        False,
    )
    k = len(curve)
    return Figure(
        "Accuracy vs votes",
        svg,
        f"The run's {curve[-1][1].name} score (the task's overall, else item accuracy) when each presentation "
        f"keeps only its first j of the k = {k} votes "
        f"(samples 0..j-1 of records.jsonl), reduced by majority (equal counts score 0.5, no readable vote the "
        f"failure policy) and scored as the run scores itself, for j = 1..{k}; j = {k} is the run's own score. "
        f"Whiskers: 95% percentile bootstrap interval, items resampled within subsets, with the run's seed, so every "
        f"j sees the same resampled items. Accuracy of {k} independent samples of one judge, not of {k} judges.",
    )


def votes_runs_figure(runs: Sequence[ReportRun]) -> Figure | None:
    """Several runs of one task, data, judge and model that differ in --votes: each run's summary score."""
    points = []
    for run in sorted(runs, key=votes_of):
        scores, ivs = run.summary.get("scores") or {}, (run.summary.get("intervals") or {}).get("scores") or {}
        if number(scores.get("overall")) is not None:
            points.append((votes_of(run), number(scores.get("overall")), interval(ivs.get("overall"))))
        else:
            points.append((votes_of(run), number(run.summary.get("accuracy")), None))
    if len({p[0] for p in points}) < 2:
        return None
    plt = pyplot()
    with plt.rc_context(RC):
        fig, ax = new_figure(6.4, 2.6)
        for (k, v, ci), run in zip(points, sorted(runs, key=votes_of), strict=True):
            if v is None:
                continue
            ax.plot([k], [100 * v], "o", color=ACCENT if run.spec.get("protocol", {}).get("early_stop") else BAR)
            if ci is not None:
                ax.errorbar([k], [100 * v], yerr=[[100 * (v - ci[0])], [100 * (ci[1] - v)]], fmt="none", ecolor=GREY)
            if run.label:
                ax.annotate(run.label, (k, 100 * v), textcoords="offset points", xytext=(5, 4))
        ax.set_xticks(sorted({p[0] for p in points}))
        ax.set_xlabel("--votes")
        ax.set_ylabel("score (%)")
        svg = to_svg(fig)
    return Figure(
        "Accuracy vs votes (runs)",
        svg,
        "Each run's summary score (overall, else item accuracy) against its --votes, for runs of the same task, data, "
        "judge and model; labels are the report's run letters, orange points early-stopped runs. Whiskers: the 95% "
        "interval of each run's summary.json (percentile bootstrap over items within subsets), where it has one.",
    )

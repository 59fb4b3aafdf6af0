"""The report's per-run figures: pairwise, bestof and tournament runs (inline SVG, drawn as ``_plot`` says)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from rrm_eval.report._loading import ReportRun
from rrm_eval.report._plot import ACCENT, BAR, GREY, RC, Figure, new_figure, pyplot, to_svg
from rrm_eval.report._plot import number as _number
from rrm_eval.report._tournament import ratings_figure
from rrm_eval.report._tts import sweep_figures, sweep_rows, votes_figure


def _whisker_bars(
    names: Sequence[str],
    values: Sequence[float],
    intervals: Sequence[tuple[float, float] | None],
    xlabel: str,
    chance: float | None = 0.5,
) -> str:
    """Horizontal bars (0..1 scaled to %) with 95% interval whiskers where an interval exists; a dotted line at
    ``chance`` (None: none)."""
    plt = pyplot()
    with plt.rc_context(RC):
        fig, ax = new_figure(6.4, 0.5 + 0.28 * max(len(names), 1))
        ys = list(range(len(names)))[::-1]
        ax.barh(ys, [100 * v for v in values], color=BAR, height=0.65)
        for y, v, ci in zip(ys, values, intervals, strict=True):
            if ci is not None:
                lo, hi = 100 * ci[0], 100 * ci[1]
                ax.errorbar([100 * v], [y], xerr=[[100 * v - lo], [hi - 100 * v]], fmt="none", ecolor=GREY, capsize=3)
        ax.set_yticks(ys, labels=list(names))
        ax.set_xlim(0, 100)
        ax.set_xlabel(xlabel)
        if chance is not None:
            ax.axvline(100 * chance, color=GREY, lw=0.6, ls=":")
        return to_svg(fig)


def _interval(table: dict[str, Any], name: str) -> tuple[float, float] | None:
    ci = table.get(name)
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(x, (int, float)) for x in ci):
        return float(ci[0]), float(ci[1])
    return None


def score_rows(run: ReportRun) -> list[tuple[str, float | None, tuple[float, float] | None, str]]:
    """The score table: (name, score, 95% interval, n) for the overall score, each section, each subset."""
    s = run.summary
    if run.kind == "sweep":
        return [
            (f"think budget {r['budget']}", r["accuracy"], r["interval"], str(r.get("records", "")))
            for r in sweep_rows(run)
        ]
    if run.kind == "tournament":
        return [
            (name, _number(v.get("accuracy")), _interval(v, "ci95"), str(v.get("n", "")))
            for name, v in (s.get("accuracy") or {}).items()
            if isinstance(v, dict)
        ]
    scores, intervals = s.get("scores") or {}, s.get("intervals") or {}
    by_score, by_subset = intervals.get("scores") or {}, intervals.get("subsets") or {}
    rows: list[tuple[str, float | None, tuple[float, float] | None, str]] = []
    if "overall" in scores:
        rows.append(("overall", _number(scores["overall"]), _interval(by_score, "overall"), str(s.get("n_items", ""))))
    # Other top-level estimates a task reports next to its overall (RewardBench 2's item-weighted ``micro``).
    for name, v in scores.items():
        if name != "overall" and isinstance(v, float):
            rows.append((str(name), v, _interval(by_score, name), ""))
    for name, v in (scores.get("sections") or {}).items():
        rows.append((f"section {name}", _number(v), _interval(by_score, f"sections.{name}"), ""))
    for name, v in (s.get("subsets") or {}).items():
        if isinstance(v, dict):
            rows.append((f"subset {name}", subset_score(v), _interval(by_subset, name), str(v.get("n", ""))))
    return rows


def subset_score(entry: dict[str, Any]) -> float | None:
    """A subset's headline number: ``accuracy`` in pairwise summaries, ``score`` in bestof (RewardBench 2) ones."""
    return _number(entry.get("accuracy", entry.get("score")))


def _known(values: dict[str, float | None]) -> dict[str, float]:
    return {k: v for k, v in values.items() if v is not None}


def _pairwise_bars(run: ReportRun) -> list[Figure]:
    s, out = run.summary, []
    intervals = s.get("intervals") or {}
    method = intervals.get("method", "no interval recorded")
    conf = intervals.get("confidence", 0.95)
    sections = _known({k: _number(v) for k, v in ((s.get("scores") or {}).get("sections") or {}).items()})
    if sections:
        cis = [_interval(intervals.get("scores") or {}, f"sections.{k}") for k in sections]
        out.append(
            Figure(
                "Section scores",
                _whisker_bars(list(sections), list(sections.values()), cis, "score (%)"),
                f"Each section's score as the benchmark weights its subsets (summary.json scores.sections); "
                f"whiskers: {100 * conf:.0f}% interval ({method}). The dotted line is chance for a pairwise choice.",
            )
        )
    subsets = _known({k: subset_score(v) for k, v in (s.get("subsets") or {}).items() if isinstance(v, dict)})
    if not subsets:
        return out
    cis = [_interval(intervals.get("subsets") or {}, k) for k in subsets]
    if run.kind == "bestof":
        # RewardBench 2: one chosen among (mostly) four, so chance is 25%; Ties has its own composite score.
        bars = _whisker_bars(list(subsets), list(subsets.values()), cis, "score (%)", chance=0.25)
        caption = (
            f"Score per subset (summary.json subsets.*.score): the mean item score, an item scoring 1 when the "
            f"judge ({s.get('mode', '?')} mode) puts the chosen completion above the rejected ones (Ties: the "
            f"benchmark's weighted composite of tied and reference accuracy and margins), unreadable verdicts as "
            f"the failure policy ({s.get('failure_policy', '?')}) says; whiskers: {100 * conf:.0f}% interval "
            f"({method}). Dotted line: 25%, chance for one correct among four."
        )
        out.append(Figure("Subset scores", bars, caption))
        return out
    out.append(
        Figure(
            "Subset accuracy",
            _whisker_bars(list(subsets), list(subsets.values()), cis, "accuracy (%)"),
            f"Accuracy per subset: the share of items scored correct under the run's failure policy "
            f"({s.get('failure_policy', '?')}); whiskers: {100 * conf:.0f}% interval ({method}). The dotted line "
            f"is chance for a pairwise choice.",
        )
    )
    return out


def _position_figure(consistency: float | None, first: float | None, kind: str) -> Figure | None:
    bars = [(n, v) for n, v in (("position consistency", consistency), ("first-position rate", first)) if v is not None]
    if not bars:
        return None
    plt = pyplot()
    with plt.rc_context(RC):
        fig, ax = new_figure(6.4, 1.3)
        ax.barh([1, 0][: len(bars)], [100 * v for _, v in bars], color=[BAR, ACCENT][: len(bars)], height=0.6)
        ax.set_yticks([1, 0][: len(bars)], labels=[n for n, _ in bars])
        ax.set_xlim(0, 100)
        ax.axvline(50, color=GREY, lw=0.8, ls=":")
        ax.set_xlabel("%")
        svg = to_svg(fig)
    what = (
        "Position consistency: the share of items whose verdict picks the same answer in both orders (pairwise runs "
        "judged in both orders). "
        if kind == "pairwise"
        else ""
    )
    return Figure(
        "Order effects",
        svg,
        what + "First-position rate: the share of readable verdicts that prefer the answer shown first; an "
        "order-blind judge sits near 50% (dotted line) when each pair is shown both ways.",
    )


def _failure_figure(run: ReportRun) -> Figure:
    judges = run.judge_records()
    reasons = Counter(r.failure for r in judges if r.failure)
    finish = Counter(r.finish_reason for r in judges)
    truncated = sum(n for f, n in finish.items() if f == "length")
    plt = pyplot()
    with plt.rc_context(RC):
        names = sorted(reasons, key=lambda k: -reasons[k]) or ["(none)"]
        fig, ax = new_figure(6.4, 0.6 + 0.28 * len(names))
        ys = list(range(len(names)))[::-1]
        ax.barh(ys, [reasons.get(n, 0) for n in names], color=ACCENT, height=0.6)
        ax.set_yticks(ys, labels=names)
        ax.set_xlabel("judge calls")
        ax.set_xlim(0, max(1, *reasons.values()) if reasons else 1)  # counts: never a negative axis
        svg = to_svg(fig)
    n = max(len(judges), 1)
    return Figure(
        "Unreadable verdicts",
        svg,
        f"Judge calls whose verdict could not be read, by the parser's failure reason ({sum(reasons.values())} of "
        f"{len(judges)} calls, {100 * sum(reasons.values()) / n:.1f}%). Truncated outputs (finish reason 'length'): "
        f"{truncated} ({100 * truncated / n:.1f}%). Counted from records.jsonl.",
    )


def _length_figure(run: ReportRun) -> Figure:
    judges = run.judge_records()
    lengths = [r.completion_tokens for r in judges if r.finish_reason not in ("scored", "input_too_long", "error")]
    plt = pyplot()
    with plt.rc_context(RC):
        fig, ax = new_figure(6.4, 2.2)
        ax.hist(lengths or [0], bins=min(40, max(5, len(set(lengths)))), color=BAR)
        ax.set_xlabel("completion tokens per judge call")
        ax.set_ylabel("calls")
        svg = to_svg(fig)
    median = sorted(lengths)[len(lengths) // 2] if lengths else 0
    return Figure(
        "Output length",
        svg,
        f"Histogram of completion_tokens over the {len(lengths)} generated judge calls in records.jsonl (calls that "
        f"were scored without generating, too long to run, or failed in the backend are left out); median {median}, "
        f"max {max(lengths, default=0)} tokens.",
    )


def _set_of(run: ReportRun) -> dict[str, str]:
    """match id -> problem (candidate set) id, from the advance records; else the match id's first field."""
    from rrm_eval.runs import AdvanceRecord

    return {r.item_id: r.set_id for r in run.records if isinstance(r, AdvanceRecord)}


def _tournament_figures(run: ReportRun) -> list[Figure]:
    s = run.summary
    rows = [(n, v, ci) for n, v, ci, _ in score_rows(run) if v is not None]
    out = []
    if rows:
        boot = (s.get("scoring") or {}).get("accuracy_bootstrap", "?")
        out.append(
            Figure(
                "Selector accuracy",
                _whisker_bars([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], "accuracy (%)"),
                f"Best-of-N accuracy of each selector: the share of problems whose selected candidate is correct "
                f"(oracle: any correct candidate; single-sample: expected accuracy of one random candidate). Whiskers: "
                f"95% interval (ci95 in summary.json; {boot} bootstrap resamples over problems). Primary selector of "
                f"the {s.get('schedule', '?')} schedule: {s.get('primary', '?')}.",
            )
        )
    by_match = _set_of(run)
    calls: dict[str, int] = defaultdict(int)
    for r in run.judge_records():
        calls[by_match.get(r.item_id, r.item_id.split("|")[0])] += 1
    if calls:
        plt = pyplot()
        with plt.rc_context(RC):
            counts = sorted(calls.values())
            fig, ax = new_figure(6.4, 2.0)
            ax.hist(counts, bins=min(30, max(3, len(set(counts)))), color=BAR)
            ax.set_xlabel("judge calls per problem")
            ax.set_ylabel("problems")
            svg = to_svg(fig)
        spend = s.get("spend") or {}
        out.append(
            Figure(
                "Judge calls per problem",
                svg,
                f"How many judge calls each problem (candidate set) took, counted from the judge records "
                f"({sum(counts)} calls over {len(counts)} problems; summary spend: "
                f"{spend.get('judge_calls_per_set', '?')} per set).",
            )
        )
    fp = _number((s.get("verdicts") or {}).get("first_position_rate"))
    pos = _position_figure(None, fp, "tournament")
    if pos:
        out.append(pos)
    return out


def figures_for(run: ReportRun) -> list[Figure]:
    """The figures of one readable run, by its kind."""
    if run.kind == "sweep":
        return sweep_figures(run)  # each budget's own figures are those of its pairwise run
    if run.kind == "tournament":
        figs = _tournament_figures(run)
        ratings = ratings_figure(run)
        if ratings:
            figs.insert(1, ratings)
    else:
        figs = _pairwise_bars(run)
        rec = run.summary.get("records") or {}
        pos = _position_figure(
            _number(run.summary.get("position_consistency")), _number(rec.get("first_position_rate")), run.kind
        )
        if pos:
            figs.append(pos)
        votes = votes_figure(run) if run.kind == "pairwise" else None
        if votes:
            figs.append(votes)
    figs.append(_failure_figure(run))
    figs.append(_length_figure(run))
    return figs


def comparison_figure(comp: dict[str, Any], method: str) -> Figure:
    """Paired differences B - A (points) with their intervals, one bar per score and subset of a comparison."""
    rows = [r for r in comp.get("rows", []) if _number(r.get("diff")) is not None]
    names = [str(r["name"]).removeprefix("sections.") for r in rows]
    plt = pyplot()
    with plt.rc_context(RC):
        fig, ax = new_figure(6.4, 0.6 + 0.28 * max(len(rows), 1))
        ys = list(range(len(rows)))[::-1]
        diffs = [100 * r["diff"] for r in rows]
        ax.barh(ys, diffs, color=[BAR if d >= 0 else ACCENT for d in diffs], height=0.6)
        for y, r, d in zip(ys, rows, diffs, strict=True):
            ci = r.get("ci")
            if isinstance(ci, (list, tuple)) and len(ci) == 2:
                ax.errorbar([d], [y], xerr=[[d - 100 * ci[0]], [100 * ci[1] - d]], fmt="none", ecolor=GREY, capsize=3)
        ax.set_yticks(ys, labels=names)
        ax.axvline(0, color=GREY, lw=0.8)
        ax.set_xlabel(f"{comp['b']} - {comp['a']} (points)")
        svg = to_svg(fig)
    return Figure(
        f"{comp['b']} vs {comp['a']}",
        svg,
        f"Paired difference {comp['b']} - {comp['a']} on the {comp.get('n_common', '?')} items both runs judged, per "
        f"score and subset (as rrm-eval compare computes it); whiskers: 95% interval ({method}).",
    )

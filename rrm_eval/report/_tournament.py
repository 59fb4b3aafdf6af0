"""Tournament figures: candidates' ratings with bootstrap intervals, and accuracy vs judge calls across schedules.

Ratings are recomputed with the scoring package's rating code (``resolve_games`` under the run's verdict policy,
``elo`` over ``shuffled`` games, ``bradley_terry_bootstrap``) from the run's ``rivals.jsonl``; the points are the
ratings the run saved (``ratings.jsonl``). The run's files are only read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rrm_eval._seeding import stable_seed
from rrm_eval.report._loading import ReportRun
from rrm_eval.report._plot import ACCENT, BAR, GREY, RC, Figure, interval, new_figure, number, pyplot, to_svg

#: Bootstrap resamples of a problem's games, and how many problems the ratings figure shows.
ROUNDS = 200
PROBLEMS = 3
#: Candidate ids are written under the axis up to this many candidates (beyond it they would overlap).
LABELLED = 16


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a jsonl file; a missing file or a bad line gives what could be read (a figure drawn from
    a partial file says so through its counts, and never makes the run unreadable)."""
    out: list[dict[str, Any]] = []
    try:
        with path.open("rb") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict):
                    out.append(row)
    except OSError:
        return []
    return out


def primary_of(run: ReportRun) -> str:
    return str(run.summary.get("primary") or "elo")


def _elo_bootstrap(games: Sequence[Any], ids: Sequence[str], seed: int, set_id: str) -> dict[str, tuple[float, float]]:
    """Percentile 95% intervals of the run's Elo (one pass, the run's seeded order) over resamples of the games."""
    from rrm_eval.scoring import ELO_DEFAULTS, elo, shuffled

    rng = np.random.default_rng(stable_seed("report-elo-bootstrap", seed, set_id, *sorted(g.key for g in games)))
    draws = np.empty((ROUNDS, len(ids)))
    for b in range(ROUNDS):
        sample = [games[i] for i in rng.integers(0, len(games), len(games))]
        rated = elo(shuffled(sample, seed, set_id), ids, **ELO_DEFAULTS)
        draws[b] = [rated[p] for p in ids]
    lo, hi = np.quantile(draws, [0.025, 0.975], axis=0)
    return {p: (float(a), float(z)) for p, a, z in zip(ids, lo, hi, strict=True)}


def _problems(ratings: list[dict[str, Any]], primary: str) -> list[dict[str, Any]]:
    """Up to PROBLEMS problems: first those whose pick was wrong although a correct candidate existed (where the
    judge cost accuracy), then the others, each group in the run's order."""
    missed = [r for r in ratings if r.get("n_correct") and (r.get("correct") or {}).get(primary) is False]
    rest = [r for r in ratings if r not in missed]
    return (missed + rest)[:PROBLEMS]


def ratings_figure(run: ReportRun) -> Figure | None:
    from rrm_eval.scoring import bradley_terry_bootstrap, resolve_games

    ratings = _jsonl(run.run_dir / "ratings.jsonl")
    rivals = _jsonl(run.run_dir / "rivals.jsonl")
    if not ratings or not rivals:
        return None
    primary = primary_of(run)
    system = "elo" if primary == "elo" else "bradley-terry"
    scoring = run.summary.get("scoring") or {}
    policy, seed = str(scoring.get("verdict_policy", "coin")), int(number(scoring.get("seed")) or 0)
    l2 = number(scoring.get("bt_l2"))
    correct = {
        str(row.get("id")): {str(c.get("id")): bool(c.get("correct")) for c in row.get("candidates") or []}
        for row in _jsonl(run.run_dir / "candidate_sets.jsonl")
    }
    by_set: dict[str, list[dict[str, Any]]] = {}
    for row in rivals:
        by_set.setdefault(str(row.get("set_id")), []).append(row)
    panels = []
    for rated in _problems(ratings, primary):
        sid = str(rated.get("set_id"))
        points: Mapping[str, Any] = (rated.get("ratings") or {}).get(system) or {}
        if not points or sid not in by_set:
            continue
        ids = list(points)
        games, _ = resolve_games(by_set[sid], policy, seed)  # type: ignore[arg-type]
        saved = rated.get("bradley_terry_ci95") if system == "bradley-terry" else None
        if isinstance(saved, dict):
            cis = {p: interval(v) for p, v in saved.items()}
        elif system == "elo":
            cis = dict(_elo_bootstrap(games, ids, seed, sid))
        else:
            boot = bradley_terry_bootstrap(games, ids, rounds=ROUNDS, seed=seed, l2=1e-2 if l2 is None else l2)
            cis = dict(boot)
        pick = (rated.get("selected") or {}).get(primary)
        panels.append((sid, ids, points, cis, correct.get(sid, {}), pick, len(games)))
    if not panels:
        return None
    svg = _draw_panels(panels, system)
    how = (
        "saved by the run (--bt-bootstrap)"
        if any(isinstance(r.get("bradley_terry_ci95"), dict) for r in ratings) and system == "bradley-terry"
        else f"{ROUNDS} resamples of the problem's games with replacement, rated again"
        + (" with the run's one-pass Elo in its seeded order" if system == "elo" else " by Bradley-Terry")
    )
    return Figure(
        "Candidate ratings",
        svg,
        f"{'Elo' if system == 'elo' else 'Bradley-Terry (Elo scale)'} rating of every candidate of "
        f"{len(panels)} problem(s) (ratings.jsonl), sorted; blue: correct candidate, orange: wrong, ringed: the "
        f"{primary} pick. Problems shown: first those whose pick was wrong although a correct candidate existed, "
        f"then the run's first problems. Whiskers: 95% percentile interval over {how}; unreadable verdicts as "
        f"the run's verdict policy ({policy}) says. Few games per candidate (a knockout) give wide intervals.",
    )


def _draw_panels(panels: list[Any], system: str) -> str:
    plt = pyplot()
    with plt.rc_context(RC):
        fig, axes = plt.subplots(len(panels), 1, figsize=(6.4, 1.2 + 1.7 * len(panels)), squeeze=False)
        for ax, (sid, ids, points, cis, correct, pick, n_games) in zip(axes[:, 0], panels, strict=True):
            order = sorted(ids, key=lambda p: -float(points[p]))
            xs = list(range(len(order)))
            ys = [float(points[p]) for p in order]
            for x, p, y in zip(xs, order, ys, strict=True):
                ci = cis.get(p)
                if ci is not None:
                    ax.errorbar([x], [y], yerr=[[max(0.0, y - ci[0])], [max(0.0, ci[1] - y)]], fmt="none", ecolor=GREY)
            ax.scatter(xs, ys, c=[BAR if correct.get(p) else ACCENT for p in order], s=22, zorder=3)
            if pick in order:
                k = order.index(pick)
                ax.scatter([k], [ys[k]], s=90, facecolors="none", edgecolors=GREY, lw=1.2, zorder=4)
            ax.set_xticks(xs, labels=order if len(order) <= LABELLED else ["" for _ in order])
            ax.set_title(f"problem {sid} ({n_games} games)", fontsize=8, loc="left")
            ax.set_ylabel("Elo" if system == "elo" else "BT (Elo scale)")
        fig.tight_layout()
        return to_svg(fig)


# -- several tournaments on the same candidates ---------------------------------------------------------------------
def _accuracy(run: ReportRun, selector: str) -> tuple[float | None, tuple[float, float] | None]:
    acc = (run.summary.get("accuracy") or {}).get(selector)
    if not isinstance(acc, dict):
        return None, None
    return number(acc.get("accuracy")), interval(acc.get("ci95"))


def schedule_rows(runs: Sequence[ReportRun]) -> list[dict[str, Any]]:
    """Per run: schedule, games per match, mean judge calls per problem and the primary selector's accuracy."""
    rows = []
    for run in runs:
        s = run.summary
        value, ci = _accuracy(run, primary_of(run))
        rows.append(
            {
                "label": run.label,
                "schedule": str(s.get("schedule", "?")),
                "games": s.get("games_per_match"),
                "primary": primary_of(run),
                "calls": number((s.get("spend") or {}).get("judge_calls_per_set")),
                "accuracy": value,
                "interval": ci,
                "n": s.get("n_sets"),
            }
        )
    return rows


def schedule_figure(runs: Sequence[ReportRun]) -> Figure | None:
    rows = [r for r in schedule_rows(runs) if r["calls"] is not None and r["accuracy"] is not None]
    if len(rows) < 2:
        return None
    plt = pyplot()
    with plt.rc_context(RC):
        fig, ax = new_figure(6.4, 3.0)
        for r in rows:
            x, y, ci = r["calls"], 100 * r["accuracy"], r["interval"]
            if ci is not None:
                ax.errorbar([x], [y], yerr=[[y - 100 * ci[0]], [100 * ci[1] - y]], fmt="none", ecolor=GREY, capsize=3)
            ax.plot([x], [y], "o", color=BAR, zorder=3)
            games = f" x{r['games']}" if isinstance(r["games"], int) and r["games"] > 1 else ""
            name = f"{r['label']}: {r['schedule']}{games}" if r["label"] else f"{r['schedule']}{games}"
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4))
        # What needs no judge at all, from the first run (the same candidates give the same numbers in every run).
        refs = []
        for selector, style in (("oracle", ":"), ("majority", "--"), ("single-sample", "-.")):
            value, _ = _accuracy(runs[0], selector)
            if value is not None:
                ax.axhline(100 * value, color=GREY, lw=0.8, ls=style)
                refs.append(f"{selector} {100 * value:.1f}%")
                ax.annotate(selector, (0, 100 * value), textcoords="offset points", xytext=(2, 2), fontsize=7)
        ax.set_xlim(left=0)
        ax.set_xlabel("mean judge calls per problem")
        ax.set_ylabel("best-of-N accuracy (%)")
        svg = to_svg(fig)
    return Figure(
        "Accuracy vs judge calls",
        svg,
        f"One point per tournament run on the same candidate sets: the mean judge calls per problem (summary.json "
        f"spend.judge_calls_per_set: judge records over problems) against the best-of-N accuracy of the run's "
        f"primary selector (the share of problems whose pick is correct). Whiskers: 95% interval (ci95 in "
        f"summary.json, percentile bootstrap over problems). Lines: accuracy without a judge, from run "
        f"{runs[0].label} ({', '.join(refs) or 'none'}): oracle (any candidate correct, dotted), majority vote over "
        f"answers (dashed), one random candidate (dash-dot).",
    )

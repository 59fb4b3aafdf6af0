"""Paired comparison of best-of-N (RewardBench 2) runs on the items they both judged (``rrm-eval compare``).

Runs must be of the same task over the same data (task name and data fingerprint); the way each was played may
differ -- comparing a listwise run with a ratings run of the same judge is a main use -- and the comparison says
which modes it compares. Only records and items.json are read; no model is loaded.

Per subset, the official overall and the micro figure: both runs' values on the common items, the difference B - A
with a paired bootstrap interval (:func:`rrm_eval.scoring._intervals.paired_bootstrap_sums`: the same items, and for
Ties the same whole prompt ids, drawn for both runs; the official aggregation applied to each resample) and an exact
sign-test / McNemar p-value. The units of the test:

* a best-of-4 subset: its items' scores (1 / 0, or a fraction: 0.25 for chance under the ``tie`` policy, 1/k for a
  k-way top-rating tie), by :func:`rrm_eval.scoring.sign_test` (an item counts for the run that scored it higher);
* Ties: its formula is not a mean of per-item scores, so no per-item test matches it. The p-value is a sign test on
  per-prompt-id accuracy: a prompt id's accuracy is the mean, over its ``ref`` / ``tied`` rows, of "worst correct
  rating > best incorrect" (the 0.60 of the formula that is accuracy); the other terms (margins against spreads) are
  covered by the bootstrap interval only. Prompt ids, not rows, are the units, as in the bootstrap: a prompt's two
  rows share a question and are not independent;
* overall and micro: every unit above, pooled (unweighted), as pairwise comparisons pool a section's items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.pipelines.bestof import ITEMS
from rrm_eval.pipelines.pairwise import run_spec
from rrm_eval.runs import RECORDS, load_records, read_json
from rrm_eval.scoring import BOOTSTRAP_RESAMPLES, FAILURE_POLICIES, sign_test
from rrm_eval.scoring._intervals import CONFIDENCE, PAIRED_METHOD, TEST_METHOD, PairedEstimate, paired_bootstrap_sums
from rrm_eval.scoring._rewardbench2 import (
    SUBSETS,
    TIES,
    RB2Scores,
    TiesUnit,
    item_scores,
    rb2_statistic,
    scored_features,
    ties_units,
)

METHOD = PAIRED_METHOD + " (Ties: whole prompt ids)"
TIES_TEST = (
    "Ties: sign test on per-prompt-id accuracy (mean over its ref/tied rows of worst correct rating > best "
    "incorrect); the margin terms of the Ties formula are in the bootstrap interval only"
)
POOLED = "overall and micro: p pools every item and Ties prompt id (unweighted); the interval uses the official weights"
MICRO = "micro"


@dataclass(frozen=True)
class LoadedBestOf:
    """A best-of-N run scored under ``policy``: its item scores and Ties ratings (:class:`RB2Scores`)."""

    label: str
    run_dir: Path
    spec: dict[str, Any]
    policy: str
    mode: str
    scored: RB2Scores

    def ids(self) -> set[str]:
        """Every scored id: best-of-4 items and Ties rows."""
        return {i for by_id in self.scored.item_scores.values() for i in by_id} | set(self.scored.ties_rows)

    def describe(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "run_dir": str(self.run_dir),
            "kind": "bestof",
            "mode": self.mode,
            "judge": (self.spec.get("judge") or {}).get("name"),
            "ties_judge": (self.spec.get("ties_judge") or {}).get("name"),
            "model": (self.spec.get("model") or {}).get("spec"),
            "seed": (self.spec.get("protocol") or {}).get("seed"),
            "failure_policy": self.policy,
            "n_items": len(self.ids()),
        }


def load_bestof_run(run_dir: str | Path, label: str, policy: str | None = None) -> LoadedBestOf:
    """A bestof run's item scores (under ``policy``, or the run's own failure policy)."""
    path = Path(run_dir)
    spec = run_spec(path, "bestof")
    mode = (spec.get("protocol") or {}).get("mode")
    if not isinstance(mode, str):
        raise RRMError(f"{path / 'spec.json'} lacks protocol.mode", hint="restore spec.json")
    policy = policy or str(spec.get("failure_policy") or "tie")
    if policy not in FAILURE_POLICIES:
        raise RRMError(f"{path}: unknown failure policy {policy!r}", hint=f"use one of {', '.join(FAILURE_POLICIES)}")
    if not (path / ITEMS).exists():
        raise RRMError(
            f"{path / ITEMS} does not exist: the run never got as far as scoring", hint="resume the run first"
        )
    records = load_records(path / RECORDS, drop=("prompt", "raw"))
    if not any(r.get("kind", "judge") == "judge" for r in records):
        raise RRMError(f"{path} has no judge records", hint="run (or resume) the evaluation first")
    return LoadedBestOf(label, path, spec, policy, mode, item_scores(read_json(path / ITEMS), records, mode, policy))


def restrict(scored: RB2Scores, ids: set[str]) -> RB2Scores:
    """``scored`` on ``ids`` only, with its units rebuilt (Ties prompt ids from the kept rows), so two runs
    restricted to their common ids have the same units in the same order."""
    out = RB2Scores()
    for subset, by_id in scored.item_scores.items():
        kept = {i: by_id[i] for i in sorted(by_id) if i in ids}
        if kept:
            out.item_scores[subset] = kept
            out.units[subset] = list(kept.values())
    out.ties_rows = {k: scored.ties_rows[k] for k in sorted(scored.ties_rows) if k in ids}
    if out.ties_rows:
        out.units[TIES] = list(ties_units(out.ties_rows))
    return out


def pid_accuracy(unit: TiesUnit) -> float:
    """A Ties prompt id's accuracy: the mean over its rows of "worst correct > best incorrect"."""
    rows = [s.accurate for s in (unit.ref, unit.tied) if s is not None]
    return sum(rows) / len(rows)


def sign_units(scored: RB2Scores) -> dict[str, list[float]]:
    """Per subset, the units of the sign test in a fixed order: item scores (sorted ids), Ties per-pid accuracy."""
    out = {s: list(by_id.values()) for s, by_id in scored.item_scores.items()}
    if scored.ties_rows:
        out[TIES] = [pid_accuracy(u) for u in ties_units(scored.ties_rows)]
    return out


def _row(
    kind: str, name: str, est: PairedEstimate, a: Sequence[float], b: Sequence[float], unit: str
) -> dict[str, Any]:
    test = sign_test(a, b)
    return {
        "kind": kind,
        "name": name,
        "n": len(a),
        "unit": unit,
        "a": est.a,
        "b": est.b,
        "diff": est.diff,
        "ci": [est.ci[0], est.ci[1]],
        "p_value": test.p_value,
        "a_better": test.a_better,
        "b_better": test.b_better,
    }


def _ordered(names: Mapping[str, Any]) -> list[str]:
    return sorted(names, key=lambda s: (SUBSETS.index(s) if s in SUBSETS else len(SUBSETS), s))


def compare_bestof_pair(
    a: LoadedBestOf, b: LoadedBestOf, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0, alpha: float = 0.05
) -> dict[str, Any]:
    """One comparison (B against A) on their common items: rows, verdicts and the caveat, as a JSON-ready dict."""
    from rrm_eval.pipelines.compare import MULTIPLE_COMPARISONS, _verdict

    common = a.ids() & b.ids()
    if not common:
        raise RRMError(
            f"{b.run_dir} and {a.run_dir} have no judged item in common",
            hint="compare runs over overlapping items (e.g. the same --subsets / --limit)",
        )
    ra, rb = restrict(a.scored, common), restrict(b.scored, common)
    (fa, ids), (fb, _) = scored_features(ra), scored_features(rb)
    task = str(a.spec["task"]["name"])
    pb = paired_bootstrap_sums(fa, fb, rb2_statistic, ids, resamples, seed=seed, content=(task,))
    ua, ub = sign_units(ra), sign_units(rb)
    subset_rows = [
        _row("subset", s, pb.subsets[s], ua[s], ub[s], "prompt ids" if s == TIES else "items")
        for s in _ordered(pb.subsets)
    ]
    pooled_a = [x for s in _ordered(ua) for x in ua[s]]
    pooled_b = [x for s in _ordered(ub) for x in ub[s]]
    overall, micro = (
        _row("score", name, pb.scores[name], pooled_a, pooled_b, "items + Ties prompt ids")
        for name in ("overall", MICRO)
    )
    rows = [overall, micro, *subset_rows]
    # Six subsets are the benchmark's headline numbers: each gets a verdict line; micro (not official) goes last.
    verdicts = [
        _verdict("micro (item-weighted)" if r is micro else r["name"], r, alpha, a.label, b.label)
        for r in (overall, *subset_rows, micro)
        if r["n"]
    ]
    tested = sum(1 for r in rows if r["n"])
    return {
        "a": a.label,
        "b": b.label,
        "modes": f"{a.label} {a.mode} vs {b.label} {b.mode}",
        "n_common": pb.n_common,
        "only_a": len(a.ids() - b.ids()),
        "only_b": len(b.ids() - a.ids()),
        "resamples": pb.resamples,
        "seed": pb.seed,
        "rng_seed": pb.rng_seed,
        "rows": rows,
        "verdicts": verdicts,
        "caveat": MULTIPLE_COMPARISONS.format(alpha=alpha, m=tested, bonferroni=alpha / max(1, tested)),
    }


def compare_bestof_runs(
    run_dirs: Sequence[str | Path],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int | None = None,
    alpha: float = 0.05,
    failure_policy: str | None = None,
) -> dict[str, Any]:
    """Compare bestof runs: each run after the first against the first, on the items both judged (arguments as
    :func:`rrm_eval.pipelines.compare.compare_runs`, which checks them and calls this for bestof runs)."""
    from rrm_eval.pipelines.compare import _check_same_benchmark, _label, _task_section

    runs = [load_bestof_run(d, _label(k), failure_policy) for k, d in enumerate(run_dirs)]
    _check_same_benchmark(runs)
    task, data = _task_section(runs[0].run_dir, runs[0].spec)
    if seed is None:
        first_seed = (runs[0].spec.get("protocol") or {}).get("seed", 0)
        seed = first_seed if isinstance(first_seed, int) and not isinstance(first_seed, bool) else 0
    return {
        "kind": "bestof",
        "task": task,
        "data_fingerprint": data,
        "method": METHOD,
        "test": f"{TEST_METHOD}; {TIES_TEST}",
        "confidence": CONFIDENCE,
        "alpha": alpha,
        "runs": [r.describe() for r in runs],
        "comparisons": [compare_bestof_pair(runs[0], r, resamples, seed, alpha) for r in runs[1:]],
        "notes": [
            "the two runs may be played in different modes (listwise / ratings / knockout); Ties is rated in every "
            "mode",
            TIES_TEST,
            POOLED,
        ],
    }


__all__ = ["LoadedBestOf", "compare_bestof_pair", "compare_bestof_runs", "load_bestof_run", "restrict"]

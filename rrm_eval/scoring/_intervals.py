"""Confidence intervals on benchmark scores and paired tests between two runs. Pure functions; no model is called.

**Bootstrap.** A 95 % percentile bootstrap that respects how benchmarks are built: items are resampled *within* each
subset (with replacement, each subset keeping its size), per-subset accuracies are recomputed from the item scores,
and the benchmark's own aggregation (``task.summarize``: subset accuracies and counts -> its scores dict) is applied
to every resample. Every float in that dict (overall, each section, micro/macro variants) gets the 2.5th and 97.5th
percentiles of its resampled values (Efron & Tibshirani, *An Introduction to the Bootstrap*, ch. 13).

Drawing n items with replacement from a subset is the same as drawing how often each item is picked,
Multinomial(n, 1/n each); items with the same score are interchangeable, so only how many draws land on each distinct
score matters: Multinomial(n, share of each distinct score). That is exactly the same distribution as resampling
indices, at a cost of (resamples x distinct scores) instead of (resamples x items) — a 30,000-item run whose items
score 0, 0.5 or 1 needs three numbers per subset and resample. The paired version does the same over distinct
(score A, score B) pairs, so both runs always see the same resampled items.

**Paired test.** :func:`sign_test` is the exact two-sided McNemar test (binomial on the discordant pairs, p = 1/2),
generalised to fractional item scores (0.5 for a tie or an unreadable verdict under the ``tie`` policy, 0.25 / 0.75
for a split of two orders) as a sign test on the score differences: an item is discordant when its two scores differ,
and it counts for the run that scored it higher, whatever the size of the gap. On 0/1 scores this is McNemar's test
exactly; items where both runs score the same (including 0.5 and 0.5) carry no information about which is better.

**Units other than items.** :func:`bootstrap_sums` / :func:`paired_bootstrap_sums` resample *units* described by
feature rows (one row per unit, e.g. a RewardBench 2 Ties prompt id with its ref/tied accuracies and margin terms)
and hand the per-resample column sums to a vectorised statistic: for a benchmark whose scores are ratios of per-unit
sums, the same multinomial-over-distinct-rows draw serves any formula, with no Python loop over resamples.

Seeds: :func:`bootstrap_seed` derives the generator's seed from the run seed and the content (task name, the sorted
item ids), so a resumed run, a re-score and any process give the same intervals.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from rrm_eval._errors import RRMError
from rrm_eval._seeding import stable_seed
from rrm_eval.scoring._pairwise import ItemScore

#: Default number of bootstrap resamples (``0`` turns intervals off).
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95
METHOD = "percentile bootstrap, items resampled within subsets"
PAIRED_METHOD = "paired percentile bootstrap, the same items resampled within subsets for both runs"
TEST_METHOD = (
    "exact two-sided McNemar test on the discordant items (binomial, p = 1/2); with fractional item scores it is a "
    "sign test: an item counts for the run that scored it higher"
)

#: A benchmark's aggregation: (subset accuracies in [0, 1], subset counts) -> its scores dict (``task.summarize``).
Aggregate = Callable[[dict[str, float], dict[str, int]], Mapping[str, Any]]
FloatArray = npt.NDArray[np.float64]


def score_leaves(scores: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The estimates in a scores dict, flattened to dotted names (``overall``, ``sections.Chat Hard``).

    Only floats are estimates: integers are counts (``n_rounds``), booleans flags, lists labels."""
    out: dict[str, float] = {}
    for key, value in scores.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(score_leaves(value, f"{name}."))
        elif isinstance(value, float):
            out[name] = value
    return out


def bootstrap_seed(seed: int, *content: Any) -> int:
    """The generator seed of a bootstrap: the run seed plus what is resampled (never the time or global state)."""
    return stable_seed("bootstrap", seed, *content)


def _check_resamples(resamples: int, confidence: float) -> None:
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise RRMError(f"bootstrap resamples must be a whole number >= 1, got {resamples!r}", hint="e.g. 1000")
    if not 0.0 < confidence < 1.0:
        raise RRMError(f"confidence must be in (0, 1), got {confidence!r}", hint="e.g. 0.95")


def _by_subset(columns: Iterable[Mapping[str, ItemScore]], ids: Iterable[str]) -> dict[str, FloatArray]:
    """Subset -> (items x runs) score matrix, rows in sorted id order (the result does not depend on order anyway)."""
    cols = list(columns)
    rows: dict[str, list[list[float]]] = defaultdict(list)
    for item_id in sorted(ids):
        rows[cols[0][item_id].subset].append([c[item_id].score for c in cols])
    return {s: np.asarray(r, dtype=np.float64) for s, r in sorted(rows.items())}


def resampled_sums(rng: np.random.Generator, features: FloatArray, resamples: int) -> FloatArray:
    """(resamples x columns) column sums of ``features`` (units x columns) over resamples of its rows (units drawn
    with replacement, as many as there are), drawn as multinomial counts of its distinct rows (the module docstring
    says why that is the same as resampling rows)."""
    n = features.shape[0]
    distinct, counts = np.unique(features, axis=0, return_counts=True)
    draws = rng.multinomial(n, counts / n, size=resamples)  # (resamples x distinct rows)
    sums: FloatArray = draws @ distinct
    return sums


def _resampled_means(rng: np.random.Generator, scores: FloatArray, resamples: int) -> FloatArray:
    """(resamples x runs) means of ``scores`` (items x runs) over resamples of its rows."""
    means: FloatArray = resampled_sums(rng, scores, resamples) / scores.shape[0]
    return means


def _percentiles(values: FloatArray, confidence: float) -> tuple[float, float]:
    tail = 100 * (1 - confidence) / 2
    if np.all(np.isnan(values)):
        return (math.nan, math.nan)
    lo, hi = np.nanpercentile(values, [tail, 100 - tail])
    return (float(lo), float(hi))


def _aggregate_all(
    aggregate: Aggregate, subsets: list[str], acc: FloatArray, counts: dict[str, int], names: list[str]
) -> FloatArray:
    """(resamples x names) leaves of ``aggregate`` applied to each row of ``acc`` (resamples x subsets).

    The aggregation is the task's own Python function, called once per resample rather than rewritten for arrays:
    it stays the one definition of the benchmark's number (about 20 us a call for RewardBench's sections)."""
    out = np.full((acc.shape[0], len(names)), np.nan)
    index = {name: k for k, name in enumerate(names)}
    for b, row in enumerate(acc.tolist()):
        for name, value in score_leaves(aggregate(dict(zip(subsets, row, strict=True)), counts)).items():
            k = index.get(name)
            if k is not None:
                out[b, k] = value
    return out


@dataclass(frozen=True)
class Intervals:
    """Percentile intervals of one run's scores (``scores``: dotted leaf names) and subset accuracies."""

    resamples: int
    seed: int
    rng_seed: int
    confidence: float
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    subsets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": METHOD,
            "confidence": self.confidence,
            "resamples": self.resamples,
            "seed": self.seed,
            "rng_seed": self.rng_seed,
            "scores": {k: [lo, hi] for k, (lo, hi) in self.scores.items()},
            "subsets": {k: [lo, hi] for k, (lo, hi) in self.subsets.items()},
        }


def bootstrap_intervals(
    items: Mapping[str, ItemScore],
    aggregate: Aggregate,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    content: tuple[Any, ...] = (),
    confidence: float = CONFIDENCE,
) -> Intervals:
    """Percentile bootstrap intervals of every score ``aggregate`` reports and of every subset accuracy.

    ``items``: item id -> :class:`ItemScore` (``rrm_eval.scoring.score_items``); ``seed``: the run seed; ``content``:
    extra identity of what is scored (e.g. the task name), hashed with the item ids into the generator's seed."""
    _check_resamples(resamples, confidence)
    rng_seed = bootstrap_seed(seed, *content, *sorted(items))
    if not items:
        return Intervals(resamples, seed, rng_seed, confidence)
    rng = np.random.default_rng(rng_seed)
    by_subset = _by_subset([items], items)
    subsets = list(by_subset)
    counts = {s: int(m.shape[0]) for s, m in by_subset.items()}
    acc = np.column_stack([_resampled_means(rng, by_subset[s], resamples)[:, 0] for s in subsets])
    point = {s: float(m[:, 0].mean()) for s, m in by_subset.items()}
    names = list(score_leaves(aggregate(point, counts)))
    leaves = _aggregate_all(aggregate, subsets, acc, counts, names)
    return Intervals(
        resamples,
        seed,
        rng_seed,
        confidence,
        scores={name: _percentiles(leaves[:, k], confidence) for k, name in enumerate(names)},
        subsets={s: _percentiles(acc[:, k], confidence) for k, s in enumerate(subsets)},
    )


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts: P(X <= min(b, c)) doubled, X ~ Bin(b + c, 1/2),
    capped at 1 (the usual "twice the smaller tail"). Computed in integers, so it is exact (b=1, c=9: 22/1024)."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    n, k = b + c, min(b, c)
    if n == 0 or b == c:
        return 1.0
    term, tail = 1, 1  # C(n, 0)
    for j in range(1, k + 1):
        term = term * (n - j + 1) // j
        tail += term
    return min(1.0, (2 * tail) / (1 << n))


@dataclass(frozen=True)
class SignTest:
    """Discordant items of a paired comparison: ``a_better`` (A scored higher), ``b_better``, and the exact p."""

    n: int
    a_better: int
    b_better: int
    p_value: float


def sign_test(a: Iterable[float], b: Iterable[float]) -> SignTest:
    """Exact McNemar / sign test on paired item scores (the module docstring gives the rule for fractional scores)."""
    pairs = list(zip(a, b, strict=True))
    a_better = sum(1 for x, y in pairs if x > y)
    b_better = sum(1 for x, y in pairs if y > x)
    return SignTest(len(pairs), a_better, b_better, mcnemar_exact(a_better, b_better))


@dataclass(frozen=True)
class PairedEstimate:
    """One number of a paired comparison: A, B, the difference B - A and its bootstrap interval."""

    a: float
    b: float
    diff: float
    ci: tuple[float, float]


@dataclass(frozen=True)
class PairedIntervals:
    resamples: int
    seed: int
    rng_seed: int
    confidence: float
    n_common: int
    scores: dict[str, PairedEstimate]
    subsets: dict[str, PairedEstimate]
    counts: dict[str, int]


def common_items(a: Mapping[str, ItemScore], b: Mapping[str, ItemScore]) -> list[str]:
    """The ids both runs judged, sorted."""
    return sorted(set(a) & set(b))


def paired_bootstrap(
    a: Mapping[str, ItemScore],
    b: Mapping[str, ItemScore],
    aggregate: Aggregate,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    content: tuple[Any, ...] = (),
    confidence: float = CONFIDENCE,
) -> PairedIntervals:
    """A, B and B - A with a paired percentile interval, for every score and subset, on the items both judged.

    Each resample draws the same items for both runs (resampled within subsets), applies ``aggregate`` to each run's
    resampled subset accuracies and takes the difference, so what the two runs share cancels out."""
    _check_resamples(resamples, confidence)
    ids = common_items(a, b)
    if not ids:
        raise RRMError("the two runs have no item in common", hint="compare runs over the same data")
    rng_seed = bootstrap_seed(seed, *content, *ids)
    rng = np.random.default_rng(rng_seed)
    by_subset = _by_subset([a, b], ids)
    subsets = list(by_subset)
    counts = {s: int(m.shape[0]) for s, m in by_subset.items()}
    means = [_resampled_means(rng, by_subset[s], resamples) for s in subsets]  # each (resamples x 2)
    acc_a = np.column_stack([m[:, 0] for m in means])
    acc_b = np.column_stack([m[:, 1] for m in means])
    point_a = {s: float(m[:, 0].mean()) for s, m in by_subset.items()}
    point_b = {s: float(m[:, 1].mean()) for s, m in by_subset.items()}
    leaves_a, leaves_b = score_leaves(aggregate(point_a, counts)), score_leaves(aggregate(point_b, counts))
    names = [n for n in leaves_a if n in leaves_b]
    diff = _aggregate_all(aggregate, subsets, acc_b, counts, names) - _aggregate_all(
        aggregate, subsets, acc_a, counts, names
    )
    scores = {
        name: PairedEstimate(
            leaves_a[name], leaves_b[name], leaves_b[name] - leaves_a[name], _percentiles(diff[:, k], confidence)
        )
        for k, name in enumerate(names)
    }
    sub = {
        s: PairedEstimate(
            point_a[s], point_b[s], point_b[s] - point_a[s], _percentiles(acc_b[:, k] - acc_a[:, k], confidence)
        )
        for k, s in enumerate(subsets)
    }
    return PairedIntervals(resamples, seed, rng_seed, confidence, len(ids), scores, sub, counts)


#: A vectorised statistic of resampled units: (subset -> (resamples x columns) sums of its units' feature rows) ->
#: (subset -> (resamples,) subset score, score name -> (resamples,) value). One call covers every resample, so a
#: benchmark whose scores are ratios of per-unit sums (RewardBench 2's Ties formula, means of item scores) needs no
#: Python loop over resamples.
SumsStatistic = Callable[[Mapping[str, FloatArray]], tuple[dict[str, FloatArray], dict[str, FloatArray]]]


def _full_sums(features: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    """The sums of the data as they are (every unit once): what the point estimate is computed from."""
    return {s: f.sum(axis=0, keepdims=True) for s, f in features.items()}


def _first(values: Mapping[str, FloatArray]) -> dict[str, float]:
    return {k: float(v[0]) for k, v in values.items()}


def bootstrap_sums(
    features: Mapping[str, FloatArray],
    statistic: SumsStatistic,
    ids: Iterable[str],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    content: tuple[Any, ...] = (),
    confidence: float = CONFIDENCE,
) -> Intervals:
    """Percentile intervals of a statistic of per-unit features, units resampled within subsets.

    ``features``: subset -> (units x columns) array, one row per resampling unit (an item; a prompt id); the rows of a
    subset are resampled with replacement, keeping its size, and ``statistic`` turns the column sums of every
    resample into the subset scores and the benchmark's scores. ``ids``: the units' ids, hashed with ``seed`` and
    ``content`` into the generator's seed (so the intervals do not depend on the order units come in)."""
    _check_resamples(resamples, confidence)
    rng_seed = bootstrap_seed(seed, *content, *sorted(ids))
    if not features:
        return Intervals(resamples, seed, rng_seed, confidence)
    rng = np.random.default_rng(rng_seed)
    sums = {s: resampled_sums(rng, features[s], resamples) for s in sorted(features)}  # fixed draw order
    subsets, scores = statistic(sums)
    return Intervals(
        resamples,
        seed,
        rng_seed,
        confidence,
        scores={name: _percentiles(v, confidence) for name, v in scores.items()},
        subsets={s: _percentiles(v, confidence) for s, v in subsets.items()},
    )


def paired_bootstrap_sums(
    features_a: Mapping[str, FloatArray],
    features_b: Mapping[str, FloatArray],
    statistic: SumsStatistic,
    ids: Iterable[str],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    content: tuple[Any, ...] = (),
    confidence: float = CONFIDENCE,
) -> PairedIntervals:
    """The paired version of :func:`bootstrap_sums`: row k of a subset in ``features_a`` and in ``features_b`` is
    the same unit as the two runs scored it; every resample draws the same units for both runs (their feature rows
    side by side), so the difference B - A of every score gets a paired interval."""
    _check_resamples(resamples, confidence)
    if sorted(features_a) != sorted(features_b) or any(
        features_a[s].shape[0] != features_b[s].shape[0] for s in features_a
    ):
        raise ValueError("paired features must have the same subsets and units")
    id_list = sorted(ids)
    if not id_list or not features_a:
        raise RRMError("the two runs have no item in common", hint="compare runs over the same data")
    rng_seed = bootstrap_seed(seed, *content, *id_list)
    rng = np.random.default_rng(rng_seed)
    sums_a: dict[str, FloatArray] = {}
    sums_b: dict[str, FloatArray] = {}
    for s in sorted(features_a):
        width = features_a[s].shape[1]
        joint = resampled_sums(rng, np.hstack([features_a[s], features_b[s]]), resamples)
        sums_a[s], sums_b[s] = joint[:, :width], joint[:, width:]
    sub_a, sc_a = statistic(sums_a)
    sub_b, sc_b = statistic(sums_b)
    (pt_sub_a, pt_sc_a), (pt_sub_b, pt_sc_b) = statistic(_full_sums(features_a)), statistic(_full_sums(features_b))
    point_sub_a, point_sub_b = _first(pt_sub_a), _first(pt_sub_b)
    point_sc_a, point_sc_b = _first(pt_sc_a), _first(pt_sc_b)

    def estimate(a: float, b: float, draws: FloatArray) -> PairedEstimate:
        return PairedEstimate(a, b, b - a, _percentiles(draws, confidence))

    return PairedIntervals(
        resamples,
        seed,
        rng_seed,
        confidence,
        len(id_list),
        scores={k: estimate(point_sc_a[k], point_sc_b[k], sc_b[k] - sc_a[k]) for k in sc_a if k in sc_b},
        subsets={s: estimate(point_sub_a[s], point_sub_b[s], sub_b[s] - sub_a[s]) for s in sub_a},
        counts={s: int(f.shape[0]) for s, f in sorted(features_a.items())},
    )


def point_statistic(
    features: Mapping[str, FloatArray], statistic: SumsStatistic
) -> tuple[dict[str, float], dict[str, float]]:
    """The statistic on the data as they are (each unit once): subset scores and scores as floats."""
    subsets, scores = statistic(_full_sums(features))
    return _first(subsets), _first(scores)


def score_dependencies(
    aggregate: Aggregate, subset_accuracy: Mapping[str, float], subset_counts: Mapping[str, int]
) -> dict[str, list[str]]:
    """Which subsets each score leaf is computed from, found by moving one subset's accuracy at a time and watching
    which leaves move (the aggregation stays the task's own code; nothing restates its section lists here).

    Two probes per subset, so a leaf that happens to take the same value at one probe is still caught."""
    base_acc, counts = dict(subset_accuracy), dict(subset_counts)
    base = score_leaves(aggregate(base_acc, counts))
    deps: dict[str, list[str]] = {name: [] for name in base}
    for s in sorted(base_acc):
        moved: set[str] = set()
        for probe in (0.137, 0.863):
            value = probe if abs(base_acc[s] - probe) > 1e-6 else 1 - probe
            leaves = score_leaves(aggregate({**base_acc, s: value}, counts))
            moved |= {n for n, v in base.items() if n not in leaves or abs(leaves[n] - v) > 1e-12}
        for name in sorted(moved):
            deps[name].append(s)
    return deps


__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "CONFIDENCE",
    "METHOD",
    "PAIRED_METHOD",
    "TEST_METHOD",
    "Aggregate",
    "Intervals",
    "PairedEstimate",
    "PairedIntervals",
    "SignTest",
    "SumsStatistic",
    "bootstrap_intervals",
    "bootstrap_seed",
    "bootstrap_sums",
    "common_items",
    "mcnemar_exact",
    "paired_bootstrap",
    "paired_bootstrap_sums",
    "point_statistic",
    "resampled_sums",
    "score_dependencies",
    "score_leaves",
    "sign_test",
]

"""Paired comparison of pairwise runs on the items they both judged (``rrm-eval compare``); bestof (RewardBench 2)
runs are compared by :mod:`rrm_eval.pipelines._compare_bestof` through the same entry point.

For each run after the first (B, C, ...) against the first (A): per subset, per score of the benchmark (sections,
overall, variants) the two values, the difference with a paired bootstrap interval
(:func:`rrm_eval.scoring.paired_bootstrap`) and the exact McNemar / sign-test p-value
(:func:`rrm_eval.scoring.sign_test`) over the items the number is computed from. Runs must be of the same task over
the same data (same data fingerprint); only records are read, no model is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rrm_eval._errors import RRMError
from rrm_eval.pipelines.pairwise import run_spec
from rrm_eval.runs import RECORDS, load_records
from rrm_eval.scoring import BOOTSTRAP_RESAMPLES, FAILURE_POLICIES, ItemScore, score_items
from rrm_eval.scoring._intervals import (
    CONFIDENCE,
    PAIRED_METHOD,
    TEST_METHOD,
    paired_bootstrap,
    score_dependencies,
    sign_test,
)
from rrm_eval.tasks import PairwiseTask, get_task

ALPHA = 0.05
MULTIPLE_COMPARISONS = (
    "p-values are per comparison and not adjusted for multiplicity: among m tests at alpha {alpha}, about "
    "{alpha}*m come out significant by chance alone when nothing differs; the rows are also not independent (a "
    "section shares its items with its subsets and with the overall score). Bonferroni over the {m} rows of this "
    "comparison would test at {bonferroni:.2g}."
)


@dataclass(frozen=True)
class LoadedRun:
    label: str
    run_dir: Path
    spec: dict[str, Any]
    policy: str
    items: dict[str, ItemScore]

    def describe(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "run_dir": str(self.run_dir),
            "judge": (self.spec.get("judge") or {}).get("name"),
            "model": (self.spec.get("model") or {}).get("spec"),
            "seed": (self.spec.get("protocol") or {}).get("seed"),
            "failure_policy": self.policy,
            "n_items": len(self.items),
        }


def _label(k: int) -> str:
    return chr(ord("A") + k) if k < 26 else f"R{k + 1}"


def _task_section(run_dir: Path, spec: dict[str, Any]) -> tuple[str, str]:
    task = spec.get("task")
    if not isinstance(task, dict) or not task.get("name") or not task.get("data_fingerprint"):
        raise RRMError(
            f"{run_dir / 'spec.json'} lacks the task name or data fingerprint",
            hint="restore spec.json, or compare runs made by this version of rrm-eval",
        )
    return str(task["name"]), str(task["data_fingerprint"])


def load_run(run_dir: str | Path, label: str, policy: str | None = None) -> LoadedRun:
    """A pairwise run's item scores (under ``policy``, or the run's own failure policy)."""
    path = Path(run_dir)
    spec = run_spec(path, "pairwise")
    name, _ = _task_section(path, spec)
    task = get_task(name)
    policy = policy or str(spec.get("failure_policy") or "tie")
    if policy not in FAILURE_POLICIES:
        raise RRMError(f"{path}: unknown failure policy {policy!r}", hint=f"use one of {', '.join(FAILURE_POLICIES)}")
    records = load_records(path / RECORDS, drop=("prompt", "raw"), kind="judge")
    if not records:
        raise RRMError(f"{path} has no judge records", hint="run (or resume) the evaluation first")
    items = score_items(records, policy, rule=task.item_rule)  # type: ignore[arg-type]
    return LoadedRun(label, path, spec, policy, items)


class _RunLike(Protocol):
    @property
    def run_dir(self) -> Path: ...
    @property
    def spec(self) -> dict[str, Any]: ...


def _check_same_benchmark(runs: Sequence[_RunLike]) -> None:
    first = runs[0]
    name, data = _task_section(first.run_dir, first.spec)
    for run in runs[1:]:
        other_name, other_data = _task_section(run.run_dir, run.spec)
        if other_name != name:
            raise RRMError(
                f"{run.run_dir} is a run of task {other_name!r}, {first.run_dir} of {name!r}: scores of different "
                "benchmarks cannot be compared item by item",
                hint="compare runs of the same task (spec.json, task.name)",
            )
        if other_data != data:
            raise RRMError(
                f"{run.run_dir} was judged on other data than {first.run_dir} (data fingerprint {other_data} vs "
                f"{data}): the same item id may not be the same pair",
                hint="compare runs made from the same data file (spec.json, task.data_fingerprint)",
            )


def _verdict(name: str, row: dict[str, Any], alpha: float, a: str, b: str) -> str:
    diff, (lo, hi), p = row["diff"], row["ci"], row["p_value"]
    where = "overall" if name == "overall" else f"on {name}"
    if p >= alpha:
        return f"no significant difference {where} ({100 * diff:+.1f} points, p = {p:.2g})"
    better, worse = (b, a) if diff > 0 else (a, b)
    text = f"{better} better than {worse} {where} ({100 * diff:+.1f} points, 95% CI [{100 * lo:.1f}, {100 * hi:.1f}], "
    text += f"p = {p:.2g})"
    tested = row["b_better"] - row["a_better"]
    if diff == 0 or (tested > 0) != (diff > 0):
        # The weighted score and the pooled item count point different ways (possible when sections weigh subsets).
        return f"mixed evidence {where}: the score moves {100 * diff:+.1f} points but the discordant items favour " + (
            f"{b if tested > 0 else a} (p = {p:.2g})"
        )
    if lo <= 0 <= hi:
        text += "; the bootstrap interval still includes 0: borderline"
    return text


def _row(kind: str, name: str, est: Any, items: list[str], a: LoadedRun, b: LoadedRun) -> dict[str, Any]:
    test = sign_test([a.items[i].score for i in items], [b.items[i].score for i in items])
    return {
        "kind": kind,
        "name": name,
        "n": len(items),
        "a": est.a,
        "b": est.b,
        "diff": est.diff,
        "ci": [est.ci[0], est.ci[1]],
        "p_value": test.p_value,
        "a_better": test.a_better,
        "b_better": test.b_better,
    }


def compare_pair(
    a: LoadedRun,
    b: LoadedRun,
    task: PairwiseTask,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    alpha: float = ALPHA,
) -> dict[str, Any]:
    """One comparison (B against A) on their common items: rows, verdicts and the caveat, as a JSON-ready dict."""
    pb = paired_bootstrap(a.items, b.items, task.summarize, resamples, seed=seed, content=(task.name,))
    common = sorted(set(a.items) & set(b.items))
    by_subset: dict[str, list[str]] = {}
    for i in common:
        by_subset.setdefault(a.items[i].subset, []).append(i)
    acc = {s: est.a for s, est in pb.subsets.items()}
    deps = score_dependencies(task.summarize, acc, pb.counts)
    rows = [_row("subset", s, est, by_subset[s], a, b) for s, est in pb.subsets.items()]
    for name, est in pb.scores.items():
        items = [i for s in deps.get(name, []) for i in by_subset[s]]
        rows.append(_row("score", name, est, items, a, b))
    verdicts = [
        _verdict(r["name"].removeprefix("sections."), r, alpha, a.label, b.label)
        for r in rows
        if r["kind"] == "score" and r["n"]
    ]
    # Subsets get a verdict line only when they differ: 23 "no difference" lines would bury the sections.
    verdicts += [
        _verdict(r["name"], r, alpha, a.label, b.label) for r in rows if r["kind"] == "subset" and r["p_value"] < alpha
    ]
    tested = sum(1 for r in rows if r["n"])
    return {
        "a": a.label,
        "b": b.label,
        "n_common": pb.n_common,
        "only_a": len(set(a.items) - set(b.items)),
        "only_b": len(set(b.items) - set(a.items)),
        "resamples": pb.resamples,
        "seed": pb.seed,
        "rng_seed": pb.rng_seed,
        "rows": rows,
        "verdicts": verdicts,
        "caveat": MULTIPLE_COMPARISONS.format(alpha=alpha, m=tested, bonferroni=alpha / max(1, tested)),
    }


_COMPARABLE = ("pairwise", "bestof")


def _run_kind(run_dirs: Sequence[str | Path]) -> str:
    """The one kind of run all ``run_dirs`` are (pairwise or bestof), or a clear refusal."""
    kinds = [(Path(d), str(run_spec(d)["kind"])) for d in run_dirs]
    for path, kind in kinds:
        if kind not in _COMPARABLE:
            raise RRMError(
                f"{path} is a {kind} run, not a pairwise or bestof run: compare needs per-item scores",
                hint="compare pairwise runs (rrm-eval pairwise / rewardbench / ppe) or bestof runs (rrm-eval bestof)",
            )
    first_path, first = kinds[0]
    for path, kind in kinds[1:]:
        if kind != first:
            raise RRMError(
                f"{path} is a {kind} run and {first_path} a {first} run: a pairwise accuracy and a best-of-N score "
                "are not computed on the same items, so they cannot be paired",
                hint="compare pairwise runs with pairwise runs and bestof runs with bestof runs",
            )
    return first


def compare_runs(
    run_dirs: list[str | Path],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int | None = None,
    alpha: float = ALPHA,
    failure_policy: str | None = None,
) -> dict[str, Any]:
    """Compare pairwise runs, or bestof (RewardBench 2) runs: each run after the first against the first, on the
    items both judged (bestof: :mod:`rrm_eval.pipelines._compare_bestof`; its runs may differ in mode).

    ``seed`` defaults to the first run's seed; ``failure_policy`` (``tie`` | ``wrong``) re-scores every run under
    one policy (default: each run's own, as its summary was scored)."""
    if len(run_dirs) < 2:
        raise RRMError("compare needs at least two runs", hint="rrm-eval compare RUN_A RUN_B [RUN_C ...]")
    if not 0 < alpha < 1:
        raise RRMError(f"alpha must be in (0, 1), got {alpha}", hint="e.g. --alpha 0.05")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise RRMError(f"--bootstrap must be at least 1, got {resamples!r}", hint="e.g. --bootstrap 1000")
    if len({Path(d).resolve() for d in run_dirs}) < len(run_dirs):
        raise RRMError("the same run directory is given twice", hint="give each run once")
    if _run_kind(run_dirs) == "bestof":
        from rrm_eval.pipelines._compare_bestof import compare_bestof_runs

        return compare_bestof_runs(run_dirs, resamples, seed, alpha, failure_policy)
    runs = [load_run(d, _label(k), failure_policy) for k, d in enumerate(run_dirs)]
    _check_same_benchmark(runs)
    task = get_task(_task_section(runs[0].run_dir, runs[0].spec)[0])
    if seed is None:
        first_seed = (runs[0].spec.get("protocol") or {}).get("seed", 0)
        seed = first_seed if isinstance(first_seed, int) and not isinstance(first_seed, bool) else 0
    for run in runs[1:]:
        if not set(run.items) & set(runs[0].items):
            raise RRMError(
                f"{run.run_dir} and {runs[0].run_dir} have no judged item in common",
                hint="compare runs over overlapping items (e.g. the same --subsets / --limit)",
            )
    return {
        "kind": "pairwise",
        "task": task.name,
        "data_fingerprint": _task_section(runs[0].run_dir, runs[0].spec)[1],
        "method": PAIRED_METHOD,
        "test": TEST_METHOD,
        "confidence": CONFIDENCE,
        "alpha": alpha,
        "runs": [r.describe() for r in runs],
        "comparisons": [compare_pair(runs[0], r, task, resamples, seed, alpha) for r in runs[1:]],
    }


__all__ = ["ALPHA", "LoadedRun", "compare_pair", "compare_runs", "load_run"]

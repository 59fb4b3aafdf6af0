"""Pairwise evaluation end to end: load items, open the run, judge what is pending, score from records.

PPE and RewardBench (and every pairwise task) run through :func:`evaluate_pairwise`; :func:`rescore_run` recomputes a
pairwise run's summary from its records alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.judges import load_judge
from rrm_eval.models import Model, parse_spec
from rrm_eval.pipelines._naming import slug
from rrm_eval.protocols import PairwiseConfig, check_mode_fits, expected_records, run_pairwise
from rrm_eval.protocols._modes import check_think_budget
from rrm_eval.protocols._pairwise import vote_summary
from rrm_eval.runs import (
    RECORDS,
    SPEC,
    SUMMARY,
    ProgressFactory,
    Run,
    load_records,
    model_identity,
    model_section,
    read_json,
    run_identity,
)
from rrm_eval.scoring import BOOTSTRAP_RESAMPLES, bootstrap_intervals, score_items, summarize_pairwise
from rrm_eval.tasks import PairwiseTask, TaskOptions, get_task

RESULTS = "results.json"  # reward-bench leaderboard layout (where the task defines one)
ITEM_SCORES = "results_per_item.json"  # reward-bench's per-item scores layout (where the task defines one)
#: Task settings that name files: their content is in the data fingerprint, so a moved file is the same run.
_PATH_SETTINGS = ("pairs", "data")


@dataclass(frozen=True)
class PairwiseRunConfig:
    model: str
    judge: str
    task: str
    task_options: TaskOptions = field(default_factory=TaskOptions)
    protocol: PairwiseConfig = field(default_factory=PairwiseConfig)
    failure_policy: str = "tie"
    model_options: dict[str, Any] = field(default_factory=dict)
    output_dir: str = "runs"
    run_dir: str | None = None
    run_name: str | None = None
    #: Bootstrap resamples of the 95 % intervals (0 = none). Scoring only: not part of the run's identity.
    bootstrap: int = BOOTSTRAP_RESAMPLES

    def __post_init__(self) -> None:
        if self.bootstrap < 0:
            raise RRMError(f"--bootstrap must be >= 0, got {self.bootstrap}", hint="0 = no intervals")


@dataclass
class RunOutcome:
    run_dir: Path
    summary: dict[str, Any]
    written: int
    reused: int
    seconds: float

    @property
    def backend_errors(self) -> int:
        """Judge calls the engine or server failed after its retries (recorded as ``backend_error``)."""
        return int(self.summary.get("records", {}).get("failures", {}).get("backend_error", 0))


def default_run_dir(cfg: PairwiseRunConfig, fingerprint: str, judge_name: str) -> Path:
    if cfg.run_dir:
        return Path(cfg.run_dir)
    # Task settings (e.g. PPE subset and rounds) belong in the name; file paths do not.
    settings = [slug(str(v)) for k, v in sorted(cfg.task_options.extra.items()) if k not in _PATH_SETTINGS]
    task = "-".join([cfg.task, *settings])
    name = cfg.run_name or (
        f"{task}__{slug(judge_name)}__{slug(str(parse_spec(cfg.model)))}__seed{cfg.protocol.seed}__{fingerprint}"
    )
    return Path(cfg.output_dir) / name


def build_summary(
    records: list[dict[str, Any]],
    task: PairwiseTask,
    policy: str,
    item_ids: set[str] | None = None,
    *,
    seed: int = 0,
    bootstrap: int = BOOTSTRAP_RESAMPLES,
) -> dict[str, Any]:
    """A pairwise run's summary; with ``bootstrap`` resamples (0 = off) it adds ``intervals``: 95 % percentile
    bootstrap intervals of every score and subset accuracy, seeded from ``seed`` (the run's) and the items, so a
    resumed run and ``rrm-eval rescore`` give the same numbers."""
    summary = summarize_pairwise(records, policy, item_ids, rule=task.item_rule)  # type: ignore[arg-type]
    acc = {s: v["accuracy"] for s, v in summary["subsets"].items()}
    counts = {s: v["n"] for s, v in summary["subsets"].items()}
    summary["scores"] = task.summarize(acc, counts)
    if bootstrap:
        if item_ids is not None:
            records = [r for r in records if r["item_id"] in item_ids]
        items = score_items(records, policy, rule=task.item_rule)  # type: ignore[arg-type]
        intervals = bootstrap_intervals(items, task.summarize, bootstrap, seed=seed, content=(task.name,))
        summary["intervals"] = intervals.to_dict()
    return summary


def evaluate_pairwise(
    cfg: PairwiseRunConfig, progress: ProgressFactory | None = None, model: Model | None = None
) -> RunOutcome:
    """Run (or resume) one pairwise evaluation. ``progress(total, done)`` returns an ``advance(n)`` callback."""
    model_id = model_identity(cfg.model, cfg.model_options)  # a bad model option fails before any data loads
    task = get_task(cfg.task)
    task.check_protocol(cfg.protocol)
    judge = load_judge(cfg.judge)
    check_mode_fits(judge, "pairwise")
    check_think_budget(judge, cfg.protocol.think_budget)  # before any model loads
    loaded = task.load(cfg.task_options)  # data errors surface before any model is loaded
    if not loaded.items:
        raise RRMError(
            f"{cfg.task}: no items to judge (source {loaded.source})",
            hint="check --data, --subsets and --limit: the selection is empty, and a score over 0 items means nothing",
        )
    protocol = cfg.protocol.identity()
    fingerprint = run_identity(
        "pairwise",
        model=model_id,
        judge=judge.fingerprint,
        task=cfg.task,
        data=loaded.fingerprint,
        task_settings={k: v for k, v in cfg.task_options.extra.items() if k not in _PATH_SETTINGS},
        protocol=protocol,
    )
    spec = {
        "kind": "pairwise",
        "fingerprint": fingerprint,
        "model": model_section(cfg.model, cfg.model_options),
        "judge": judge.describe(),
        "task": {
            "name": cfg.task,
            "source": loaded.source,
            "data_fingerprint": loaded.fingerprint,
            "extra": cfg.task_options.extra,
        },
        "protocol": protocol,
        "failure_policy": cfg.failure_policy,
    }
    run_dir = default_run_dir(cfg, fingerprint, judge.name)
    with Run(
        run_dir, spec, model_spec=cfg.model, model_options=cfg.model_options, model=model, progress=progress
    ) as run:
        item_ids = {i.id for i in loaded.items}
        reused = sum(1 for r in run.existing if r["item_id"] in item_ids)
        if reused < expected_records(loaded.items, judge, cfg.protocol):
            run_pairwise(loaded.items, judge, run, cfg.protocol)
        records = run.records(drop=("prompt", "raw"), kind="judge")
        summary = build_summary(
            records, task, cfg.failure_policy, item_ids, seed=cfg.protocol.seed, bootstrap=cfg.bootstrap
        )
        summary.update({"task": cfg.task, "judge": judge.name, "model": cfg.model, "dropped_rows": loaded.dropped})
        if cfg.protocol.votes > 1 or cfg.protocol.early_stop is not None:  # what voting cost, vs the full k
            summary["votes"] = vote_summary(records, judge, cfg.protocol)
        run.write(SUMMARY, summary)
        model_name = run.model_name or cfg.model
        results = task.results_file(summary, model_name, judge.name)
        if results is not None:
            run.write(RESULTS, results)
        # reward-bench's per-item scores file, for tasks that define one (RewardBench v1: results_per_item.json).
        scored = score_items(records, cfg.failure_policy, item_ids, rule=task.item_rule)  # type: ignore[arg-type]
        per_item = task.item_scores_file({k: v.score for k, v in scored.items()}, loaded.items, model_name)
        if per_item is not None:
            run.write(ITEM_SCORES, per_item)
        votes = max(1, cfg.protocol.votes)
        stats = run.finish(pairs_per_second=(run.written / votes / run.seconds) if run.written else None)
        return RunOutcome(run_dir, summary, run.written, reused, stats["seconds"])


def run_spec(run_dir: str | Path, kind: str | None = None) -> dict[str, Any]:
    """A run directory's spec.json, checked to be a run (of ``kind``, when given), with an actionable error."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RRMError(f"{path} is not a directory", hint="give a run directory (one with spec.json and records.jsonl)")
    spec = read_json(path / SPEC)
    if not isinstance(spec, dict) or "kind" not in spec:
        raise RRMError(f"{path / SPEC} is not an rrm-eval run spec", hint="give a directory made by rrm-eval")
    if kind is not None and spec["kind"] != kind:
        other = {"tournament": "rrm-eval tournament accuracy-results DIR"}.get(str(spec["kind"]))
        raise RRMError(
            f"{path} is a {spec['kind']} run, not a {kind} run",
            hint=f"re-score it with `{other}`" if other else "give a run of the right kind",
        )
    return spec


def _run_seed(spec: dict[str, Any]) -> int:
    """The seed a run was made with (its bootstrap intervals are seeded from it); 0 for specs without one."""
    seed = (spec.get("protocol") or {}).get("seed", 0)
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else 0


def rescore_run(
    run_dir: str | Path, parser: str | None = None, policy: str | None = None, bootstrap: int = BOOTSTRAP_RESAMPLES
) -> dict[str, Any]:
    """Recompute a pairwise run's summary from its records alone, optionally re-parsing raw outputs with another
    parser. Records that were never generated (scored, input too long, backend errors) keep their reading."""
    from rrm_eval.judges import get_parser

    run_dir = Path(run_dir)
    spec = run_spec(run_dir, "pairwise")
    try:
        task = get_task(spec["task"]["name"])
        judge_name, model_spec = spec["judge"]["name"], spec["model"]["spec"]
    except (KeyError, TypeError):
        raise RRMError(f"{run_dir / SPEC} lacks the task, judge or model section", hint="restore spec.json") from None
    records = load_records(run_dir / RECORDS, drop=("prompt",) if parser else ("prompt", "raw"), kind="judge")
    if not records:
        raise RRMError(f"{run_dir} has no records to score", hint="run the evaluation first")
    if parser:
        parse = get_parser(parser)
        for r in records:
            if r.get("finish_reason") in ("scored", "input_too_long", "error"):
                continue
            res = parse(r["raw"], r["finish_reason"])
            r.update(verdict=res.verdict, failure=res.failure, lenient=res.lenient, extracted=res.extracted)
    policy = policy or spec.get("failure_policy", "tie")
    summary = build_summary(records, task, policy, seed=_run_seed(spec), bootstrap=bootstrap)
    summary.update(
        {
            "task": spec["task"]["name"],
            "judge": judge_name,
            "model": model_spec,
            "rescored_with": {"parser": parser or spec["judge"].get("parser"), "failure_policy": policy},
        }
    )
    return summary


__all__ = [
    "RESULTS",
    "PairwiseRunConfig",
    "RunOutcome",
    "build_summary",
    "default_run_dir",
    "evaluate_pairwise",
    "rescore_run",
    "run_spec",
]

"""Best-of-N evaluation end to end (RewardBench 2): load items, open the run, judge what is pending in the chosen
way (listwise / ratings / knockout; Ties always rated), score from the records alone, write summary.json and a
reward-bench-style results.json. :func:`rescore_bestof` recomputes a run's summary offline."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.judges import load_judge
from rrm_eval.models import Model, parse_spec
from rrm_eval.pipelines._naming import slug
from rrm_eval.pipelines.pairwise import RunOutcome
from rrm_eval.protocols._bestof import BestOfConfig, check_judge_fits, run_bestof
from rrm_eval.runs import (
    RECORDS,
    SPEC,
    SUMMARY,
    ProgressFactory,
    Run,
    load_records,
    model_identity,
    model_section,
    run_identity,
)
from rrm_eval.scoring import BOOTSTRAP_RESAMPLES, FAILURE_POLICIES
from rrm_eval.scoring._rewardbench2 import summarize_rb2
from rrm_eval.tasks import TaskOptions
from rrm_eval.tasks._results_files import ITEM_SCORES_FILE, model_results, v2_item_scores
from rrm_eval.tasks._rewardbench2 import RB2Item, leaderboard_item_rows, load_rewardbench2

RESULTS = "results.json"
ITEMS = "items.json"  # what scoring needs per item (id, subset, completions, num_correct): rescoring reads it
DEFAULT_JUDGES = {"listwise": "rb2-listwise", "ratings": "rb2-ratings", "knockout": "rrm"}


@dataclass(frozen=True)
class BestOfRunConfig:
    model: str
    judge: str | None = None  # default per mode: DEFAULT_JUDGES
    ties_judge: str = "rb2-ratings"  # rates Ties (and the ratings mode uses --judge)
    task: str = "rewardbench2"
    task_options: TaskOptions = field(default_factory=TaskOptions)
    protocol: BestOfConfig = field(default_factory=BestOfConfig)
    failure_policy: str = "tie"
    model_options: dict[str, Any] = field(default_factory=dict)
    output_dir: str = "runs"
    run_dir: str | None = None
    run_name: str | None = None
    bootstrap: int = BOOTSTRAP_RESAMPLES  # resamples of the 95 % intervals (0 = none); not part of the run identity


#: What a best-of-N run returns: the same outcome as a pairwise run's (run directory, summary, records written and
#: reused, seconds, backend errors).
BestOfOutcome = RunOutcome


def _item_rows(items: list[RB2Item]) -> list[dict[str, Any]]:
    return [{"id": i.id, "subset": i.subset, "n": len(i.completions), "num_correct": i.num_correct} for i in items]


def results_file(summary: dict[str, Any], model: str) -> dict[str, Any]:
    """reward-bench's v2 per-model file (tasks/_results_files.py): model, model_type, chat_template and one score per
    subset; no overall, since reward-bench's loader averages every other column itself (the official overall)."""
    return model_results(model, {s: v["score"] for s, v in summary["subsets"].items()})


def evaluate_bestof(
    cfg: BestOfRunConfig, progress: ProgressFactory | None = None, model: Model | None = None
) -> BestOfOutcome:
    """Run (or resume) one best-of-N evaluation."""
    _check_policy(cfg.failure_policy)
    _check_bootstrap(cfg.bootstrap)
    model_id = model_identity(cfg.model, cfg.model_options)
    mode = cfg.protocol.mode
    judge = load_judge(cfg.judge or DEFAULT_JUDGES[mode])
    ties_judge = judge if mode == "ratings" else load_judge(cfg.ties_judge)
    check_judge_fits(judge, mode)
    check_judge_fits(ties_judge, "ratings", "--ties-judge")
    loaded = load_rewardbench2(cfg.task, cfg.task_options)
    if not loaded.items:
        raise RRMError(f"{cfg.task}: no items to judge (source {loaded.source})", hint="check --subsets and --limit")
    fingerprint = run_identity(
        "bestof",
        model=model_id,
        judge=judge.fingerprint,
        ties_judge=ties_judge.fingerprint,
        task=cfg.task,
        data=loaded.fingerprint,
        protocol=cfg.protocol.identity(),
    )
    spec = {
        "kind": "bestof",
        "fingerprint": fingerprint,
        "model": model_section(cfg.model, cfg.model_options),
        "judge": judge.describe(),
        "ties_judge": ties_judge.describe(),
        "task": {"name": cfg.task, "source": loaded.source, "data_fingerprint": loaded.fingerprint},
        "protocol": cfg.protocol.identity(),
        "failure_policy": cfg.failure_policy,
    }
    run_dir = (
        Path(cfg.run_dir)
        if cfg.run_dir
        else Path(cfg.output_dir)
        / (
            cfg.run_name
            or f"{cfg.task}-{mode}__{slug(judge.name)}__{slug(str(parse_spec(cfg.model)))}__seed{cfg.protocol.seed}"
            f"__{fingerprint}"
        )
    )
    with Run(
        run_dir,
        spec,
        model_spec=cfg.model,
        model_options=cfg.model_options,
        model=model,
        progress=progress,
        retry_failed=mode != "knockout",  # a redone knockout game could change the bracket after it (see Run)
    ) as run:
        reused = run.reused
        run_bestof(loaded.items, judge, ties_judge, run, cfg.protocol)
        rows = _item_rows(loaded.items)
        run.write(ITEMS, rows)
        records = run.records(drop=("prompt", "raw"))
        summary = _summary(rows, records, mode, cfg.failure_policy, cfg.protocol.seed, cfg.bootstrap, cfg.task)
        summary.update({"task": cfg.task, "judge": judge.name, "ties_judge": ties_judge.name, "model": cfg.model})
        run.write(SUMMARY, summary)
        run.write(RESULTS, results_file(summary, run.model_name or cfg.model))
        per_item = leaderboard_item_rows(loaded.items, summary)  # reward-bench's v2 per-item scores layout
        run.write(ITEM_SCORES_FILE, v2_item_scores(run.model_name or cfg.model, per_item))
        stats = run.finish()
        return BestOfOutcome(run_dir, summary, run.written, reused, stats["seconds"])


def rescore_bestof(run_dir: str | Path, policy: str | None = None, bootstrap: int | None = None) -> dict[str, Any]:
    """A best-of-N run's summary from its records and items.json alone (e.g. with another failure policy).

    ``bootstrap``: resamples of the intervals; ``None`` = as many as the run's summary.json used (else the default),
    so a re-score under the run's own policy reproduces its intervals exactly."""
    from rrm_eval.pipelines.pairwise import run_spec
    from rrm_eval.runs import read_json

    path = Path(run_dir)
    spec = run_spec(path, "bestof")
    try:
        mode, task = str(spec["protocol"]["mode"]), str(spec["task"]["name"])
        judge, model = spec["judge"]["name"], spec["model"]["spec"]
    except (KeyError, TypeError):
        raise RRMError(
            f"{path / SPEC} lacks the protocol, task, judge or model section", hint="restore spec.json"
        ) from None
    policy = policy or str(spec.get("failure_policy") or "tie")
    _check_policy(policy)
    if bootstrap is None:
        bootstrap = _recorded_resamples(path)
    _check_bootstrap(bootstrap)
    if not (path / ITEMS).exists():
        raise RRMError(
            f"{path / ITEMS} does not exist: the run never got as far as scoring", hint="resume the run first"
        )
    rows = read_json(path / ITEMS)
    records = load_records(path / RECORDS, drop=("prompt", "raw"))
    if not records:
        raise RRMError(f"{path} has no records to score", hint="run (or resume) the evaluation first")
    seed = (spec.get("protocol") or {}).get("seed", 0)
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else 0
    summary = _summary(rows, records, mode, policy, seed, bootstrap, task)
    summary.update({"task": task, "judge": judge, "model": model, "rescored_with": {"failure_policy": policy}})
    if isinstance(spec.get("ties_judge"), dict):
        summary["ties_judge"] = spec["ties_judge"].get("name")
    return summary


def _summary(
    rows: list[dict[str, Any]],
    records: list[dict[str, Any]],
    mode: str,
    policy: str,
    seed: int,
    bootstrap: int,
    task: str,
) -> dict[str, Any]:
    """The one place a best-of-N summary is made (run and re-score alike): the intervals are seeded from the run seed
    and the task name, so both give the same numbers."""
    return summarize_rb2(rows, records, mode, policy, seed=seed, bootstrap=bootstrap, content=(task,))


def _check_policy(policy: str) -> None:
    if policy not in FAILURE_POLICIES:
        raise RRMError(f"unknown failure policy {policy!r}", hint=f"use one of {', '.join(FAILURE_POLICIES)}")


def _check_bootstrap(bootstrap: int) -> None:
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 0:
        raise RRMError(f"--bootstrap must be a whole number >= 0, got {bootstrap!r}", hint="0 = no intervals")


def _recorded_resamples(path: Path) -> int:
    """How many resamples the run's summary.json intervals used (the default when it has none or is unreadable)."""
    try:
        summary = json.loads((path / SUMMARY).read_text(encoding="utf-8"))
        value = summary["intervals"]["resamples"]
    except (OSError, ValueError, KeyError, TypeError):
        return BOOTSTRAP_RESAMPLES
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else BOOTSTRAP_RESAMPLES


__all__ = ["DEFAULT_JUDGES", "ITEMS", "BestOfOutcome", "BestOfRunConfig", "evaluate_bestof", "rescore_bestof",
           "results_file"]  # fmt: skip

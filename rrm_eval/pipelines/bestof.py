"""Best-of-N evaluation end to end (RewardBench 2): load items, open the run, judge what is pending in the chosen
way (listwise / ratings / knockout; Ties always rated), score from the records alone, write summary.json and a
reward-bench-style results.json. :func:`rescore_bestof` recomputes a run's summary offline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.judges import load_judge
from rrm_eval.models import Model, parse_spec
from rrm_eval.pipelines._naming import slug
from rrm_eval.protocols._bestof import BestOfConfig, check_judge_fits, run_bestof
from rrm_eval.runs import (
    RECORDS,
    SUMMARY,
    ProgressFactory,
    Run,
    load_records,
    model_identity,
    model_section,
    run_identity,
)
from rrm_eval.scoring._rewardbench2 import summarize_rb2
from rrm_eval.tasks import TaskOptions
from rrm_eval.tasks._rewardbench2 import RB2Item, load_rewardbench2

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


@dataclass
class BestOfOutcome:
    run_dir: Path
    summary: dict[str, Any]
    written: int
    reused: int
    seconds: float

    @property
    def backend_errors(self) -> int:
        return int(self.summary.get("records", {}).get("failures", {}).get("backend_error", 0))


def _item_rows(items: list[RB2Item]) -> list[dict[str, Any]]:
    return [{"id": i.id, "subset": i.subset, "n": len(i.completions), "num_correct": i.num_correct} for i in items]


def results_file(summary: dict[str, Any], model: str) -> dict[str, Any]:
    """reward-bench's leaderboard layout: model, model_type, one score per subset (fractions), and the overall."""
    out: dict[str, Any] = {"model": model, "model_type": "Generative RM", "chat_template": None}
    out.update({s: v["score"] for s, v in summary["subsets"].items()})
    out["overall"] = summary["scores"]["overall"]
    return out


def evaluate_bestof(
    cfg: BestOfRunConfig, progress: ProgressFactory | None = None, model: Model | None = None
) -> BestOfOutcome:
    """Run (or resume) one best-of-N evaluation."""
    if cfg.failure_policy not in ("tie", "wrong"):
        raise RRMError(f"unknown failure policy {cfg.failure_policy!r}", hint="use tie or wrong")
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
        run_dir, spec, model_spec=cfg.model, model_options=cfg.model_options, model=model, progress=progress
    ) as run:
        reused = run.reused
        run_bestof(loaded.items, judge, ties_judge, run, cfg.protocol)
        rows = _item_rows(loaded.items)
        run.write(ITEMS, rows)
        summary = summarize_rb2(rows, run.records(drop=("prompt", "raw")), mode, cfg.failure_policy)
        summary.update({"task": cfg.task, "judge": judge.name, "ties_judge": ties_judge.name, "model": cfg.model})
        run.write(SUMMARY, summary)
        run.write(RESULTS, results_file(summary, run.model_name or cfg.model))
        stats = run.finish()
        return BestOfOutcome(run_dir, summary, run.written, reused, stats["seconds"])


def rescore_bestof(run_dir: str | Path, policy: str | None = None) -> dict[str, Any]:
    """A best-of-N run's summary from its records and items.json alone (e.g. with another failure policy)."""
    from rrm_eval.pipelines.pairwise import run_spec
    from rrm_eval.runs import read_json

    path = Path(run_dir)
    spec = run_spec(path, "bestof")
    rows = read_json(path / ITEMS)
    records = load_records(path / RECORDS, drop=("prompt", "raw"))
    summary = summarize_rb2(rows, records, spec["protocol"]["mode"], policy or spec.get("failure_policy", "tie"))
    summary.update({"task": spec["task"]["name"], "judge": spec["judge"]["name"], "model": spec["model"]["spec"]})
    return summary


__all__ = ["DEFAULT_JUDGES", "ITEMS", "BestOfOutcome", "BestOfRunConfig", "evaluate_bestof", "rescore_bestof",
           "results_file"]  # fmt: skip

"""Pairwise evaluation end to end: load items, resume the journal, judge what is pending, score from records."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rrm_eval._seeding import stable_hash
from rrm_eval.judges import Judge, load_judge
from rrm_eval.models import Model, load_model, parse_spec, redact
from rrm_eval.protocols import PairwiseConfig, run_pairwise
from rrm_eval.runs import RECORDS, SPEC, SUMMARY, RunJournal, load_records, provenance, read_json
from rrm_eval.scoring import summarize_pairwise
from rrm_eval.tasks import PairwiseTask, TaskOptions, get_task

RESULTS = "results.json"  # reward-bench leaderboard layout (where the task defines one)
STATS = "run_stats.json"  # timings and throughput: kept out of summary.json so resumed == uninterrupted
#: Model options that change how fast records are made, not what they mean: left out of the run fingerprint.
_EXECUTION_OPTIONS = (
    "batch_size",
    "score_batch_size",
    "chunk_size",
    "delay",
    "max_concurrency",
    "max_retries",
    "backoff",
    "max_backoff",
    "timeout",
    "connect_timeout",
    "api_key_env",
    "fast_path",
    "cuda_graphs",
    "prefill_tokens",
    "score_tokens",
    "enforce_eager",
)


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


@dataclass
class RunOutcome:
    run_dir: Path
    summary: dict[str, Any]
    written: int
    reused: int
    seconds: float


def _slug(text: str) -> str:
    text = text.rstrip("/").split("/")[-1] or text
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "model"


def run_fingerprint(cfg: PairwiseRunConfig, judge: Judge, data_fingerprint: str) -> str:
    """Everything that changes what a record says. ``--limit``/``--subsets`` are left out on purpose: a larger
    selection of the same data reuses every record already made."""
    p = cfg.protocol
    return stable_hash(
        str(parse_spec(cfg.model)),
        sorted((k, str(v)) for k, v in cfg.model_options.items() if k not in _EXECUTION_OPTIONS),
        judge.fingerprint,
        cfg.task,
        data_fingerprint,
        p.order,
        p.votes,
        p.seed,
        p.temperature,
        p.top_p,
        p.max_new_tokens,
        sorted(cfg.task_options.extra.items()),
    )[:12]


def default_run_dir(cfg: PairwiseRunConfig, fingerprint: str) -> Path:
    if cfg.run_dir:
        return Path(cfg.run_dir)
    # Task settings (e.g. PPE subset and rounds) belong in the name; file paths do not.
    settings = [_slug(str(v)) for k, v in sorted(cfg.task_options.extra.items()) if k not in ("pairs", "data")]
    task = "-".join([cfg.task, *settings])
    name = cfg.run_name or (
        f"{task}__{_slug(cfg.judge)}__{_slug(str(parse_spec(cfg.model)))}__seed{cfg.protocol.seed}__{fingerprint}"
    )
    return Path(cfg.output_dir) / name


def build_summary(
    records: list[dict[str, Any]], task: PairwiseTask, policy: str, item_ids: set[str] | None = None
) -> dict[str, Any]:
    summary = summarize_pairwise(records, policy, item_ids)  # type: ignore[arg-type]
    acc = {s: v["accuracy"] for s, v in summary["subsets"].items()}
    counts = {s: v["n"] for s, v in summary["subsets"].items()}
    summary["scores"] = task.summarize(acc, counts)
    return summary


def run_pairwise_eval(
    cfg: PairwiseRunConfig,
    progress: Callable[[int, int], Callable[[int], None]] | None = None,
    model: Model | None = None,
) -> RunOutcome:
    """Run (or resume) one pairwise evaluation. ``progress(total, done)`` returns an ``advance(n)`` callback."""
    t0 = time.perf_counter()
    task = get_task(cfg.task)
    judge = load_judge(cfg.judge)
    loaded = task.load(cfg.task_options)  # data errors surface before any model is loaded
    fingerprint = run_fingerprint(cfg, judge, loaded.fingerprint)
    run_dir = default_run_dir(cfg, fingerprint)
    spec = {
        "kind": "pairwise",
        "fingerprint": fingerprint,
        "model": {"spec": cfg.model, "options": redact(cfg.model_options)},
        "judge": judge.describe(),
        "task": {
            "name": cfg.task,
            "source": loaded.source,
            "data_fingerprint": loaded.fingerprint,
            "extra": cfg.task_options.extra,
        },
        "protocol": asdict(cfg.protocol),
        "failure_policy": cfg.failure_policy,
        "provenance": provenance(),
    }
    journal = RunJournal(run_dir)
    try:
        existing = journal.open(spec, drop=("prompt", "raw"))  # resume needs keys and item ids only
        done = {r["key"] for r in existing}
        votes = 1 if judge.mode == "logprob" else cfg.protocol.votes
        orders = 2 if cfg.protocol.order == "both" else 1
        item_ids = {i.id for i in loaded.items}
        finished = sum(1 for r in existing if r["item_id"] in item_ids)
        total_records = len(loaded.items) * orders * votes
        written = 0
        if finished < total_records:
            own_model = model is None
            model = model or load_model(cfg.model, **cfg.model_options)
            try:
                advance = progress(len(loaded.items) * orders, finished // votes) if progress else None
                written = run_pairwise(loaded.items, judge, model, cfg.protocol, journal, done, advance)
            finally:
                if own_model:
                    model.close()
            spec["model"]["resolved"] = model.describe()
            journal.write(SPEC, spec)
        records = load_records(journal.records_path, drop=("prompt", "raw"))
        summary = build_summary(records, task, cfg.failure_policy, item_ids)
        summary.update({"task": cfg.task, "judge": judge.name, "model": cfg.model, "dropped_rows": loaded.dropped})
        journal.write(SUMMARY, summary)
        model_name = spec["model"].get("resolved", {}).get("name", cfg.model)
        results = task.results_file(summary, model_name, judge.name)
        if results is not None:
            journal.write(RESULTS, results)
        seconds = time.perf_counter() - t0
        journal.write(
            STATS,
            {
                "seconds": seconds,
                "records_written": written,
                "records_reused": finished,
                "pairs_per_second": (written / votes / seconds) if written else None,
            },
        )
        return RunOutcome(run_dir, summary, written, finished, seconds)
    finally:
        journal.close()


def rescore_run(run_dir: str | Path, parser: str | None = None, policy: str | None = None) -> dict[str, Any]:
    """Recompute a run's summary from its records alone, optionally re-parsing raw outputs with another parser."""
    from rrm_eval.judges import get_parser

    run_dir = Path(run_dir)
    spec = read_json(run_dir / SPEC)
    records = load_records(run_dir / RECORDS, drop=("prompt",) if parser else ("prompt", "raw"))
    if parser:
        parse = get_parser(parser)
        for r in records:
            if r.get("finish_reason") in ("scored", "input_too_long", "error"):
                continue
            res = parse(r["raw"], r["finish_reason"])
            r.update(verdict=res.verdict, failure=res.failure, lenient=res.lenient, extracted=res.extracted)
    task = get_task(spec["task"]["name"])
    policy = policy or spec.get("failure_policy", "tie")
    summary = build_summary(records, task, policy)
    summary.update(
        {
            "task": spec["task"]["name"],
            "judge": spec["judge"]["name"],
            "model": spec["model"]["spec"],
            "rescored_with": {"parser": parser or spec["judge"].get("parser"), "failure_policy": policy},
        }
    )
    return summary


__all__ = ["SUMMARY", "PairwiseRunConfig", "RunOutcome", "build_summary", "rescore_run", "run_pairwise_eval"]

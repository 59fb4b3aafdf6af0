"""Tournaments end to end: load candidate sets -> resume the journal -> play the schedule round by round -> rival
table -> ratings and best-of-N accuracy.

Everything after the judging is recomputed from the run directory alone (:func:`rival_results`,
:func:`accuracy_results`), and the run itself calls those same two functions, so ``rrm-eval tournament
rival-results`` / ``accuracy-results`` and ``scripts/elo_*_results.py`` reproduce a run's numbers exactly.

Run directory: ``spec.json``, ``records.jsonl`` (one record per judge call), ``candidate_sets.jsonl`` (the sets as
judged, with correctness), ``rivals.jsonl`` (the rival table), ``ratings.jsonl`` (per-set ratings and picks),
``summary.json`` (best-of-N accuracy and spend), ``run_stats.json`` (timings).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.judges import load_judge
from rrm_eval.models import Model, parse_spec
from rrm_eval.pipelines._naming import slug
from rrm_eval.protocols import SCHEDULES, TournamentConfig, check_mode_fits, run_tournament
from rrm_eval.protocols._tournament import config_from_description, replay_pick
from rrm_eval.runs import (
    RECORDS,
    SUMMARY,
    ProgressFactory,
    Run,
    load_records,
    model_identity,
    model_section,
    run_identity,
    write_json,
)
from rrm_eval.scoring import ELO_DEFAULTS, VERDICT_POLICIES, best_of_n, rate_set, rival_rows
from rrm_eval.tasks import CandidateSet, load_candidate_sets, read_rows, write_candidate_sets

CANDIDATES = "candidate_sets.jsonl"
RIVALS = "rivals.jsonl"
RATINGS = "ratings.jsonl"
ACCURACY = "accuracy_results.json"


@dataclass(frozen=True)
class TournamentRunConfig:
    """One tournament run. ``verdict_policy``, ``bt_l2``, ``bt_bootstrap`` and ``bootstrap`` only change the scoring,
    so they are left out of the run fingerprint (resume with other values = rescore)."""

    model: str
    judge: str
    candidates: tuple[str, ...]
    candidate_format: str = "auto"
    ppe_subset: str | None = None
    limit: int | None = None
    protocol: TournamentConfig = field(default_factory=TournamentConfig)
    verdict_policy: str = "coin"
    bt_l2: float = 1e-2
    bt_bootstrap: int = 0
    bootstrap: int = 1000
    model_options: dict[str, Any] = field(default_factory=dict)
    output_dir: str = "runs"
    run_dir: str | None = None
    run_name: str | None = None

    def __post_init__(self) -> None:
        if self.verdict_policy not in VERDICT_POLICIES:
            raise RRMError(f"unknown verdict policy {self.verdict_policy!r}", hint=f"use one of {VERDICT_POLICIES}")
        if self.bootstrap < 0 or self.bt_bootstrap < 0:
            raise RRMError("--bootstrap and --bt-bootstrap must be >= 0 (0 = no interval)")
        if not self.bt_l2 >= 0:
            raise RRMError(f"--bt-l2 must be >= 0, got {self.bt_l2}")
        if self.limit is not None and self.limit < 1:
            raise RRMError(f"--limit must be at least 1, got {self.limit}")


@dataclass
class TournamentOutcome:
    run_dir: Path
    summary: dict[str, Any]
    written: int
    reused: int
    seconds: float
    backend_errors: int = 0  # games the engine or server failed after its retries (``backend_error`` records)


def _run_dir(cfg: TournamentRunConfig, fingerprint: str, judge_name: str) -> Path:
    if cfg.run_dir:
        return Path(cfg.run_dir)
    data = slug(Path(cfg.candidates[0]).stem) if cfg.candidates else "candidates"
    name = cfg.run_name or (
        f"tournament-{cfg.protocol.schedule}__{data}__{slug(judge_name)}__{slug(str(parse_spec(cfg.model)))}"
        f"__seed{cfg.protocol.seed}__{fingerprint}"
    )
    return Path(cfg.output_dir) / name


def _check_before_judging(sets: list[CandidateSet], protocol: TournamentConfig) -> None:
    """Errors that would otherwise surface mid-run (after a model load): a bracket that does not fit a set."""
    if protocol.schedule != "knockout":
        return
    for cs in sets:
        if protocol.bracket is not None:
            protocol.bracket.check_covers(cs)
        if protocol.final_size:
            slots = len(protocol.bracket.slots) if protocol.bracket else 1 << (len(cs.candidates) - 1).bit_length()
            if protocol.final_size >= slots:
                raise RRMError(
                    f"problem {cs.id!r}: --final-round-robin {protocol.final_size} needs a bracket larger than "
                    f"{slots} slots ({len(cs.candidates)} candidates)"
                )


def run_tournament_eval(
    cfg: TournamentRunConfig, progress: ProgressFactory | None = None, model: Model | None = None
) -> TournamentOutcome:
    """Run (or resume) one tournament; ``progress(total, done)`` returns an ``advance(n)`` callback."""
    model_id = model_identity(cfg.model, cfg.model_options)  # a bad model option fails before any data loads
    judge = load_judge(cfg.judge)
    check_mode_fits(judge, "tournament")
    loaded = load_candidate_sets(cfg.candidates, cfg.candidate_format, cfg.limit, cfg.ppe_subset)
    sets = loaded.sets
    if not sets:
        raise RRMError("no candidate sets to judge", hint="check the candidate files, --ppe-subset and --limit")
    _check_before_judging(sets, cfg.protocol)
    protocol = cfg.protocol.describe()
    fingerprint = run_identity(
        "tournament",
        model=model_id,
        judge=judge.fingerprint,
        data=loaded.fingerprint,
        protocol=protocol,
    )
    spec: dict[str, Any] = {
        "kind": "tournament",
        "fingerprint": fingerprint,
        "model": model_section(cfg.model, cfg.model_options),
        "judge": judge.describe(),
        "candidates": {
            "sources": list(cfg.candidates),
            "format": loaded.format,
            "ppe_subset": cfg.ppe_subset,
            "limit": cfg.limit,
            "data_fingerprint": loaded.fingerprint,
        },
        "protocol": protocol,
        "scoring": _scoring_settings(cfg.verdict_policy, cfg.protocol.seed, cfg.bt_l2, cfg.bt_bootstrap, cfg.bootstrap),
    }
    run_dir = _run_dir(cfg, fingerprint, judge.name)
    with Run(
        run_dir,
        spec,
        model_spec=cfg.model,
        model_options=cfg.model_options,
        model=model,
        progress=progress,
        retry_failed=False,  # a redone game could change the bracket after it (see Run)
    ) as run:
        write_candidate_sets(run_dir / CANDIDATES, sets)
        reused = sum(1 for r in run.existing if r.get("kind", "judge") == "judge")
        written = run_tournament(sets, judge, cfg.protocol, run)
        rival_results(run_dir)
        summary = accuracy_results(run_dir, output=run_dir / SUMMARY, ratings_output=run_dir / RATINGS)
        stats = run.finish(candidate_sets=len(sets))
        errors = sum(
            1 for r in run.records(drop=("prompt", "raw"), kind="judge") if r.get("failure") == "backend_error"
        )
        return TournamentOutcome(run_dir, summary, written, reused, stats["seconds"], errors)


# -- from the run directory alone ---------------------------------------------------------------------------------
def _scoring_settings(policy: str, seed: int, l2: float, bt_bootstrap: int, bootstrap: int) -> dict[str, Any]:
    return {
        "verdict_policy": policy,
        "seed": seed,
        "elo": ELO_DEFAULTS,
        "bt_l2": l2,
        "bt_bootstrap": bt_bootstrap,
        "accuracy_bootstrap": bootstrap,
    }


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _tournament_spec(run_dir: Path) -> dict[str, Any]:
    from rrm_eval.pipelines.pairwise import run_spec

    return run_spec(run_dir, "tournament")


def _run_sets(run_dir: Path) -> list[CandidateSet]:
    path = run_dir / CANDIDATES
    if not path.is_file():
        raise RRMError(f"{path} is missing", hint="the run did not get as far as writing its candidate sets")
    return load_candidate_sets(str(path), "jsonl").sets


def rival_results(run_dir: str | Path, output: str | Path | None = None) -> tuple[list[dict[str, Any]], Path]:
    """Merge a run's judge records into the rival table (one row per game). Writes ``rivals.jsonl`` (or
    ``output``) and returns the rows and the path."""
    run_dir = Path(run_dir)
    spec = _tournament_spec(run_dir)
    records = load_records(run_dir / RECORDS)
    games = [r for r in records if r.get("kind", "judge") == "judge"]
    advanced = {r["item_id"]: r["winner"] for r in records if r.get("kind") == "advance"}
    rows = rival_rows(games, _run_sets(run_dir), int(spec["protocol"]["seed"]), advanced)
    path = Path(output) if output else run_dir / RIVALS
    _write_jsonl(path, rows)
    return rows, path


def _schedule_picks(
    protocol: dict[str, Any], sets: list[CandidateSet], by_set: dict[str, list[dict[str, Any]]]
) -> dict[str, dict[str, str | None]]:
    """For a schedule that picks by itself (answer-aware / budgeted knockouts): replay it over the rival table's
    outcomes, so the ``champion`` comes from the directory alone and equals the run's decisions (advancement uses
    the raw outcomes, never the verdict policy, as in the run)."""
    if not SCHEDULES.get(protocol["schedule"]).picks:
        return {}
    cfg = config_from_description(protocol)
    return {
        cs.id: {"champion": replay_pick(cs, cfg, {r["key"]: r["winner"] for r in by_set.get(cs.id, [])})} for cs in sets
    }


def accuracy_results(
    run_dir: str | Path,
    rivals: str | Path | None = None,
    policy: str | None = None,
    seed: int | None = None,
    bt_l2: float | None = None,
    bt_bootstrap: int | None = None,
    bootstrap: int | None = None,
    output: str | Path | None = None,
    ratings_output: str | Path | None = None,
) -> dict[str, Any]:
    """Ratings and best-of-N accuracy from the rival table (``rivals.jsonl`` of the run, or ``rivals``) and the
    run's candidate sets. Settings default to the run's. Writes the summary to ``output`` (default
    ``accuracy_results.json`` in the run) and per-set ratings to ``ratings_output`` when given."""
    run_dir = Path(run_dir)
    spec = _tournament_spec(run_dir)
    run_scoring = spec.get("scoring", {})
    policy = policy or run_scoring.get("verdict_policy", "coin")
    seed = int(spec["protocol"]["seed"] if seed is None else seed)
    l2 = float(run_scoring.get("bt_l2", 1e-2) if bt_l2 is None else bt_l2)
    bt_bootstrap = int(run_scoring.get("bt_bootstrap", 0) if bt_bootstrap is None else bt_bootstrap)
    bootstrap = int(run_scoring.get("accuracy_bootstrap", 1000) if bootstrap is None else bootstrap)
    rivals_path = Path(rivals) if rivals else run_dir / RIVALS
    if not rivals_path.is_file():
        raise RRMError(f"{rivals_path} is missing", hint=f"run `rrm-eval tournament rival-results {run_dir}` first")
    rows = read_rows(rivals_path, allow_empty=True)
    sets = _run_sets(run_dir)
    by_set: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_set[row["set_id"]].append(row)
    schedule = spec["protocol"]["schedule"]
    picks = _schedule_picks(spec["protocol"], sets, by_set)
    per_set = [
        rate_set(cs, by_set.get(cs.id, []), policy, seed, l2, bt_bootstrap, picks.get(cs.id))  # type: ignore[arg-type]
        for cs in sets
    ]
    summary = {
        "kind": "tournament",
        "schedule": schedule,
        "games_per_match": spec["protocol"]["games"],
        "judge": spec["judge"]["name"],
        "model": spec["model"]["spec"],
        "candidates": ", ".join(spec["candidates"]["sources"]),
        "primary": SCHEDULES.get(schedule).primary,
        "scoring": _scoring_settings(policy, seed, l2, bt_bootstrap, bootstrap),
        **best_of_n(sets, per_set, rows, policy, bootstrap, seed),  # type: ignore[arg-type]
        "selected": {s["set_id"]: s["selected"] for s in per_set},
    }
    write_json(Path(output) if output else run_dir / ACCURACY, summary)
    if ratings_output:
        _write_jsonl(Path(ratings_output), per_set)
    return summary


__all__ = [
    "ACCURACY",
    "CANDIDATES",
    "RATINGS",
    "RIVALS",
    "TournamentOutcome",
    "TournamentRunConfig",
    "accuracy_results",
    "rival_results",
    "run_tournament_eval",
]

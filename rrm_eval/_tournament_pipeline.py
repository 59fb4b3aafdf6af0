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
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval._pipeline import _EXECUTION_OPTIONS, _slug
from rrm_eval._seeding import stable_hash
from rrm_eval.judges import Judge, load_judge
from rrm_eval.models import GenerateRequest, Model, SamplingParams, load_model, parse_spec, redact
from rrm_eval.protocols import TournamentConfig, expected_games, record_winner, run_tournament
from rrm_eval.runs import RECORDS, SPEC, SUMMARY, RunJournal, load_records, provenance, read_json, write_json
from rrm_eval.scoring import ELO_DEFAULTS, VERDICT_POLICIES, best_of_n, rate_set, rival_rows
from rrm_eval.tasks import (
    Candidate,
    CandidateSet,
    answers_match,
    extract_boxed,
    fingerprint_rows,
    load_candidate_sets,
    read_rows,
    write_candidate_sets,
)

CANDIDATES = "candidate_sets.jsonl"
RIVALS = "rivals.jsonl"
RATINGS = "ratings.jsonl"
ACCURACY = "accuracy_results.json"
STATS = "run_stats.json"
#: The number a schedule is known by: the published round robin reports Elo, a bracket its champion.
PRIMARY = {"round-robin": "elo", "knockout": "knockout", "swiss": "bradley-terry"}


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


@dataclass
class TournamentOutcome:
    run_dir: Path
    summary: dict[str, Any]
    written: int
    reused: int
    seconds: float


def tournament_fingerprint(cfg: TournamentRunConfig, judge: Judge, data_fingerprint: str) -> str:
    p = cfg.protocol
    return stable_hash(
        "tournament",
        str(parse_spec(cfg.model)),
        sorted((k, str(v)) for k, v in cfg.model_options.items() if k not in _EXECUTION_OPTIONS),
        judge.fingerprint,
        data_fingerprint,
        p.schedule,
        p.games,
        p.seed,
        None if p.bracket is None else p.bracket.slots,
        p.final_size,
        p.rounds,
        p.temperature,
        p.top_p,
        p.max_new_tokens,
    )[:12]


def _run_dir(cfg: TournamentRunConfig, fingerprint: str) -> Path:
    if cfg.run_dir:
        return Path(cfg.run_dir)
    data = _slug(Path(cfg.candidates[0]).stem) if cfg.candidates else "candidates"
    name = cfg.run_name or (
        f"tournament-{cfg.protocol.schedule}__{data}__{_slug(cfg.judge)}__{_slug(str(parse_spec(cfg.model)))}"
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
    cfg: TournamentRunConfig,
    progress: Callable[[int, int], Callable[[int], None]] | None = None,
    model: Model | None = None,
) -> TournamentOutcome:
    """Run (or resume) one tournament; ``progress(total, done)`` returns an ``advance(n)`` callback."""
    t0 = time.perf_counter()
    judge = load_judge(cfg.judge)
    loaded = load_candidate_sets(cfg.candidates, cfg.candidate_format, cfg.limit, cfg.ppe_subset)
    sets = loaded.sets
    _check_before_judging(sets, cfg.protocol)
    fingerprint = tournament_fingerprint(cfg, judge, loaded.fingerprint)
    run_dir = _run_dir(cfg, fingerprint)
    spec: dict[str, Any] = {
        "kind": "tournament",
        "fingerprint": fingerprint,
        "model": {"spec": cfg.model, "options": redact(cfg.model_options)},
        "judge": judge.describe(),
        "candidates": {
            "sources": list(cfg.candidates),
            "format": loaded.format,
            "ppe_subset": cfg.ppe_subset,
            "limit": cfg.limit,
            "data_fingerprint": loaded.fingerprint,
        },
        "protocol": cfg.protocol.describe(),
        "scoring": _scoring_settings(cfg.verdict_policy, cfg.protocol.seed, cfg.bt_l2, cfg.bt_bootstrap, cfg.bootstrap),
        "provenance": provenance(),
    }
    journal = RunJournal(run_dir)
    own: Model | None = None
    try:
        existing = journal.open(spec)
        write_candidate_sets(run_dir / CANDIDATES, sets)
        ids = {cs.id for cs in sets}
        done = {r["key"]: record_winner(r) for r in existing if (r.get("meta") or {}).get("set") in ids}
        reused = len(done)

        def get_model() -> Model:
            nonlocal own
            if model is not None:
                return model
            if own is None:
                own = load_model(cfg.model, **cfg.model_options)
            return own

        total = sum(expected_games(len(cs.candidates), cfg.protocol) for cs in sets)
        advance = progress(total, min(reused, total)) if progress else None
        written = run_tournament(sets, judge, get_model, cfg.protocol, journal, done, advance)
        used = model or own
        if used is not None and written:
            spec["model"]["resolved"] = used.describe()
            journal.write(SPEC, spec)
        rival_results(run_dir)
        summary = accuracy_results(run_dir, output=run_dir / SUMMARY, ratings_output=run_dir / RATINGS)
        seconds = time.perf_counter() - t0
        journal.write(
            STATS,
            {
                "seconds": seconds,
                "records_written": written,
                "records_reused": reused,
                "candidate_sets": len(sets),
                "model_usage": used.usage.as_dict() if used is not None else None,
            },
        )
        return TournamentOutcome(run_dir, summary, written, reused, seconds)
    finally:
        if own is not None:
            own.close()
        journal.close()


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
    spec = read_json(run_dir / SPEC)
    if spec.get("kind") != "tournament":
        raise RRMError(f"{run_dir} is not a tournament run (kind {spec.get('kind')!r})")
    return spec


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
    rows = rival_rows(load_records(run_dir / RECORDS), _run_sets(run_dir), int(spec["protocol"]["seed"]))
    path = Path(output) if output else run_dir / RIVALS
    _write_jsonl(path, rows)
    return rows, path


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
    rows = read_rows(rivals_path)
    sets = _run_sets(run_dir)
    by_set: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_set[row["set_id"]].append(row)
    per_set = [rate_set(cs, by_set.get(cs.id, []), policy, seed, l2, bt_bootstrap) for cs in sets]  # type: ignore[arg-type]
    schedule = spec["protocol"]["schedule"]
    summary = {
        "kind": "tournament",
        "schedule": schedule,
        "games_per_match": spec["protocol"]["games"],
        "judge": spec["judge"]["name"],
        "model": spec["model"]["spec"],
        "candidates": ", ".join(spec["candidates"]["sources"]),
        "primary": PRIMARY[schedule],
        "scoring": _scoring_settings(policy, seed, l2, bt_bootstrap, bootstrap),
        **best_of_n(sets, per_set, rows, policy, bootstrap, seed),  # type: ignore[arg-type]
        "selected": {s["set_id"]: s["selected"] for s in per_set},
    }
    write_json(Path(output) if output else run_dir / ACCURACY, summary)
    if ratings_output:
        _write_jsonl(Path(ratings_output), per_set)
    return summary


# -- candidate generation (``rrm-eval candidates``) -----------------------------------------------------------------
#: The Qwen2.5-Math chain-of-thought system prompt (Qwen2.5-Math README and evaluation toolkit, template
#: "qwen25-math-cot"), with which the published best-of-8 MATH candidates were sampled at temperature 0.6.
COT_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class CandidateGenConfig:
    """Sample ``n`` solutions per problem with a policy model, grade them, and write a candidate-set jsonl."""

    model: str
    problems: str
    output: str | None = None
    n: int = 8
    temperature: float = 0.6
    top_p: float = 1.0
    max_new_tokens: int = 2048
    seed: int = 0
    system: str | None = COT_SYSTEM
    limit: int | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    output_dir: str = "runs"
    run_dir: str | None = None

    def __post_init__(self) -> None:
        if self.n < 2:
            raise RRMError(f"--n must be at least 2 (a tournament needs two candidates), got {self.n}")


@dataclass(frozen=True)
class Problem:
    id: str
    question: str
    reference: str


_ID_FIELDS = ("id", "idx", "unique_id", "question_id")
_QUESTION_FIELDS = ("question", "problem", "prompt")
_REFERENCE_FIELDS = ("reference", "answer", "gt")


def read_problems(path: str, limit: int | None = None) -> tuple[list[Problem], list[dict[str, Any]]]:
    """Problems from a json/jsonl/parquet file: id (``id``/``idx``/``unique_id``/``question_id``, else the row
    number), question (``question``/``problem``/``prompt``) and reference answer (``reference``/``answer``/``gt``,
    else the last ``\\boxed{}`` of ``solution``, as in MATH)."""
    rows = read_rows(path)
    out, seen = [], set()
    for n, row in enumerate(rows):
        pid = next((str(row[f]) for f in _ID_FIELDS if row.get(f) is not None), str(n))
        question = next((row[f] for f in _QUESTION_FIELDS if isinstance(row.get(f), str) and row[f].strip()), None)
        if question is None:
            raise RRMError(f"{path}: problem {pid!r}: no question", hint=f"give one of the fields {_QUESTION_FIELDS}")
        ref = next((str(row[f]) for f in _REFERENCE_FIELDS if row.get(f) not in (None, "")), None)
        ref = ref or extract_boxed(row.get("solution") if isinstance(row.get("solution"), str) else None)
        if ref is None:
            raise RRMError(
                f"{path}: problem {pid!r}: no reference answer to grade samples against",
                hint=f"give one of the fields {_REFERENCE_FIELDS}, or a 'solution' with a \\boxed{{}} answer",
            )
        if pid in seen:
            raise RRMError(f"{path}: problem id {pid!r} appears twice", hint="problem ids must be unique")
        seen.add(pid)
        out.append(Problem(pid, question, ref))
    if limit is not None:
        out = out[:limit]
    return out, rows


@dataclass
class CandidateGenOutcome:
    run_dir: Path
    output: Path
    summary: dict[str, Any]
    written: int


def generate_candidates(
    cfg: CandidateGenConfig,
    progress: Callable[[int, int], Callable[[int], None]] | None = None,
    model: Model | None = None,
) -> CandidateGenOutcome:
    """Sample, journal (one record per sample; resume skips finished problems), grade with math-verify, write sets."""
    t0 = time.perf_counter()
    problems, rows = read_problems(cfg.problems, cfg.limit)
    fingerprint = stable_hash(
        "candidates",
        str(parse_spec(cfg.model)),
        sorted((k, str(v)) for k, v in cfg.model_options.items() if k not in _EXECUTION_OPTIONS),
        fingerprint_rows(rows),
        cfg.n,
        cfg.temperature,
        cfg.top_p,
        cfg.max_new_tokens,
        cfg.seed,
        cfg.system,
    )[:12]
    run_dir = Path(
        cfg.run_dir
        or Path(cfg.output_dir)
        / (
            f"candidates__{_slug(Path(cfg.problems).stem)}__{_slug(str(parse_spec(cfg.model)))}__n{cfg.n}"
            f"__seed{cfg.seed}__{fingerprint}"
        )
    )
    output = Path(cfg.output) if cfg.output else run_dir / CANDIDATES
    spec = {
        "kind": "candidates",
        "fingerprint": fingerprint,
        "model": {"spec": cfg.model, "options": redact(cfg.model_options)},
        "problems": {"source": cfg.problems, "limit": cfg.limit, "data_fingerprint": fingerprint_rows(rows)},
        "sampling": {k: getattr(cfg, k) for k in ("n", "temperature", "top_p", "max_new_tokens", "seed", "system")},
        "output": str(output),
        "provenance": provenance(),
    }
    journal = RunJournal(run_dir)
    try:
        existing = journal.open(spec)
        done = {r["key"] for r in existing}
        pending = [p for p in problems if any(f"{p.id}|{s}" not in done for s in range(cfg.n))]
        written = 0
        if pending:
            own = model is None
            model = model or load_model(cfg.model, **cfg.model_options)
            try:
                written = _sample(pending, cfg, model, journal, progress, len(problems) - len(pending))
            finally:
                if own:
                    model.close()
        by_key = {r["key"]: r for r in load_records(journal.records_path)}
        sets = [_graded_set(p, by_key, cfg) for p in problems]
        write_candidate_sets(output, sets)
        n_samples = sum(len(cs.candidates) for cs in sets)
        summary = {
            "problems": len(sets),
            "samples": n_samples,
            "single_sample_accuracy": sum(c.correct for cs in sets for c in cs.candidates) / n_samples,
            "oracle_accuracy": sum(any(c.correct for c in cs.candidates) for cs in sets) / len(sets),
            "no_answer_rate": sum(c.answer is None for cs in sets for c in cs.candidates) / n_samples,
            "truncation_rate": sum(c.meta.get("finish_reason") == "length" for cs in sets for c in cs.candidates)
            / n_samples,
            "completion_tokens": sum(int(c.meta.get("completion_tokens") or 0) for cs in sets for c in cs.candidates),
            "output": str(output),
            "seconds": time.perf_counter() - t0,
        }
        journal.write(SUMMARY, summary)
        return CandidateGenOutcome(run_dir, output, summary, written)
    finally:
        journal.close()


def _sample(
    problems: list[Problem],
    cfg: CandidateGenConfig,
    model: Model,
    journal: RunJournal,
    progress: Callable[[int, int], Callable[[int], None]] | None,
    already: int,
) -> int:
    params = SamplingParams(
        max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p, n=cfg.n, seed=cfg.seed
    )
    requests = []
    for p in problems:
        messages = ([{"role": "system", "content": cfg.system}] if cfg.system else []) + [
            {"role": "user", "content": p.question}
        ]
        requests.append(GenerateRequest(model.render(messages), key=p.id))
    advance = progress(already + len(problems), already) if progress else None
    written = 0
    for start, groups in model.iter_generate(requests, params):
        recs = []
        for j, group in enumerate(groups):
            pid = problems[start + j].id
            for s, comp in enumerate(group):
                recs.append(
                    {
                        "key": f"{pid}|{s}",
                        "item_id": pid,
                        "sample": s,
                        "text": comp.text,
                        "finish_reason": comp.finish_reason,
                        "prompt_tokens": comp.prompt_tokens,
                        "completion_tokens": comp.completion_tokens,
                        "error": comp.error,
                    }
                )
        written += journal.append(recs)
        if advance:
            advance(len(groups))
    return written


def _graded_set(p: Problem, by_key: dict[str, dict[str, Any]], cfg: CandidateGenConfig) -> CandidateSet:
    cands = []
    for s in range(cfg.n):
        rec = by_key[f"{p.id}|{s}"]
        answer = extract_boxed(rec["text"])
        meta = {k: rec.get(k) for k in ("sample", "finish_reason", "completion_tokens")}
        cands.append(Candidate(f"s{s}", rec["text"], answer, answers_match(answer, p.reference), meta))
    return CandidateSet(p.id, p.question, tuple(cands), p.reference, "", {"seed": cfg.seed})


__all__ = [
    "ACCURACY",
    "CANDIDATES",
    "COT_SYSTEM",
    "RATINGS",
    "RIVALS",
    "CandidateGenConfig",
    "CandidateGenOutcome",
    "TournamentOutcome",
    "TournamentRunConfig",
    "accuracy_results",
    "generate_candidates",
    "read_problems",
    "rival_results",
    "run_tournament_eval",
    "tournament_fingerprint",
]

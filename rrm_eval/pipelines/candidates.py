"""Candidate generation (``rrm-eval candidates``): sample n solutions per problem with a policy model, journal one
record per sample (resume is per sample key), grade them with math-verify, and write a candidate-set jsonl that
``rrm-eval tournament`` reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.models import Message, Model, SamplingParams, parse_spec
from rrm_eval.pipelines._naming import slug
from rrm_eval.protocols import check_sampling_overrides
from rrm_eval.runs import (
    SUMMARY,
    ProgressFactory,
    Run,
    model_identity,
    model_section,
    run_identity,
    sample_k,
    sample_key,
)
from rrm_eval.tasks import (
    Candidate,
    CandidateSet,
    answers_match,
    extract_boxed,
    fingerprint_rows,
    read_rows,
    write_candidate_sets,
)

CANDIDATES = "candidate_sets.jsonl"

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
        check_sampling_overrides(self.temperature, self.top_p, self.max_new_tokens)
        if self.limit is not None and self.limit < 1:
            raise RRMError(f"--limit must be at least 1, got {self.limit}")


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
    cfg: CandidateGenConfig, progress: ProgressFactory | None = None, model: Model | None = None
) -> CandidateGenOutcome:
    """Sample, journal (one record per sample; resume skips saved samples), grade with math-verify, write sets."""
    model_id = model_identity(cfg.model, cfg.model_options)  # a bad model option fails before any data loads
    problems, rows = read_problems(cfg.problems, cfg.limit)
    if not problems:
        raise RRMError(f"{cfg.problems}: no problems", hint="give a file with at least one problem row")
    sampling = {k: getattr(cfg, k) for k in ("n", "temperature", "top_p", "max_new_tokens", "seed", "system")}
    data_fingerprint = fingerprint_rows(rows)
    fingerprint = run_identity("candidates", model=model_id, data=data_fingerprint, sampling=sampling)
    run_dir = Path(
        cfg.run_dir
        or Path(cfg.output_dir)
        / (
            f"candidates__{slug(Path(cfg.problems).stem)}__{slug(str(parse_spec(cfg.model)))}__n{cfg.n}"
            f"__seed{cfg.seed}__{fingerprint}"
        )
    )
    output = Path(cfg.output) if cfg.output else run_dir / CANDIDATES
    spec = {
        "kind": "candidates",
        "fingerprint": fingerprint,
        "model": model_section(cfg.model, cfg.model_options),
        "problems": {"source": cfg.problems, "limit": cfg.limit, "data_fingerprint": data_fingerprint},
        "sampling": sampling,
        "output": str(output),
    }
    params = SamplingParams(
        max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p, n=cfg.n, seed=cfg.seed
    )
    with Run(
        run_dir, spec, model_spec=cfg.model, model_options=cfg.model_options, model=model, progress=progress
    ) as run:
        prompts = [(p.id, _messages(p, cfg.system)) for p in problems]
        sample_k(run, prompts, params)
        by_key = {r["key"]: r for r in run.records(kind="sample")}
        sets = [_graded_set(p, by_key, cfg) for p in problems]
        write_candidate_sets(output, sets)
        n_samples = sum(len(cs.candidates) for cs in sets)
        summary = {
            "problems": len(sets),
            "samples": n_samples,
            "single_sample_accuracy": sum(bool(c.correct) for cs in sets for c in cs.candidates) / n_samples,
            "oracle_accuracy": sum(any(c.correct for c in cs.candidates) for cs in sets) / len(sets),
            "no_answer_rate": sum(c.answer is None for cs in sets for c in cs.candidates) / n_samples,
            "truncation_rate": sum(c.meta.get("finish_reason") == "length" for cs in sets for c in cs.candidates)
            / n_samples,
            "error_rate": sum(c.meta.get("finish_reason") == "error" for cs in sets for c in cs.candidates) / n_samples,
            "completion_tokens": sum(int(c.meta.get("completion_tokens") or 0) for cs in sets for c in cs.candidates),
            "output": str(output),
        }
        run.write(SUMMARY, summary)
        run.finish()
        return CandidateGenOutcome(run_dir, output, summary, run.written)


def _messages(p: Problem, system: str | None) -> list[Message]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": p.question}]


def _graded_set(p: Problem, by_key: dict[str, dict[str, Any]], cfg: CandidateGenConfig) -> CandidateSet:
    cands = []
    for s in range(cfg.n):
        rec = by_key[sample_key(p.id, s)]
        answer = extract_boxed(rec["text"])
        meta = {k: rec.get(k) for k in ("sample", "finish_reason", "completion_tokens")}
        cands.append(Candidate(f"s{s}", rec["text"], answer, answers_match(answer, p.reference), meta))
    return CandidateSet(p.id, p.question, tuple(cands), p.reference, "", {"seed": cfg.seed})


__all__ = [
    "CANDIDATES",
    "COT_SYSTEM",
    "CandidateGenConfig",
    "CandidateGenOutcome",
    "generate_candidates",
    "read_problems",
]

"""`rrm-eval train dpo-data`: on-policy reasons from the SFT model, scored with R_score, paired by a named strategy.

1. Two-phase generation with the shared :func:`rrm_eval.protocols.reason_then_verdict` (the routine the
   ``reasongenrm`` judge evaluates with): phase 1 samples k reasons per judge prompt from the ReasonGenRM SFT
   checkpoint (seed 003: 16 samples, T = 1.0), the reason turn up to its end token; phase 2 renders the conversation
   with each finished reason closed and samples the model's answer after it (same temperature, one sample, at most
   ``VERDICT_MAX_NEW_TOKENS``). A reason is *correct* when that answer is the target verdict
   (``correct_by="sampled"``: seed 003 judged the on-policy answers by text match; an answer with no
   ``[[A]]``/``[[B]]`` drops the sample), or, with ``correct_by="preferred"``, when the model gives the target
   verdict a higher P(A|U,R) than the flipped one. A reason that hits the token budget gets no verdict phase (the
   shared routine's rule), so under ``sampled`` it is counted ``no_verdict`` even with ``keep_truncated``.
2. Journal ``<out>/samples``: one :class:`~rrm_eval.runs.SampleRecord` per sample holding both phases -- ``text`` /
   ``finish_reason`` are the reason's, ``meta["verdict"]`` the phase-2 answer (``meta["phase"]`` 2, or 1 when the
   reason got no verdict phase). Both phases of a prompt are appended together, chunk by chunk, so resume is per
   prompt and a reason is never paired with an answer generated in another run.
3. Score each reason with the same model (journal ``<out>/scores``, dict records): P(R|U), P(A|U,R) for the target
   verdict and for the flipped one; R_score = (2 P(A|U,R) - 1) P(R|U) if P(A|U,R) >= P(R|U) else -P(R|U).

   Identity: the samples journal's fingerprint covers the model (:func:`~rrm_eval.runs.model_identity`), the
   checkpoint marker (recipe, data fingerprint, loss history: a retrained folder is a new model), both phases'
   sampling settings and the content of the prepared data file; the scores journal's covers the model, the marker
   and the samples journal's fingerprint (that journal is append-only under one identity, so a saved sample never
   changes, and a larger ``--limit`` resumes both journals).

   The model is any spec ``load_model`` takes. A local checkpoint folder (``hf:PATH``, ``vllm:PATH`` or a bare
   path) must carry ``rrm_training.json`` (its layout renders the prompts and the score requests); any other spec
   (a hub id, ``openai:``, ...) must render a reason turn with its own chat template, checked when it is loaded.
4. Pair per prompt with one of seed 003's strategies (its RewardBench score in the ablation):

   =====================================  ======  ====================================================
   strategy                               score   chosen / rejected
   =====================================  ======  ====================================================
   correct-fluent+incorrect-fluent        85.21   most fluent correct / most fluent incorrect (best)
   correct-fluent+incorrect-influent      84.57   most fluent correct / least fluent incorrect
   correct-fluent+random-incorrect        81.31   most fluent correct / seeded random incorrect
   correct-influent+incorrect-fluent      60.45   least fluent correct / most fluent incorrect (the
                                                  ablation saw non-stopping generations)
   random-correct+random-incorrect        84.57   seeded random correct / seeded random incorrect
   =====================================  ======  ====================================================

   Fluency ranks by ``rank_by``: ``r_score`` (default; the seed's conclusion: chosen = max R_score among correct,
   rejected = min R_score among incorrect) or ``p_reason`` (the ablation table's literal P(R|U) max/min). The
   rejected side's verdict is the flipped label.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rrm_eval._errors import UnknownNameError
from rrm_eval._seeding import stable_hash, stable_rng
from rrm_eval.judges import PARSERS
from rrm_eval.models import GenerateRequest, Message, Model, SamplingParams, parse_spec
from rrm_eval.protocols import (
    VERDICT_MAX_NEW_TOKENS,
    TwoPhase,
    check_reason_template,
    check_sampling_overrides,
    reason_chunk,
    reason_then_verdict,
)
from rrm_eval.runs import (
    Run,
    SampleRecord,
    file_fingerprint,
    model_identity,
    model_section,
    run_identity,
    sample_key,
)

from ._checkpoint import read_marker
from ._io import read_dataset, stats_path, write_json, write_jsonl
from ._journals import Progress, check_out, finish_counts, load_samples, sampling_settings
from ._layout import ChatLayout, get_layout
from ._reasons import PREPARED_FIELDS, check_count
from ._scoring import FLIPPED, VERDICT_SPANS, answer_p, r_score
from ._select import candidates, score_run

#: strategy -> (how the chosen is picked among correct reasons, how the rejected is picked among incorrect ones)
STRATEGIES: dict[str, tuple[str, str]] = {
    "correct-fluent+incorrect-fluent": ("fluent", "fluent"),
    "correct-fluent+incorrect-influent": ("fluent", "influent"),
    "correct-fluent+random-incorrect": ("fluent", "random"),
    "correct-influent+incorrect-fluent": ("influent", "fluent"),
    "random-correct+random-incorrect": ("random", "random"),
}
RANK_BY = ("r_score", "p_reason")
CORRECT_BY = ("sampled", "preferred")


@dataclass(frozen=True)
class DPODataConfig:
    model: str
    model_options: dict[str, Any] = field(default_factory=dict)
    k: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 1024
    seed: int = 0
    strategy: str = "correct-fluent+incorrect-fluent"
    rank_by: str = "r_score"
    correct_by: str = "sampled"
    verdict_span: str = "full"
    keep_truncated: bool = False
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise UnknownNameError("pair strategy", self.strategy, STRATEGIES)
        if self.correct_by not in CORRECT_BY:
            raise UnknownNameError("correctness rule", self.correct_by, CORRECT_BY)
        if self.rank_by not in RANK_BY:
            raise UnknownNameError("ranking", self.rank_by, RANK_BY)
        if self.verdict_span not in VERDICT_SPANS:
            raise UnknownNameError("verdict span", self.verdict_span, VERDICT_SPANS)
        check_count("--k", self.k, 2, " to find a correct and an incorrect reason")
        check_count("--limit", self.limit)
        check_sampling_overrides(self.temperature, self.top_p, self.max_new_tokens)


def _fluency(c: dict[str, Any], rank_by: str, correct: bool) -> float:
    """Higher = more fluent. Under r_score an incorrect reason's fluency is -R_score (min R_score = most fluent)."""
    if rank_by == "p_reason":
        return c["p_reason"]
    return c["r_score"] if correct else -c["r_score"]


def _pick(group: list[dict[str, Any]], how: str, rank_by: str, correct: bool, rng: Any) -> dict[str, Any]:
    if how == "random":
        return rng.choice(group)
    ordered = sorted(group, key=lambda c: (-_fluency(c, rank_by, correct), c["sample"]))  # ties: lowest sample
    return ordered[0] if how == "fluent" else ordered[-1]


def _side(c: dict[str, Any], verdict: str) -> dict[str, Any]:
    keep = ("sample", "reason", "p_reason", "p_answer", "p_flipped", "r_score")
    return {"verdict": verdict, **{k: c[k] for k in keep}}


def build_pairs(
    rows: list[dict[str, Any]],
    items: list[dict[str, Any]],
    scores: dict[str, dict[str, Any]],
    cfg: DPODataConfig,
    verdicts: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``verdicts``: the phase-2 answer record of each sample key (needed for ``correct_by="sampled"``)."""
    parse = PARSERS.get("bracket_ab")
    by_row: dict[str, list[dict[str, Any]]] = {}
    sample_drops: Counter[str] = Counter()
    for it in items:
        rec = scores.get(it["key"])
        if rec is None or rec.get("error"):
            sample_drops["score_error"] += 1
            continue
        p_a = answer_p(rec, cfg.verdict_span)
        p_f = answer_p(rec, cfg.verdict_span, flipped=True)
        cand = dict(it, p_reason=rec["p_reason"], p_answer=p_a, p_flipped=p_f, r_score=r_score(p_a, rec["p_reason"]))
        if cfg.correct_by == "preferred":
            cand["correct"] = p_a > p_f
        else:
            answer = (verdicts or {}).get(sample_key(it["key"], 0))
            parsed = parse(answer["text"], answer["finish_reason"]) if answer and not answer.get("error") else None
            if parsed is None or parsed.verdict not in (1, 2):
                sample_drops["no_verdict"] += 1
                continue
            cand["answer"] = answer["text"]
            cand["correct"] = parsed.verdict == (1 if it["target"] == "[[A]]" else 2)
        by_row.setdefault(it["id"], []).append(cand)
    how_c, how_r = STRATEGIES[cfg.strategy]
    dropped: Counter[str] = Counter()
    pairs = []
    for row in rows:
        group = by_row.get(row["id"], [])
        good = [c for c in group if c["correct"]]
        bad = [c for c in group if not c["correct"]]
        if not group:
            dropped["no_valid_sample"] += 1
            continue
        if not good or not bad:
            dropped["no_correct" if not good else "no_incorrect"] += 1
            continue
        rng = stable_rng("dpo-pair", cfg.seed, cfg.strategy, row["id"])
        chosen = _pick(good, how_c, cfg.rank_by, True, rng)
        rejected = _pick(bad, how_r, cfg.rank_by, False, rng)

        pairs.append(
            {
                "id": row["id"],
                "pair_id": row.get("pair_id"),
                "messages": row["messages"],
                "target": row["target"],
                "chosen": _side(chosen, row["target"]),
                "rejected": _side(rejected, FLIPPED[row["target"]]),
                "n_correct": len(good),
                "n_incorrect": len(bad),
            }
        )
    stats = {
        "rows_in": len(rows),
        "pairs": len(pairs),
        "rows_dropped": dict(dropped),
        "samples_unpaired": dict(sample_drops),
        "samples_scored": sum(len(g) for g in by_row.values()),
        "correct_rate": (
            sum(c["correct"] for g in by_row.values() for c in g) / max(1, sum(map(len, by_row.values())))
        ),
    }
    return pairs, stats


def checkpoint_marker(model: str) -> dict[str, Any] | None:
    """The ``rrm_training.json`` of a local checkpoint folder (``hf:``/``vllm:`` or a bare path), or None for a spec
    that names no local folder (its chat template is checked when the model is loaded)."""
    parsed = parse_spec(model)
    if parsed.prefix in ("hf", "vllm") and Path(parsed.target).exists():
        return read_marker(parsed.target, want="reason")
    return None


def _reason_then_verdict_chunk(
    model: Model,
    requests: list[GenerateRequest],
    conversations: list[list[Message]],
    layout: ChatLayout | None,
    params: SamplingParams,
    verdict_params: SamplingParams,
) -> list[list[TwoPhase]]:
    """One chunk of two-phase generation; the verdict prompt is the layout's, or the model's own template with the
    reason turn closed (module level, so ``Model.map_chunks`` can run it on a Ray worker)."""
    if layout is None:
        return reason_chunk(model, requests, conversations, params, verdict_params)
    return reason_then_verdict(
        model, requests, params, lambda i, reason: layout.verdict_prompt(conversations[i], reason), verdict_params
    )


def _two_phase(
    run: Run,
    rows: list[dict[str, Any]],
    layout: ChatLayout | None,
    params: SamplingParams,
    verdict_params: SamplingParams,
) -> int:
    """Reason then verdict for every row whose k samples are not all saved; one record per sample holding both."""
    pending = [r for r in rows if not run.all_saved(sample_key(r["id"], s) for s in range(params.n))]
    if not pending:
        return 0
    model = run.model
    if layout is None:
        check_reason_template(model)  # a clear error for a model whose template opens no reason turn

    def first(messages: list[dict[str, str]]) -> str:
        return layout.reason_prompt(messages) if layout else model.render(messages)

    run.start_progress(len(rows), len(rows) - len(pending))
    step = max(1, model.chunk_size // max(1, params.n))
    chunks = [pending[start : start + step] for start in range(0, len(pending), step)]
    jobs = [
        ([GenerateRequest(first(r["messages"]), key=r["id"]) for r in chunk], [r["messages"] for r in chunk], layout,
         params, verdict_params)
        for chunk in chunks
    ]  # fmt: skip
    written = 0
    for i, groups in model.map_chunks(_reason_then_verdict_chunk, jobs):  # chunks in parallel on Ray workers
        chunk = chunks[i]
        recs = []
        for row, group in zip(chunk, groups, strict=True):
            for s, phases in enumerate(group):
                reason, verdict = phases.reason, phases.verdict
                meta: dict[str, Any] = {"phase": 1}
                if verdict is not None:
                    meta = {
                        "phase": 2,
                        "verdict": {
                            "text": verdict.text,
                            "finish_reason": verdict.finish_reason,
                            "prompt_tokens": verdict.prompt_tokens,
                            "completion_tokens": verdict.completion_tokens,
                            "error": verdict.error,
                        },
                    }
                recs.append(SampleRecord.of(row["id"], s, reason, meta))
        written += run.append(recs)
        run.advance(len(chunk))
    return written


def run_dpo_data(
    cfg: DPODataConfig, data: str, out: str | Path, progress: Progress = None, model: Model | None = None
) -> dict[str, Any]:
    """``model``: an already loaded policy (used as is, not closed); otherwise ``cfg.model`` is loaded once, when
    either journal has work left, and serves both."""
    marker = checkpoint_marker(cfg.model)
    layout = get_layout(marker["layout"]) if marker else None
    rows = read_dataset(data, PREPARED_FIELDS, "dpo-data")
    if cfg.limit is not None:
        rows = rows[: cfg.limit]
    out = Path(out)
    params = SamplingParams(
        max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p, n=cfg.k, seed=cfg.seed
    )
    verdict_params = SamplingParams(
        max_new_tokens=VERDICT_MAX_NEW_TOKENS, temperature=cfg.temperature, top_p=cfg.top_p, n=1, seed=cfg.seed
    )
    sampling, verdict_sampling = sampling_settings(params), sampling_settings(verdict_params)
    # The checkpoint's identity is its marker (recipe, data fingerprint, loss history): a retrained folder is new.
    policy = {
        "model": model_identity(cfg.model, cfg.model_options),
        "checkpoint": stable_hash(marker)[:16] if marker else None,
    }
    inputs = {"data": file_fingerprint(data)}
    section = {**model_section(cfg.model, cfg.model_options), "layout": layout.name if layout else None}
    spec = {
        "kind": "on-policy-reasons",
        "fingerprint": run_identity(
            "on-policy-reasons", **policy, sampling=sampling, verdict_sampling=verdict_sampling, inputs=inputs
        ),
        "policy": section,
        "checkpoint": policy["checkpoint"],
        "sampling": sampling,
        "verdict_sampling": verdict_sampling,
        "data": str(data),
        "inputs": inputs,
    }
    check_out(out / "samples", spec, "dpo-data", {"data": str(data)})
    score_inputs = {"samples": spec["fingerprint"]}
    score_spec: dict[str, Any] = {
        "kind": "on-policy-scores",
        "fingerprint": run_identity("on-policy-scores", **policy, inputs=score_inputs),
        "policy": section,
        "checkpoint": policy["checkpoint"],
        "inputs": score_inputs,
    }
    old = check_out(out / "scores", score_spec, "dpo-data", {"samples": str(out / "samples")})
    if old and old.get("layout"):
        score_spec["layout"] = old["layout"]
    elif layout is not None:
        score_spec["layout"] = layout.name
    run_args = {"model_spec": cfg.model, "model_options": cfg.model_options, "progress": progress}
    with Run(out / "samples", spec, model=model, **run_args) as srun:
        written = _two_phase(srun, rows, layout, params, verdict_params)
        samples = load_samples(srun.dir)
        records = [r for group in samples.values() for r in group]
        answers = [r["meta"]["verdict"] for r in records if r.get("meta", {}).get("verdict")]
        sample_stats = {
            "records": len(records),
            "written": written,
            "reused": len(records) - written,
            "finish_reasons": finish_counts(records),
            "dir": str(srun.dir),
        }
        fresh = {r["key"] for r in srun.records()} - {r["key"] for r in srun.existing}
        verdict_stats = {
            "records": len(answers),
            "written": sum(1 for r in records if r["key"] in fresh and r.get("meta", {}).get("verdict")),
            "reused": sum(1 for r in records if r["key"] not in fresh and r.get("meta", {}).get("verdict")),
            "finish_reasons": finish_counts(answers),
            "dir": str(srun.dir),
        }
        srun.finish(sampling=sample_stats, verdict_sampling=verdict_stats)
        items, sample_drops = candidates(rows, samples, layout, cfg.keep_truncated)
        verdicts = {sample_key(r["key"], 0): r["meta"]["verdict"] for r in records if r.get("meta", {}).get("verdict")}
        shared = srun.model if srun.model_loaded else model  # one model for both journals
        with Run(out / "scores", score_spec, model=shared, **run_args) as crun:
            scores = score_run(crun, items, layout.name if layout else "auto", True)
            score_layout = crun.spec.get("layout")
            crun.finish(scores=len(scores), items=len(items))
    pairs, stats = build_pairs(rows, items, scores, cfg, verdicts)
    stats.update(
        config=asdict(cfg),
        sampling=sample_stats,
        verdict_sampling=verdict_stats,
        samples_dropped=dict(sample_drops),
        layout=score_layout or (layout.name if layout else None),
    )
    write_jsonl(out / "dpo.jsonl", pairs)
    write_json(stats_path(out / "dpo.jsonl"), stats)
    return stats

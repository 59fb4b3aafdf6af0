"""`rrm-eval train dpo-data`: on-policy reasons from the SFT model, scored with R_score, paired by a named strategy.

1. Sample k reasons per judge prompt from the ReasonGenRM SFT checkpoint (seed 003: 16 samples, T = 1.0): phase 1 of
   the two-phase generation, the reason turn up to its end token. Journal ``<out>/samples``.
2. Phase 2: after each reason the model answers, sampled at the same temperature (journal ``<out>/verdicts``).
   A reason is *correct* when that answer is the target verdict (``correct_by="sampled"``: seed 003 judged the
   on-policy answers by text match; an answer with no ``[[A]]``/``[[B]]`` drops the sample), or, with
   ``correct_by="preferred"``, when the model gives the target verdict a higher P(A|U,R) than the flipped one.
3. Score each with the same model (journal ``<out>/scores``): P(R|U), P(A|U,R) for the target verdict and for the
   flipped one; R_score = (2 P(A|U,R) - 1) P(R|U) if P(A|U,R) >= P(R|U) else -P(R|U).
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

from rrm_eval._errors import RRMError, UnknownNameError
from rrm_eval._seeding import stable_hash, stable_rng
from rrm_eval.judges import PARSERS
from rrm_eval.models import Model, SamplingParams, load_model
from rrm_eval.runs import load_records

from ._checkpoint import read_marker
from ._io import read_dataset, stats_path, write_json, write_jsonl
from ._layout import get_layout
from ._reasons import PREPARED_FIELDS
from ._sampling import Progress, all_sampled, load_samples, run_sampling, sample_key
from ._scoring import FLIPPED, VERDICT_SPANS, answer_p, r_score
from ._select import candidates, score_journal

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
VERDICT_MAX_NEW_TOKENS = 16


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
        if self.k < 2:
            raise RRMError(f"--k must be at least 2 to find a correct and an incorrect reason, got {self.k}")


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


def run_dpo_data(cfg: DPODataConfig, data: str, out: str | Path, progress: Progress = None) -> dict[str, Any]:
    marker = read_marker(cfg.model, want="reason")
    layout = get_layout(marker["layout"])
    rows = read_dataset(data, PREPARED_FIELDS, "dpo-data")
    if cfg.limit is not None:
        rows = rows[: cfg.limit]
    out = Path(out)
    params = SamplingParams(
        max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p, n=cfg.k, seed=cfg.seed
    )
    sampling = {k: v for k, v in asdict(params).items() if k != "stop"}
    # The checkpoint's identity is its marker (recipe, data fingerprint, loss history): a retrained folder is new.
    model_key = [cfg.model, sorted(cfg.model_options.items()), stable_hash(marker)]
    spec = {
        "kind": "on-policy-reasons",
        "fingerprint": stable_hash(model_key, sampling)[:12],
        "policy": {"spec": cfg.model, "options": cfg.model_options, "layout": layout.name},
        "sampling": sampling,
        "data": str(data),
    }
    prompts = [(r["id"], layout.reason_prompt(r["messages"])) for r in rows]
    # One model for both phases; loaded only when the sample journal has work left (scoring loads its own if needed).
    model: Model | None = None
    if not all_sampled(out / "samples", [r["id"] for r in rows], cfg.k):
        model = load_model(cfg.model, **cfg.model_options)
    try:
        sample_stats = run_sampling(
            out / "samples", spec, prompts, params, cfg.model, cfg.model_options, progress, model=model
        )
        samples = load_samples(out / "samples")
        items, sample_drops = candidates(rows, samples, layout, cfg.keep_truncated)
        verdict_params = SamplingParams(
            max_new_tokens=VERDICT_MAX_NEW_TOKENS, temperature=cfg.temperature, top_p=cfg.top_p, n=1, seed=cfg.seed
        )
        verdict_spec = dict(spec, kind="on-policy-verdicts", fingerprint=stable_hash(model_key, sampling, "v")[:12])
        verdict_prompts = [(it["key"], layout.verdict_prompt(it["messages"], it["reason"])) for it in items]
        verdict_stats = run_sampling(
            out / "verdicts", verdict_spec, verdict_prompts, verdict_params, cfg.model, cfg.model_options, progress,
            model=model,
        )  # fmt: skip
        verdicts = {r["key"]: r for r in load_records(out / "verdicts" / "records.jsonl")}
        score_spec = {
            "kind": "on-policy-scores",
            "fingerprint": stable_hash(model_key, "scores")[:12],
            "policy": spec["policy"],
        }
        scores = score_journal(
            out / "scores", score_spec, items, cfg.model, cfg.model_options, layout.name, True, progress, model=model
        )
    finally:
        if model is not None:
            model.close()
    pairs, stats = build_pairs(rows, items, scores, cfg, verdicts)
    stats.update(
        config=asdict(cfg),
        sampling=sample_stats,
        verdict_sampling=verdict_stats,
        samples_dropped=dict(sample_drops),
        layout=layout.name,
    )
    write_jsonl(out / "dpo.jsonl", pairs)
    write_json(stats_path(out / "dpo.jsonl"), stats)
    return stats

"""`rrm-eval train score-reasons`: the student scores every teacher reason, R* is selected, SFT rows are written.

Layout of ``<out>/``: ``records.jsonl`` + ``spec.json`` (the resumable score journal, a :class:`rrm_eval.runs.Run`:
one dict record per reason, keyed ``<row id>|<sample>``, with P(R|U) and both verdict-span variants of P(A|U,R)),
``run_stats.json``, ``sft.jsonl`` (one row per kept prompt: judge messages, R*, verdict) and ``sft.stats.json``
(kept/dropped counts, formula, threshold, verdict span). Changing only the formula, threshold, verdict span or
``--keep-truncated`` re-selects from the journal without scoring again (and without loading the student).

The journal's fingerprint covers the student (:func:`~rrm_eval.runs.model_identity`), the chat layout asked for, and
the content of both inputs: the prepared data file and the reasons journal's ``records.jsonl``. Regenerated reasons
(another seed, a larger ``--limit``) or edited data are new inputs: the step refuses the old ``--out`` rather than
mixing scores of two reason sets.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError, UnknownNameError
from rrm_eval.models import Model
from rrm_eval.runs import RECORDS, SPEC, Run, file_fingerprint, model_identity, model_section, run_identity, sample_key

from ._io import read_dataset, stats_path, write_json, write_jsonl
from ._journals import Progress, check_out, load_samples
from ._layout import ChatLayout, get_layout, layout_for_rendered
from ._reasons import PREPARED_FIELDS, check_finite
from ._scoring import (
    DEFAULT_THRESHOLD,
    FORMULAS,
    VERDICT_SPANS,
    answer_p,
    sample_problem,
    score_reasons,
)


@dataclass(frozen=True)
class SelectConfig:
    student: str
    model_options: dict[str, Any] = field(default_factory=dict)
    template: str = "auto"
    formula: str = "released"
    threshold: float | None = None
    use_default_threshold: bool = True  # threshold None + this False = no cut at all
    verdict_span: str = "full"
    keep_truncated: bool = False

    def __post_init__(self) -> None:
        if self.formula not in FORMULAS:
            raise UnknownNameError("selection formula", self.formula, FORMULAS)
        if self.verdict_span not in VERDICT_SPANS:
            raise UnknownNameError("verdict span", self.verdict_span, VERDICT_SPANS)
        check_finite("--threshold", self.threshold)

    @property
    def cut(self) -> float | None:
        if self.threshold is not None:
            return self.threshold
        return DEFAULT_THRESHOLD[self.formula] if self.use_default_threshold else None


def resolve_layout(model: Model, name: str) -> ChatLayout:
    """The named layout, or the one the model's own chat template uses (``auto``)."""
    if name != "auto":
        return get_layout(name)
    try:
        text = model.render([{"role": "user", "content": "x"}])
    except RRMError as exc:
        raise RRMError(
            f"cannot tell the chat layout of {model.spec}: {exc.message}",
            hint="pass --template chatml (Qwen2/SmolLM) or --template llama3",
        ) from exc
    layout = layout_for_rendered(text)
    if layout is None:
        raise RRMError(
            f"the chat template of {model.spec} is neither ChatML nor Llama-3", hint="pass --template chatml|llama3"
        )
    return layout


def candidates(
    rows: list[dict[str, Any]], samples: dict[str, list[dict[str, Any]]], layout_check: ChatLayout | None, keep: bool
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Scorable reasons of every row, and the per-sample drop counts. ``layout_check`` None = check both layouts'
    special tokens (before the student's layout is known)."""
    from ._layout import LAYOUTS

    dropped: Counter[str] = Counter()
    items = []
    layouts = [layout_check] if layout_check else list(LAYOUTS.values())
    for row in rows:
        for rec in samples.get(row["id"], []):
            problem = next((p for lay in layouts if (p := sample_problem(rec, lay, keep))), None)
            if problem:
                dropped[problem] += 1
                continue
            items.append(
                {
                    "key": sample_key(row["id"], rec["sample"]),
                    "id": row["id"],
                    "sample": rec["sample"],
                    "messages": row["messages"],
                    "reason": rec["text"].strip(),
                    "target": row["target"],
                }
            )
    return items, dropped


def score_run(run: Run, items: list[dict[str, Any]], template: str, with_flipped: bool) -> dict[str, dict[str, Any]]:
    """Score the items ``run`` has not saved (loading its model only then); return every score record by key.
    The layout the scores were made in is kept in ``run.spec["layout"]`` (and spec.json)."""
    pending = [it for it in items if not run.saved(it["key"])]
    if pending:
        model = run.model
        layout = resolve_layout(model, template)
        run.spec["layout"] = layout.name
        run.write(SPEC, run.spec)
        run.start_progress(len(items), len(items) - len(pending))
        for recs in score_reasons(model, layout, pending, with_flipped):
            run.append(recs)
            run.advance(len(recs))
    return {r["key"]: r for r in run.records()}


def run_score_reasons(
    cfg: SelectConfig,
    data: str,
    reasons: str,
    out: str | Path,
    progress: Progress = None,
    model: Model | None = None,
) -> dict[str, Any]:
    """``model``: an already loaded student (used as is, not closed); otherwise ``cfg.student`` is loaded when a
    reason is left to score."""
    rows = read_dataset(data, PREPARED_FIELDS, "score-reasons")
    reasons_dir = Path(reasons)
    if not (reasons_dir / RECORDS).is_file():
        raise RRMError(
            f"{reasons} holds no reasons (records.jsonl)", hint="run `rrm-eval train generate-reasons` first"
        )
    samples = load_samples(reasons_dir)
    layout = get_layout(cfg.template) if cfg.template != "auto" else None
    items, sample_drops = candidates(rows, samples, layout, cfg.keep_truncated)
    out = Path(out)
    inputs = {"data": file_fingerprint(data), "reasons": file_fingerprint(reasons_dir)}
    spec: dict[str, Any] = {
        "kind": "student-scores",
        "fingerprint": run_identity(
            "student-scores",
            model=model_identity(cfg.student, cfg.model_options),
            template=cfg.template,
            inputs=inputs,
        ),
        "student": model_section(cfg.student, cfg.model_options),
        "template": cfg.template,
        "data": str(data),
        "reasons": str(reasons_dir),
        "inputs": inputs,
    }
    old = check_out(out, spec, "score-reasons", {"data": str(data), "reasons": str(reasons_dir / RECORDS)})
    if old and old.get("layout"):
        spec["layout"] = old["layout"]  # the layout the saved scores were made in (auto: read from the student)
    elif layout is not None:
        spec["layout"] = layout.name
    with Run(out, spec, model_spec=cfg.student, model_options=cfg.model_options, model=model, progress=progress) as run:
        scores = score_run(run, items, cfg.template, False)
        sft_rows, stats = select_rows(rows, items, scores, cfg)
        stats.update(samples_dropped=dict(sample_drops), reasons=str(reasons_dir), student=cfg.student, data=str(data))
        stats["layout"] = run.spec.get("layout")
        run.finish(scores=len(scores), items=len(items))
    write_jsonl(out / "sft.jsonl", sft_rows)
    write_json(stats_path(out / "sft.jsonl"), stats)
    return stats


def select_rows(
    rows: list[dict[str, Any]], items: list[dict[str, Any]], scores: dict[str, dict[str, Any]], cfg: SelectConfig
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    formula = FORMULAS[cfg.formula]
    by_row: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        by_row.setdefault(it["id"], []).append(it)
    dropped: Counter[str] = Counter()
    score_errors = 0
    out = []
    for row in rows:
        best: tuple[float, dict[str, Any], dict[str, Any]] | None = None
        for it in by_row.get(row["id"], []):
            rec = scores.get(it["key"])
            if rec is None or rec.get("error"):
                score_errors += 1
                continue
            value = formula(answer_p(rec, cfg.verdict_span), rec["p_reason"])
            if best is None or value > best[0]:  # ties keep the lowest sample index
                best = (value, it, rec)
        if best is None:
            dropped["no_valid_reason"] += 1
            continue
        value, it, rec = best
        if cfg.cut is not None and value <= cfg.cut:
            dropped["below_threshold"] += 1
            continue
        out.append(
            {
                "id": row["id"],
                "pair_id": row.get("pair_id"),
                "order": row.get("order"),
                "messages": row["messages"],
                "reason": it["reason"],
                "response": row["target"],
                "sample": it["sample"],
                "score": value,
                "p_reason": rec["p_reason"],
                "p_answer": answer_p(rec, cfg.verdict_span),
            }
        )
    stats = {
        "rows_in": len(rows),
        "rows_kept": len(out),
        "rows_dropped": dict(dropped),
        "reasons_scored": len(items) - score_errors,
        "score_errors": score_errors,
        "selection": {**asdict(cfg), "threshold_applied": cfg.cut},
        "unique_reasons": len({r["reason"] for r in out}),
    }
    return out, stats

"""Resumable sampling of k texts per prompt into a run journal (teacher reasons, on-policy reasons).

Records are keyed ``<row id>|<sample>`` and appended chunk by chunk (``Model.iter_generate``), so a killed run keeps
every finished chunk and the same command resumes it; ``spec.json`` holds the settings and a fingerprint that a
resume must match.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rrm_eval.models import GenerateRequest, Model, SamplingParams, load_model
from rrm_eval.runs import RunJournal, load_records, provenance

Progress = Callable[[int, int], Callable[[int], None]] | None


def sample_key(row_id: str, sample: int) -> str:
    return f"{row_id}|{sample}"


def run_sampling(
    out: Path,
    spec: dict[str, Any],
    prompts: list[tuple[str, str]],
    params: SamplingParams,
    model_spec: str,
    model_options: dict[str, Any],
    progress: Progress = None,
    model: Model | None = None,
) -> dict[str, Any]:
    """Sample ``params.n`` completions for every ``(row id, prompt text)`` not yet in the journal at ``out``."""
    journal = RunJournal(out)
    try:
        existing = journal.open({**spec, "provenance": provenance()})
        done = {r["key"] for r in existing}
        pending = [(rid, p) for rid, p in prompts if not all(sample_key(rid, s) in done for s in range(params.n))]
        written = 0
        if pending:
            own = model is None
            model = model or load_model(model_spec, **model_options)
            try:
                advance = progress(len(prompts), len(prompts) - len(pending)) if progress else None
                requests = [GenerateRequest(p, key=rid) for rid, p in pending]
                for start, groups in model.iter_generate(requests, params):
                    recs = []
                    for j, group in enumerate(groups):
                        rid = pending[start + j][0]
                        for s, c in enumerate(group):
                            if sample_key(rid, s) in done:
                                continue
                            recs.append(
                                {
                                    "key": sample_key(rid, s),
                                    "id": rid,
                                    "sample": s,
                                    "text": c.text,
                                    "finish_reason": c.finish_reason,
                                    "prompt_tokens": c.prompt_tokens,
                                    "completion_tokens": c.completion_tokens,
                                    "error": c.error,
                                }
                            )
                    written += journal.append(recs)
                    if advance:
                        advance(len(groups))
                journal.write("model.json", {**model.describe(), "usage": model.usage.as_dict()})
            finally:
                if own:
                    model.close()
        records = load_records(journal.records_path)
        finish = Counter(r["finish_reason"] for r in records)
        return {
            "records": len(records),
            "written": written,
            "reused": len(records) - written,
            "finish_reasons": dict(finish),
            "dir": str(out),
        }
    finally:
        journal.close()


def all_sampled(out: Path, row_ids: list[str], k: int) -> bool:
    """Whether the journal at ``out`` already holds k samples of every row (then no model needs loading)."""
    done = {r["key"] for r in load_records(Path(out) / "records.jsonl")}
    return all(sample_key(rid, s) in done for rid in row_ids for s in range(k))


def load_samples(out: Path) -> dict[str, list[dict[str, Any]]]:
    """row id -> its sample records, by sample index."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for r in load_records(Path(out) / "records.jsonl"):
        grouped.setdefault(r["id"], []).append(r)
    for group in grouped.values():
        group.sort(key=lambda r: r["sample"])
    return grouped

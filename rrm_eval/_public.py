"""Public helpers over run directories: re-score any run, read its records back as typed objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rrm_eval.pipelines import accuracy_results, rescore_run, rival_results, run_spec
from rrm_eval.runs import RECORDS, AdvanceRecord, JudgeRecord, SampleRecord, load_records

_RECORD_TYPES: dict[str, type[JudgeRecord] | type[SampleRecord] | type[AdvanceRecord]] = {
    "judge": JudgeRecord,
    "sample": SampleRecord,
    "advance": AdvanceRecord,
}
#: What a line without a ``kind`` field is, by the kind of run (journals made before records carried one).
_DEFAULT_KIND = {"pairwise": "judge", "tournament": "judge", "candidates": "sample"}


def load_run_records(run_dir: str | Path, kind: str | None = None) -> list[JudgeRecord | SampleRecord | AdvanceRecord]:
    """A run's records as typed objects (first of each key, file order); ``kind`` keeps one kind of record."""
    spec = run_spec(run_dir)
    default = _DEFAULT_KIND.get(str(spec["kind"]), "judge")
    out: list[JudgeRecord | SampleRecord | AdvanceRecord] = []
    for raw in load_records(Path(run_dir) / RECORDS, kind=kind):
        rec_kind = raw.get("kind", default)
        out.append(_RECORD_TYPES[rec_kind].from_dict({**raw, "kind": rec_kind}))
    return out


def rescore(
    run_dir: str | Path, parser: str | None = None, failure_policy: str | None = None, verdict_policy: str | None = None
) -> dict[str, Any]:
    """Re-score a run from its records alone: a pairwise run's summary (optionally re-parsed with another parser,
    under another failure policy), or a tournament's ratings and best-of-N accuracy (under another verdict
    policy). Writes nothing into the run except, for tournaments, its rival table and accuracy file."""
    spec = run_spec(run_dir)
    if spec["kind"] == "tournament":
        rival_results(run_dir)
        return accuracy_results(run_dir, policy=verdict_policy)
    return rescore_run(run_dir, parser, failure_policy)


__all__ = ["load_run_records", "rescore"]

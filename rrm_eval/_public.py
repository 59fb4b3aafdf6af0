"""Public helpers over run directories: re-score any run, read its records back as typed objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.pipelines import accuracy_results, rescore_run, rival_results, run_spec
from rrm_eval.runs import RECORDS, AdvanceRecord, JudgeRecord, SampleRecord, load_records

_RECORD_TYPES: dict[str, type[JudgeRecord] | type[SampleRecord] | type[AdvanceRecord]] = {
    "judge": JudgeRecord,
    "sample": SampleRecord,
    "advance": AdvanceRecord,
}
#: What a line without a ``kind`` field is, by the kind of run (journals made before records carried one).
_DEFAULT_KIND = {"pairwise": "judge", "tournament": "judge", "candidates": "sample", "bestof": "judge"}


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
    """Re-score a run from its records alone, by the run's kind: a pairwise run's summary (optionally re-parsed with
    another parser, under another failure policy), a best-of-N (RewardBench 2) run's summary with its intervals
    (under another failure policy), or a tournament's ratings and best-of-N accuracy (under another verdict policy).
    Writes nothing into the run except, for tournaments, its rival table and accuracy file."""
    spec = run_spec(run_dir)
    kind = spec["kind"]
    if kind == "tournament":
        if parser or failure_policy:
            raise RRMError(
                "a parser and a failure policy apply to pairwise and bestof runs; this is a tournament run",
                hint="use verdict_policy (--verdict-policy coin|draw|drop)",
            )
        rival_results(run_dir)
        return accuracy_results(run_dir, policy=verdict_policy)
    if kind == "bestof":
        if parser or verdict_policy:
            raise RRMError(
                "a bestof run is re-scored from its recorded verdicts: re-parsing and verdict policies do not apply",
                hint="use failure_policy (--failure-policy tie|wrong)",
            )
        from rrm_eval.pipelines.bestof import rescore_bestof

        return rescore_bestof(run_dir, failure_policy)
    if kind != "pairwise":
        raise RRMError(
            f"{run_dir} is a {kind} run: it has no scores to recompute",
            hint="give a pairwise, bestof or tournament run",
        )
    if verdict_policy:
        raise RRMError("a verdict policy applies to tournament runs", hint="use failure_policy (--failure-policy)")
    return rescore_run(run_dir, parser, failure_policy)


__all__ = ["load_run_records", "rescore"]

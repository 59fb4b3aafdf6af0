"""Run journals and the run lifecycle: identity, resolved spec, append-only typed records, summaries."""

from rrm_eval.runs._identity import (
    EXECUTION_ONLY,
    IDENTITY_VERSION,
    check_resumable,
    file_fingerprint,
    model_identity,
    run_identity,
)
from rrm_eval.runs._journal import RECORDS, SPEC, SUMMARY, RunJournal, load_records, read_json, retryable, write_json
from rrm_eval.runs._provenance import provenance
from rrm_eval.runs._records import AdvanceRecord, JudgeRecord, SampleRecord, advance_key, record_key, sample_key
from rrm_eval.runs._run import STATS, ProgressFactory, Prompt, Run, model_section, sample_k

__all__ = [
    "EXECUTION_ONLY",
    "IDENTITY_VERSION",
    "RECORDS",
    "SPEC",
    "STATS",
    "SUMMARY",
    "AdvanceRecord",
    "JudgeRecord",
    "ProgressFactory",
    "Prompt",
    "Run",
    "RunJournal",
    "SampleRecord",
    "advance_key",
    "check_resumable",
    "file_fingerprint",
    "load_records",
    "model_identity",
    "model_section",
    "provenance",
    "read_json",
    "record_key",
    "retryable",
    "run_identity",
    "sample_k",
    "sample_key",
    "write_json",
]

"""Run journals: resolved spec, append-only judge records, summaries."""

from rrm_eval.runs._journal import RECORDS, SPEC, SUMMARY, RunJournal, load_records, read_json, write_json
from rrm_eval.runs._provenance import provenance
from rrm_eval.runs._records import JudgeRecord, record_key

__all__ = [
    "RECORDS",
    "SPEC",
    "SUMMARY",
    "JudgeRecord",
    "RunJournal",
    "load_records",
    "provenance",
    "read_json",
    "record_key",
    "write_json",
]

"""The journal keeps every finished record: torn lines are cut, duplicates ignored, writers exclusive."""

from __future__ import annotations

import json

import pytest

from rrm_eval._errors import RRMError
from rrm_eval.runs import IDENTITY_VERSION, RunJournal, load_records


def test_torn_last_line_is_dropped_and_repaired(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text('{"key": "a"}\n{"key": "b"}\n{"key": "c", "raw": "hal', encoding="utf-8")
    assert [r["key"] for r in load_records(path)] == ["a", "b"]
    assert [r["key"] for r in load_records(path, repair=True)] == ["a", "b"]
    assert path.read_text(encoding="utf-8").endswith('"b"}\n')


def test_corrupt_line_in_the_middle_is_an_error(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text('{"key": "a"}\nnot json\n{"key": "b"}\n', encoding="utf-8")
    with pytest.raises(RRMError, match="corrupt record"):
        load_records(path)


def test_duplicate_keys_keep_the_first(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text('{"key": "a", "v": 1}\n{"key": "a", "v": 2}\n', encoding="utf-8")
    assert load_records(path) == [{"key": "a", "v": 1}]


def test_resume_requires_same_fingerprint(tmp_path):
    spec = {"fingerprint": "x", "identity_version": IDENTITY_VERSION}
    j = RunJournal(tmp_path / "run")
    j.open(spec)
    j.append([{"key": "k1"}])
    j.close()
    j2 = RunJournal(tmp_path / "run")
    assert j2.open(spec) == [{"key": "k1"}]
    j2.close()
    with pytest.raises(RRMError, match="different settings"):
        RunJournal(tmp_path / "run").open({**spec, "fingerprint": "y"})
    old = RunJournal(tmp_path / "old")  # a journal from before run identities: its spec has no identity_version
    old.open({"fingerprint": "x"})
    old.close()
    with pytest.raises(RRMError, match="earlier rrm-eval"):
        RunJournal(tmp_path / "old").open(spec)


def test_second_writer_is_refused(tmp_path):
    j = RunJournal(tmp_path / "run")
    j.open({"fingerprint": "x"})
    with pytest.raises(RRMError, match="another rrm-eval process"):
        RunJournal(tmp_path / "run").open({"fingerprint": "x"})
    j.close()


def test_append_writes_one_line_per_record(tmp_path):
    j = RunJournal(tmp_path / "run")
    j.open({"fingerprint": "x"})
    j.append([{"key": "a", "raw": "line\nbreak"}, {"key": "b"}])
    lines = (tmp_path / "run" / "records.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["key"] for x in lines] == ["a", "b"]
    j.close()


def test_bulky_fields_can_be_left_out(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text('{"key": "a", "prompt": "long", "raw": "longer", "verdict": 1}\n', encoding="utf-8")
    assert load_records(path, drop=("prompt", "raw")) == [{"key": "a", "verdict": 1}]


def test_a_failed_attempt_is_superseded_in_place_and_nothing_else_is(tmp_path):
    path = tmp_path / "records.jsonl"
    lines = [
        {"key": "k1", "kind": "judge", "failure": "backend_error", "verdict": None},
        {"key": "k2", "kind": "judge", "failure": None, "verdict": 1},
        {"key": "k1", "kind": "judge", "failure": None, "verdict": 2},  # the retry of k1
        {"key": "k2", "kind": "judge", "failure": None, "verdict": 2},  # a duplicate of a good record: ignored
        {"key": "k3", "kind": "sample", "finish_reason": "error", "text": ""},
        {"key": "k3", "kind": "sample", "finish_reason": "stop", "text": "ok"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    recs = load_records(path)
    assert [(r["key"], r.get("verdict", r.get("text"))) for r in recs] == [("k1", 2), ("k2", 1), ("k3", "ok")]
    assert [r["key"] for r in load_records(path, kind="sample")] == ["k3"]

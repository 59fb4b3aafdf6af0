"""Property tests: whatever bytes or values a user hands the loaders, they return valid rows / a valid Judge or raise
RRMError -- never another exception (which the CLI would show as a traceback)."""

from __future__ import annotations

import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rrm_eval._errors import RRMError
from rrm_eval.judges import JUDGE_MODE_NAMES, PLACEHOLDERS, Judge, load_judge
from rrm_eval.tasks import read_rows

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _write(suffix: str, data: bytes) -> Path:
    # hypothesis forbids function-scoped fixtures such as tmp_path inside @given; one temp folder per example
    folder = Path(tempfile.mkdtemp(prefix="rrm-prop-"))
    path = folder / f"data{suffix}"
    path.write_bytes(data)
    return path


def _check_rows(path: Path) -> None:
    try:
        rows = read_rows(path)
    except RRMError as exc:
        assert exc.hint, f"no hint for {exc.message!r}"
        assert path.name in exc.message
        return
    assert isinstance(rows, list) and rows, "an empty list must be an error, not rows"
    assert all(isinstance(r, dict) and all(isinstance(k, str) for k in r) for r in rows)


@SETTINGS
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".json", ".jsonl", ".parquet"]))
def test_read_rows_arbitrary_bytes(data, suffix):
    _check_rows(_write(suffix, data))


@SETTINGS
@given(
    value=json_values,
    suffix=st.sampled_from([".json", ".jsonl"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]),
)
def test_read_rows_arbitrary_json(value, suffix, encoding):
    text = json.dumps(value, ensure_ascii=False)
    if suffix == ".jsonl" and isinstance(value, list):
        text = "\n".join(json.dumps(v, ensure_ascii=False) for v in value)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    _check_rows(_write(suffix, data))


@SETTINGS
@given(value=json_values)
def test_valid_list_of_objects_round_trips(value):
    rows = value if isinstance(value, list) and value and all(isinstance(v, dict) for v in value) else [{"v": value}]
    path = _write(".jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    assert read_rows(path) == rows


@SETTINGS
@given(rows=st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers() | st.text()), max_size=5))
def test_read_rows_parquet_files(rows):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return  # pyarrow cannot even write mixed-type columns; nothing to read
    buf = io.BytesIO()
    pq.write_table(table, buf)
    data = buf.getvalue()
    _check_rows(_write(".parquet", data))
    _check_rows(_write(".parquet", data[: len(data) // 2]))


# -- judge files ---------------------------------------------------------------------------------------------------

toml_scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=30)
    | st.sampled_from(["{question}", "{answer_1} {answer_2}", "{x}", "{{", "}", *JUDGE_MODE_NAMES, "bracket_ab"])
)
toml_values = toml_scalars | st.lists(toml_scalars, max_size=3) | st.dictionaries(st.text(max_size=5), toml_scalars)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string (for the BMP without surrogates)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def _check_judge(path: Path) -> None:
    try:
        j = load_judge(str(path))
    except RRMError as exc:
        assert exc.hint is None or isinstance(exc.hint, str)
        return
    assert isinstance(j, Judge)
    assert j.mode in JUDGE_MODE_NAMES and isinstance(j.name, str) and j.name.strip()
    assert len(j.labels) == 2 and len(set(j.labels)) == 2
    assert j.sampling.temperature >= 0 and 0 < j.sampling.top_p <= 1 and j.sampling.max_new_tokens >= 1
    content = j.messages("QQ", "AA1", "AA2")[-1]["content"]
    assert "AA1" in content and "AA2" in content
    assert j.fingerprint and j.describe()


BASE = {
    "name": "p",
    "parser": "bracket_ab",
    "user": "{question} {answer_1} {answer_2}",
}


@SETTINGS
@given(
    key=st.sampled_from(["name", "description", "mode", "parser", "labels", "system", "user", "prompt_from", "x"]),
    value=toml_values,
)
def test_judge_arbitrary_top_level_value(key, value):
    body = {**BASE, key: value}
    text = "\n".join(f"{k} = {_toml_value(v)}" for k, v in body.items())
    _check_judge(_write(".toml", text.encode("utf-8", "surrogatepass")))


@SETTINGS
@given(
    key=st.sampled_from(["temperature", "top_p", "max_new_tokens", "seed"]),
    value=toml_values,
    as_table=st.booleans(),
)
def test_judge_arbitrary_sampling_value(key, value, as_table):
    head = "\n".join(f"{k} = {_toml_value(v)}" for k, v in BASE.items())
    tail = f"[sampling]\n{key} = {_toml_value(value)}" if as_table else f"sampling = {_toml_value(value)}"
    _check_judge(_write(".toml", f"{head}\n{tail}\n".encode("utf-8", "surrogatepass")))


@SETTINGS
@given(template=st.lists(st.sampled_from([*"{}_ ab\n", *(f"{{{p}}}" for p in PLACEHOLDERS)]), max_size=20).map("".join))
def test_judge_arbitrary_template(template):
    text = f"name = 'p'\nparser = 'boxed'\nuser = {json.dumps(template)}\n"
    _check_judge(_write(".toml", text.encode()))


@SETTINGS
@given(text=st.text(max_size=200) | st.binary(max_size=200))
def test_judge_arbitrary_text(text):
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    _check_judge(_write(".toml", data))

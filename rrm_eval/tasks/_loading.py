"""Reading rows from local files (json, jsonl, parquet) or the Hugging Face hub, with row-level validation.

:func:`read_rows` returns a list of row objects or raises :class:`RRMError` naming the file (and the line, index,
column or byte offset) — never a bare ``UnicodeDecodeError`` / ``ArrowInvalid`` traceback, and never a half-read
list that would be scored as if it were the data. Accepted encodings: UTF-8, UTF-8 with a BOM, and UTF-16 with a
BOM (what Windows editors and Excel write); anything else is refused rather than guessed.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rrm_eval._errors import DataError, RRMError, kind_of, require
from rrm_eval._seeding import stable_hash

Row = dict[str, Any]

_REENCODE = "re-save the file as UTF-8 (e.g. `iconv -f <its encoding> -t UTF-8 in > out`)"
_JSON_FORMS = 'a JSON list of row objects, {"rows": [...]}, or columns {"col": [v1, v2, ...]} of equal length'


def read_rows(path: str | Path, *, allow_empty: bool = False) -> list[Row]:
    """All rows of a local .jsonl / .json / .parquet file, each a ``dict`` keyed by column name.

    An empty file (no rows) is an error unless ``allow_empty``: a run over zero rows would report a score of
    nothing as if it were a result."""
    p = Path(path)
    try:
        is_dir, is_file = p.is_dir(), p.is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL byte: no such file either way
        is_dir = is_file = False
    if is_dir:
        raise RRMError(
            f"data file {str(path)!r} is a directory", hint="pass the path of a .jsonl, .json or .parquet file"
        )
    if not is_file:
        raise RRMError(f"data file {str(path)!r} does not exist", hint="check the path, or omit --data to use the hub")
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(p, _read_text(p))
    elif suffix == ".json":
        rows = _json_rows(p, _read_text(p))
    elif suffix == ".parquet":
        rows = _parquet_rows(p)
    else:
        shown = "".join(p.suffixes[-2:]) or "(none)"
        raise RRMError(f"{p}: unsupported file type {shown!r}", hint="use .jsonl, .json or .parquet")
    if not rows and not allow_empty:
        raise RRMError(
            f"{p}: the file holds no rows", hint="check that it is the right file and that it was fully written"
        )
    return rows


def _read_text(p: Path) -> str:
    """The file's text. BOMs decide UTF-8-sig / UTF-16; otherwise strict UTF-8, so a Latin-1 or cp1252 file is
    refused with the offset of its first bad byte instead of being read as mojibake."""
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise RRMError(f"{p}: cannot read the file ({exc.strerror or exc})", hint="check its permissions") from exc
    if data.startswith(codecs.BOM_UTF8):
        encoding, body = "utf-8", data[len(codecs.BOM_UTF8) :]
        offset = len(codecs.BOM_UTF8)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16-le" if data.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        body, offset = data[2:], 2
    else:
        encoding, body, offset = "utf-8", data, 0
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        label = "UTF-8" if encoding == "utf-8" else "UTF-16 (it starts with a UTF-16 byte-order mark)"
        raise RRMError(
            f"{p}: not valid {label}: bad byte(s) at byte offset {exc.start + offset} ({exc.reason})",
            hint=_REENCODE,
        ) from exc


def _loads(text: str) -> Any:
    """``json.loads`` whose every failure is a ``ValueError``: deep nesting raises RecursionError and huge integer
    literals a plain ValueError (Python's int-digits limit), neither of them a JSONDecodeError."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def _kind(value: Any) -> str:
    return kind_of(value)


def _json_rows(p: Path, text: str) -> list[Row]:
    if not text.strip():
        raise RRMError(f"{p}: the file is empty", hint=f"a .json data file holds {_JSON_FORMS}")
    try:
        data = _loads(text)
    except ValueError as exc:
        raise RRMError(
            f"{p}: not valid JSON ({exc})", hint="fix the file, or save it as one JSON object per line (.jsonl)"
        ) from exc
    if isinstance(data, dict):
        if "rows" in data:  # {"rows": [...]}, the wrapper some exporters write
            data = data["rows"]
            if not isinstance(data, list):
                raise RRMError(f"{p}: 'rows' is {_kind(data)}, not a list of row objects", hint=f"write {_JSON_FORMS}")
        else:
            return _columns_to_rows(p, data)
    if not isinstance(data, list):
        raise RRMError(f"{p}: the file holds {_kind(data)}, not a list of rows", hint=f"write {_JSON_FORMS}")
    for n, row in enumerate(data):
        if not isinstance(row, dict):
            raise RRMError(
                f"{p}: row {n} (index {n} of the list) is {_kind(row)}, not an object",
                hint='every row must be an object such as {"id": ..., "prompt": ...}',
            )
    return data


def _columns_to_rows(p: Path, columns: dict[str, Any]) -> list[Row]:
    """Column-oriented JSON ``{"col": [v1, v2, ...], ...}`` (pandas ``to_json(orient="list")``) as rows. Unequal
    lengths are refused, not truncated to the shortest column: zip would silently drop the tail."""
    lengths: dict[str, int] = {}
    for name, values in columns.items():
        if not isinstance(values, list):
            raise RRMError(
                f"{p}: column {name!r} is {_kind(values)}, not a list of values",
                hint=f"a .json data file holds {_JSON_FORMS}",
            )
        lengths[name] = len(values)
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k!r}: {v}" for k, v in lengths.items())
        raise RRMError(f"{p}: columns have unequal lengths ({shown})", hint="every column must hold one value per row")
    n_rows = next(iter(lengths.values()), 0)
    return [{name: values[i] for name, values in columns.items()} for i in range(n_rows)]


def _jsonl_rows(p: Path, text: str) -> list[Row]:
    rows: list[Row] = []
    # split("\n"), not splitlines(): U+2028 and friends are legal unescaped inside JSON strings.
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = _loads(line)
        except ValueError as exc:
            raise RRMError(f"{p}: line {lineno} is not valid JSON ({exc})", hint="fix or delete that line") from exc
        if not isinstance(row, dict):
            raise RRMError(
                f"{p}: line {lineno} is {_kind(row)}, not a JSON object",
                hint='a .jsonl file holds one object per line, such as {"id": ..., "prompt": ...}',
            )
        rows.append(row)
    return rows


def _parquet_rows(p: Path) -> list[Row]:
    pa = require("pyarrow", "", "reading parquet files")
    pq = require("pyarrow.parquet", "", "reading parquet files")
    try:
        rows: list[Row] = pq.read_table(p).to_pylist()
    except (pa.ArrowException, OSError, ValueError) as exc:  # ArrowInvalid / ArrowIOError / not-implemented types
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise RRMError(
            f"{p}: cannot read it as parquet ({type(exc).__name__}: {first})",
            hint="check that it really is a parquet file (not JSON or CSV renamed .parquet) and that it was fully "
            "written; re-export it, or save it as .jsonl",
        ) from exc
    return rows


def load_hub(name: str, split: str) -> list[Row]:
    datasets = require("datasets", "", f"loading {name} from the hub")
    try:
        return list(datasets.load_dataset(name, split=split))
    except Exception as exc:  # the hub raises many types; all mean "not reachable / not found"
        raise RRMError(
            f"cannot load {name!r} (split {split!r}) from the hub: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}",
            hint="download it elsewhere and pass --data PATH (json/jsonl/parquet with the same columns)",
        ) from exc


def require_text(source: str, row_id: Any, row: Row, field: str, allow_empty: bool = False) -> str:
    if field not in row or row[field] is None:
        raise DataError(source, row_id, field, "missing")
    value = row[field]
    if not isinstance(value, str):
        raise DataError(source, row_id, field, f"expected text, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise DataError(source, row_id, field, "empty")
    return value


def fingerprint_rows(rows: list[Any]) -> str:
    return stable_hash(*(json.dumps(r, sort_keys=True, default=str) for r in rows))[:16]


def items_from_rows(
    rows: list[Row],
    source: str,
    skip_bad_rows: bool,
    id_field: str,
    parse: Callable[[str, Row], list[Any]],
    layout: str,
) -> tuple[list[Any], dict[str, int]]:
    """Items of every valid row, in row order: ``parse(row id, row)`` makes a row's items (or raises a
    :class:`DataError` naming the row and field). The id must be present, non-empty and unique. With
    ``skip_bad_rows`` a bad row is dropped and counted by reason (the run reports the counts); otherwise its error
    stops the load, before any model is loaded. When every row was dropped the load stops too, saying why and what
    a row needs (``layout``), rather than judging nothing."""
    items: list[Any] = []
    dropped: dict[str, int] = {}
    seen: set[str] = set()
    for n, row in enumerate(rows):
        try:
            value = row.get(id_field)
            if value is None or str(value).strip() == "":
                raise DataError(source, f"#{n}", id_field, "missing")
            row_id = str(value)
            if row_id in seen:
                raise DataError(source, row_id, id_field, f"duplicate {id_field}")
            made = parse(row_id, row)
        except DataError as exc:
            if not skip_bad_rows:
                raise
            reason = exc.message.split(": ", 2)[-1]
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        seen.add(row_id)
        items.extend(made)
    if rows and not items:
        reasons = ", ".join(f"{reason} ({n})" for reason, n in sorted(dropped.items()))
        raise RRMError(f"{source}: all {len(rows)} rows were dropped as malformed: {reasons}", hint=layout)
    return items, dropped

"""Reading rows from local files (json, jsonl, parquet) or the Hugging Face hub, with row-level validation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rrm_eval._errors import DataError, RRMError, require
from rrm_eval._seeding import stable_hash

Row = dict[str, Any]


def read_rows(path: str | Path) -> list[Row]:
    """All rows of a local .jsonl / .json / .parquet file."""
    p = Path(path)
    if not p.is_file():
        raise RRMError(f"data file {str(path)!r} does not exist", hint="check the path, or omit --data to use the hub")
    suffix = "".join(p.suffixes[-2:]) if p.suffix == ".gz" else p.suffix
    if suffix in (".jsonl", ".ndjson"):
        return list(_iter_jsonl(p))
    if suffix == ".json":
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RRMError(
                f"{p}: not valid JSON ({exc})", hint="fix the file, or save it as one JSON object per line"
            ) from exc
        if isinstance(data, dict):  # {"rows": [...]} or column-oriented {"col": [...]}
            data = data.get("rows", data)
            if isinstance(data, dict):
                cols = list(data)
                data = [dict(zip(cols, vals, strict=True)) for vals in zip(*data.values(), strict=True)]
        if not isinstance(data, list):
            raise RRMError(f"{p}: expected a JSON list of rows")
        return data
    if suffix == ".parquet":
        pq = require("pyarrow.parquet", "data", "reading parquet files")
        return pq.read_table(p).to_pylist()
    raise RRMError(f"{p}: unsupported file type {suffix!r}", hint="use .jsonl, .json or .parquet")


def _iter_jsonl(p: Path) -> Iterator[Row]:
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RRMError(
                    f"{p}: line {lineno} is not valid JSON ({exc.msg})", hint="fix or delete that line"
                ) from exc
            if not isinstance(row, dict):
                raise RRMError(f"{p}: line {lineno} is not a JSON object")
            yield row


def load_hub(name: str, split: str) -> list[Row]:
    datasets = require("datasets", "data", f"loading {name} from the hub")
    try:
        return list(datasets.load_dataset(name, split=split))
    except Exception as exc:  # the hub raises many types; all mean "not reachable / not found"
        raise RRMError(
            f"cannot load {name!r} (split {split!r}) from the hub: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
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

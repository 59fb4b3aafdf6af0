"""Small file helpers shared by the training steps: JSON-lines datasets written atomically, stats files."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.runs import write_json
from rrm_eval.tasks import read_rows

__all__ = ["read_dataset", "stats_path", "write_json", "write_jsonl"]


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically (a reader never sees half a dataset). Returns the number of rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return n


def read_dataset(path: str | Path, required: tuple[str, ...], what: str) -> list[dict[str, Any]]:
    """Rows of a dataset an earlier step wrote, with the fields this step needs checked up front."""
    rows = read_rows(path)
    if not rows:
        raise RRMError(f"{path}: no rows", hint=f"{what} needs a non-empty file")
    for i, row in enumerate(rows):
        missing = [f for f in required if f not in row]
        if missing:
            raise RRMError(
                f"{path}: row {i} ({row.get('id', '?')}): missing field(s) {missing}",
                hint=f"{what} reads the output of the previous `rrm-eval train` step",
            )
    return rows


def stats_path(path: str | Path) -> Path:
    """``data.jsonl`` -> ``data.stats.json``."""
    p = Path(path)
    return p.with_name(p.name.removesuffix(".jsonl").removesuffix(".json") + ".stats.json")

"""The run journal: ``runs/<run_id>/`` with spec.json, append-only records.jsonl and summary files.

One writer at a time (an advisory lock), one line per record, flushed and fsynced per chunk, so a killed run keeps
every finished record; a half-written last line (the kill landed mid-write) is cut off on the next open. Resume = skip
the keys already present.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.runs._identity import check_resumable
from rrm_eval.runs._records import _Record

RECORDS = "records.jsonl"
SPEC = "spec.json"
SUMMARY = "summary.json"


def write_json(path: Path, obj: Any) -> None:
    """Atomic write: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False, sort_keys=False)
        fh.write("\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RRMError(f"{path} does not exist", hint="is this a run directory made by rrm-eval?") from None
    except json.JSONDecodeError as exc:
        raise RRMError(f"{path} is not valid JSON: {exc}") from exc


def load_records(
    path: Path, repair: bool = False, drop: tuple[str, ...] = (), kind: str | None = None
) -> list[dict[str, Any]]:
    """Records in file order, one per key: the first line of a key wins, except that a failed attempt (a
    :func:`retryable` record: the backend failed after its retries) is superseded, in place, by a later line of the
    same key — the journal keeps both lines, the reading keeps the retry. A torn final line is dropped (and, with
    ``repair``, cut from the file so appends start on a clean line). ``drop`` names bulky fields (``prompt``,
    ``raw``) to leave out, so scoring a run with long judge outputs holds only what scoring reads. ``kind`` keeps
    only records of that kind (``judge``, ``sample``, ``advance``; lines from before records carried a kind
    count as any kind)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    good_end = 0
    out: list[dict[str, Any] | None] = []
    index: dict[str, int] = {}  # key -> its position in out (None there: a record of another kind)
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            break  # torn last line: no newline yet
        line = data[pos:nl]
        pos = nl + 1
        if not line.strip():
            good_end = pos
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            if pos >= len(data):
                break  # torn last line that happens to end in a newline
            raise RRMError(
                f"{path}: corrupt record before byte {pos} ({exc.msg})", hint="restore the file from backup"
            ) from exc
        good_end = pos
        if not isinstance(rec, dict) or not isinstance(rec.get("key"), str):
            raise RRMError(f"{path}: line ending at byte {pos} is not a record (no key)", hint="restore the file")
        key = rec["key"]
        at = index.get(key)
        if at is not None:
            earlier = out[at]
            if earlier is None or not retryable(earlier):
                continue
        wanted = kind is None or rec.get("kind", kind) == kind
        if wanted:
            for name in drop:
                rec.pop(name, None)
        if at is None:
            index[key] = len(out)
            out.append(rec if wanted else None)
        else:
            out[at] = rec if wanted else None
    if repair and good_end < len(data):
        with path.open("r+b") as fh:
            fh.truncate(good_end)
    return [r for r in out if r is not None]


def retryable(record: dict[str, Any]) -> bool:
    """A record of a call the engine or server failed after its retries: a resume makes it again (the new line
    supersedes this one), so a server that died mid-run costs nothing once it is back."""
    return record.get("failure") == "backend_error" or (
        record.get("kind") == "sample" and record.get("finish_reason") == "error"
    )


class RunJournal:
    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        self._lock_fh: Any = None

    @property
    def records_path(self) -> Path:
        return self.dir / RECORDS

    def open(self, spec: dict[str, Any], drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Create or resume the run. Returns the records already finished (less the ``drop`` fields)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        spec_path = self.dir / SPEC
        if spec_path.exists():
            old = read_json(spec_path)
            if not isinstance(old, dict):
                raise RRMError(f"{spec_path} is not a run spec", hint="use another --run-dir")
            check_resumable(self.dir, old, str(spec.get("fingerprint")))
        elif self.records_path.exists() and self.records_path.stat().st_size:
            raise RRMError(
                f"{self.dir} holds records but no spec.json: the settings they were made with are unknown",
                hint="use another --run-dir (or restore its spec.json)",
            )
        write_json(spec_path, spec)
        return load_records(self.records_path, repair=True, drop=drop)

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory lock
            return
        self._lock_fh = (self.dir / ".lock").open("w")
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RRMError(
                f"another rrm-eval process is writing {self.dir}", hint="wait for it to finish, or stop it first"
            ) from None

    def append(self, records: Iterable[_Record | dict[str, Any]]) -> int:
        lines = []
        for r in records:
            d = r.to_dict() if isinstance(r, _Record) else r
            lines.append(json.dumps(d, ensure_ascii=False) + "\n")
        if not lines:
            return 0
        with self.records_path.open("a", encoding="utf-8") as fh:
            fh.write("".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
        return len(lines)

    def write(self, name: str, obj: Any) -> Path:
        path = self.dir / name
        write_json(path, obj)
        return path

    def close(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

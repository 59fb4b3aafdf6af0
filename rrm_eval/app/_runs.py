"""Read-only browsing of run directories: the run list, a per-run record index with filters and paging, one record.

Nothing here writes: files are opened for reading only, and no :class:`rrm_eval.runs.Run` is opened (that would
take the directory's lock file). A folder that is not a readable run is listed with the reason, never hidden.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.runs import RECORDS
from rrm_eval.runs._journal import load_records, retryable
from rrm_eval.scoring import record_outcome

#: Run kinds this browser knows how to show.
KNOWN_KINDS = ("pairwise", "tournament", "bestof", "candidates", "sweep")
#: A thinking-budget sweep's table: ``sweep.json`` in a sweep folder, or ``sweep__<run>.json`` beside the runs.
SWEEP = "sweep.json"
#: What a record's ``correct`` filter value is, from :func:`record_outcome` (None = unreadable).
_CORRECT = {"chosen": "correct", "rejected": "wrong", "tie": "tie", None: "failed"}
MAX_PAGE = 500
_SNIPPET = 160


@dataclass
class RunInfo:
    """One folder under the runs directory, readable or not (then ``error`` says why)."""

    id: str
    path: Path
    kind: str | None = None
    task: str | None = None
    judge: str | None = None
    model: str | None = None
    items: int | None = None
    headline: float | None = None
    headline_name: str | None = None
    error: str | None = None
    note: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    def brief(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "task": self.task,
            "judge": self.judge,
            "model": self.model,
            "items": self.items,
            "headline": self.headline,
            "headline_name": self.headline_name,
            "readable": self.error is None,
            "error": self.error,
            "note": self.note,
        }


def _dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (summary and spec sections may be missing or odd)."""
    return value if isinstance(value, dict) else {}


def _read_json(path: Path) -> Any:
    with path.open("rb") as fh:  # read-only, always
        return json.loads(fh.read().decode("utf-8"))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def is_sweep(path: Path) -> bool:
    """A sweep folder (its table and no spec of its own) or a sweep table file."""
    if path.is_dir():
        return (path / SWEEP).is_file() and not (path / "spec.json").exists()
    return path.is_file() and path.name.startswith("sweep") and path.suffix == ".json"


def inspect_sweep(path: Path, run_id: str) -> RunInfo:
    """A sweep as the run list shows it: the largest budget's score is the headline; its budget runs (pairwise
    runs, listed on their own when they sit in the runs directory) are read by the report's figures."""
    info = RunInfo(id=run_id, path=path, kind="sweep")
    try:
        table = _read_json(path / SWEEP if path.is_dir() else path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        info.error = f"the sweep table is unreadable: {exc}"
        return info
    rows = table.get("budgets") if isinstance(table, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        info.error = "the sweep table has no budget rows"
        return info
    info.summary = table
    top = max(rows, key=lambda r: _number(r.get("budget")) or 0)
    info.headline, info.headline_name = _number(top.get("accuracy")), f"score at budget {top.get('budget')}"
    info.items = top.get("records") if isinstance(top.get("records"), int) else None
    info.note = "thinking budgets " + ", ".join(str(r.get("budget")) for r in rows)
    return info


def inspect_run(path: Path, run_id: str) -> RunInfo:
    """What the run list shows of one folder; never raises for a bad folder."""
    if is_sweep(path):
        return inspect_sweep(path, run_id)
    info = RunInfo(id=run_id, path=path)
    try:
        spec = _read_json(path / "spec.json")
    except FileNotFoundError:
        info.error = "not a run: no spec.json"
        return info
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        info.error = f"spec.json is unreadable: {exc}"
        return info
    if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
        info.error = "spec.json is not an rrm-eval run spec (no kind)"
        return info
    info.spec, info.kind = spec, spec["kind"]
    if info.kind not in KNOWN_KINDS:
        info.error = f"a run of unknown kind {info.kind!r} (this browser shows {', '.join(KNOWN_KINDS)})"
        return info
    judge, model, task = spec.get("judge"), spec.get("model"), spec.get("task")
    info.judge = judge.get("name") if isinstance(judge, dict) else None
    info.model = model.get("spec") if isinstance(model, dict) else None
    if isinstance(task, dict):
        info.task = task.get("name")
    elif isinstance(spec.get("candidates"), dict):
        info.task = ", ".join(Path(str(s)).stem for s in spec["candidates"].get("sources", []))
    try:
        summary = _read_json(path / "summary.json")
    except FileNotFoundError:
        info.note = "no summary.json yet (a run in progress, or one that never finished)"
        return info
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        info.error = f"summary.json is corrupt: {exc}"
        return info
    if not isinstance(summary, dict):
        info.error = "summary.json is not a JSON object"
        return info
    info.summary = summary
    _headline(info, summary)
    return info


def _headline(info: RunInfo, summary: dict[str, Any]) -> None:
    if info.kind == "tournament":
        primary = summary.get("primary")
        acc = (summary.get("accuracy") or {}).get(primary) if isinstance(summary.get("accuracy"), dict) else None
        info.headline = _number(acc.get("accuracy")) if isinstance(acc, dict) else None
        info.headline_name = f"best-of-N accuracy ({primary})" if primary else None
        info.items = summary.get("n_sets") if isinstance(summary.get("n_sets"), int) else None
        return
    scores = _dict(summary.get("scores"))
    overall = _number(scores.get("overall"))
    if overall is not None:
        info.headline, info.headline_name = overall, "overall score"
    else:
        info.headline = _number(summary.get("accuracy"))
        info.headline_name = "accuracy" if info.headline is not None else None
    n = summary.get("n_items")
    info.items = n if isinstance(n, int) else None


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """The runs directory itself when it is a run, else its sub-folders (sorted by name)."""
    if (runs_dir / "spec.json").exists():
        return [inspect_run(runs_dir, runs_dir.name)]
    if not runs_dir.is_dir():
        raise RRMError(f"{runs_dir} is not a directory", hint="give the folder your runs are written to (runs/)")
    if is_sweep(runs_dir):
        return [inspect_run(runs_dir, runs_dir.name)]
    return [
        inspect_run(p, p.name)
        for p in sorted(runs_dir.iterdir())
        if not p.name.startswith(".") and (p.is_dir() or is_sweep(p))
    ]


# -- records ----------------------------------------------------------------------------------------------------------
@dataclass
class Row:
    """What the record table shows and filters on; the full record is read again when opened."""

    index: int
    key: str
    item_id: str
    subset: str
    order: str
    sample: int
    verdict: Any
    failure: str | None
    correct: str | None  # correct | wrong | tie | failed; None where a record has no chosen side (tournaments)
    flip: bool | None = None
    search: str = ""
    snippet: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "key": self.key,
            "item_id": self.item_id,
            "subset": self.subset,
            "order": self.order,
            "sample": self.sample,
            "verdict": self.verdict,
            "failure": self.failure,
            "correct": self.correct,
            "flip": self.flip,
            "snippet": self.snippet,
        }


def _correctness(kind: str | None, rec: dict[str, Any]) -> str | None:
    if kind not in ("pairwise",) or rec.get("order") not in ("AB", "BA"):
        return None  # a tournament game has no chosen side: its correctness is the set's, not the game's
    return _CORRECT[record_outcome(rec)]


def build_rows(kind: str | None, records: list[dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for i, rec in enumerate(records):
        if rec.get("kind", "judge") != "judge":
            continue
        raw = str(rec.get("raw") or "")
        rows.append(
            Row(
                index=i,
                key=str(rec.get("key")),
                item_id=str(rec.get("item_id")),
                subset=str(rec.get("subset", "")),
                order=str(rec.get("order", "")),
                sample=int(rec.get("sample") or 0),
                verdict=rec.get("verdict"),
                failure=rec.get("failure"),
                correct=_correctness(kind, rec),
                search=" ".join([str(rec.get("item_id")), raw, str(rec.get("extracted") or "")]).lower(),
                snippet=raw[-_SNIPPET:],
            )
        )
    _mark_flips(rows)
    return rows


def _mark_flips(rows: list[Row]) -> None:
    """An item flips when its two orders, each reduced to its majority reading, pick different responses."""
    votes: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for r in rows:
        if r.correct in ("correct", "wrong", "tie"):
            votes[r.item_id][r.order][r.correct] += 1
    flips: dict[str, bool | None] = {}
    for item, by_order in votes.items():
        if set(by_order) != {"AB", "BA"}:
            continue
        tops = []
        for counts in by_order.values():
            ranked = counts.most_common()
            tied_top = len(ranked) > 1 and ranked[0][1] == ranked[1][1]
            tops.append("tie" if tied_top else ranked[0][0])
        flips[item] = tops[0] != tops[1]
    for r in rows:
        r.flip = flips.get(r.item_id)


@dataclass
class Filters:
    subset: str | None = None
    failure: str | None = None  # a reason, "any" or "none"
    correct: str | None = None  # correct | wrong | tie | failed
    flip: bool | None = None
    q: str | None = None

    def keep(self, r: Row) -> bool:
        if self.subset and r.subset != self.subset:
            return False
        if (self.failure == "any" and r.failure is None) or (self.failure == "none" and r.failure is not None):
            return False
        if self.failure not in (None, "", "any", "none") and r.failure != self.failure:
            return False
        if self.correct and r.correct != self.correct:
            return False
        if self.flip is not None and r.flip is not self.flip:
            return False
        return not (self.q and self.q.lower() not in r.search)


class RunIndex:
    """Per-run record rows, cached and rebuilt when records.jsonl changes (size or modification time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int], list[Row]]] = {}

    def rows(self, info: RunInfo) -> list[Row]:
        path = info.path / RECORDS
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):  # a run without records yet, or a sweep table file
            return []
        stamp = (st.st_size, st.st_mtime_ns)
        with self._lock:
            hit = self._cache.get(path)
            if hit and hit[0] == stamp:
                return hit[1]
        # The prompt is the bulky field and the table never shows it; the record view reads it on demand.
        rows = build_rows(info.kind, load_records(path, drop=("prompt",)))
        with self._lock:
            self._cache[path] = (stamp, rows)
        return rows


def page(rows: list[Row], filters: Filters, offset: int, limit: int) -> dict[str, Any]:
    kept = [r for r in rows if filters.keep(r)]
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    return {
        "total": len(rows),
        "matched": len(kept),
        "offset": offset,
        "limit": limit,
        "rows": [r.as_dict() for r in kept[offset : offset + limit]],
    }


def facets(rows: list[Row]) -> dict[str, Any]:
    """The values the filter menus offer."""
    return {
        "subsets": sorted({r.subset for r in rows}),
        "failures": sorted({r.failure for r in rows if r.failure}),
        "has_correctness": any(r.correct is not None for r in rows),
        "has_flips": any(r.flip is not None for r in rows),
    }


def read_record(info: RunInfo, key: str) -> dict[str, Any] | None:
    """The full record of ``key`` as scoring reads it: the first line of the key, superseded by a later line when it
    is a failed attempt a resume retried (the journal's rule, :func:`rrm_eval.runs._journal.load_records`)."""
    needle = json.dumps(key).encode("utf-8")  # a cheap byte test before parsing a line
    found: dict[str, Any] | None = None
    try:
        with (info.path / RECORDS).open("rb") as fh:
            for line in fh:
                if needle not in line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a torn line: the reader drops it too
                if not isinstance(rec, dict) or rec.get("key") != key:
                    continue
                if found is None or retryable(found):
                    found = rec
    except (FileNotFoundError, NotADirectoryError):
        return None
    return found


def split_thinking(raw: str, marker: str | None) -> tuple[str | None, str]:
    """(thinking, answer) of a raw output: the text up to the judge's end-of-thinking marker (``</think>``) is the
    thinking; an opened and never closed ``<think>`` is all thinking (a truncated output)."""
    end = marker or "</think>"
    if end in raw:
        head, _, tail = raw.partition(end)
        return head.replace("<think>", "", 1).strip("\n"), tail.strip("\n")
    if raw.lstrip().startswith("<think>"):
        return raw.lstrip()[len("<think>") :].strip("\n"), ""
    return None, raw


def record_view(info: RunInfo, key: str) -> dict[str, Any] | None:
    rec = read_record(info, key)
    if rec is None:
        return None
    if rec.get("prompt") is None and rec.get("kind", "judge") == "judge":
        # Votes share one prompt, saved with the call's first sample only.
        first = read_record(info, _first_sample_key(rec))
        if first is not None and first.get("prompt_hash") == rec.get("prompt_hash"):
            rec = {**rec, "prompt": first.get("prompt"), "prompt_from": first.get("key")}
    judge = _dict(info.spec.get("judge"))
    thinking, answer = split_thinking(str(rec.get("raw") or ""), judge.get("think_end"))
    outcome = _correctness(info.kind, rec)
    return {"record": rec, "thinking": thinking, "answer": answer, "correct": outcome}


def _first_sample_key(rec: dict[str, Any]) -> str:
    """The key of vote 0 of the record's call (pairwise presentations number their votes from 0)."""
    return f"{rec.get('item_id')}|{rec.get('order')}|0"


class ItemSource:
    """The question and answers of a pairwise run's item, read from the run's own data file (local files only: the
    browser never downloads), and only while the file still has the fingerprint the run was made from."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[Path, dict[str, Any]] = {}

    def item(self, info: RunInfo, item_id: str) -> dict[str, Any]:
        if info.kind != "pairwise":
            raise RRMError(f"run {info.id} is a {info.kind} run", hint="pick a row from a pairwise run")
        with self._lock:
            items = self._cache.get(info.path)
        if items is None:
            items = self._load(info)
            with self._lock:
                self._cache[info.path] = items
        item: dict[str, Any] | None = items.get(item_id)
        if item is None:
            raise RRMError(f"run {info.id} has no item {item_id!r} in its data file")
        return item

    def _load(self, info: RunInfo) -> dict[str, Any]:
        from rrm_eval.tasks import TaskOptions, get_task

        task = _dict(info.spec.get("task"))
        source = task.get("source")
        if not isinstance(source, str) or not Path(source).is_file():
            raise RRMError(
                f"run {info.id}: its data file {source!r} is not on this machine",
                hint="copy the question and answers in by hand",
            )
        extra = _dict(task.get("extra"))
        loaded = get_task(str(task.get("name"))).load(TaskOptions(data=source, skip_bad_rows=True, extra=extra))
        if task.get("data_fingerprint") and loaded.fingerprint != task["data_fingerprint"]:
            raise RRMError(
                f"run {info.id}: {source} changed since the run was made (fingerprint {loaded.fingerprint}, run "
                f"{task['data_fingerprint']})",
                hint="its rows may not be the ones judged; copy the question and answers in by hand",
            )
        return {
            i.id: {"item_id": i.id, "subset": i.subset, "question": i.prompt, "chosen": i.chosen}
            | {"rejected": i.rejected}
            for i in loaded.items
        }


def score_table(info: RunInfo) -> list[dict[str, Any]]:
    """The run page's score rows ``{group, name, value, lo, hi, n}`` from summary.json (intervals where saved)."""
    s = _dict(info.summary)
    rows: list[dict[str, Any]] = []

    def add(group: str, name: str, value: Any, interval: Any = None, n: Any = None) -> None:
        lo = hi = None
        if isinstance(interval, (list, tuple)) and len(interval) == 2:
            lo, hi = _number(interval[0]), _number(interval[1])
        rows.append({"group": group, "name": name, "value": _number(value), "lo": lo, "hi": hi, "n": n})

    if info.kind == "sweep":
        for row in s.get("budgets") or []:
            if isinstance(row, dict):
                name = f"think budget {row.get('budget')}"
                add("score by thinking budget", name, row.get("accuracy"), row.get("interval"), row.get("records"))
        return rows
    if info.kind == "tournament":
        for selector, acc in (s.get("accuracy") or {}).items():
            if isinstance(acc, dict):
                add("best-of-N accuracy", str(selector), acc.get("accuracy"), acc.get("ci95"), acc.get("n"))
        verdicts = _dict(s.get("verdicts"))
        add("games", "first-position rate", verdicts.get("first_position_rate"), n=verdicts.get("games"))
        return rows
    intervals = _dict(s.get("intervals"))
    score_iv = _dict(intervals.get("scores"))
    subset_iv = _dict(intervals.get("subsets"))
    scores = _dict(s.get("scores"))
    if "overall" in scores:
        add("score", "overall", scores.get("overall"), score_iv.get("overall"), s.get("n_items"))
    for name, value in _dict(scores.get("sections")).items():
        add("section", str(name), value, score_iv.get(f"sections.{name}"))
    if "overall" not in scores and "accuracy" in s:
        add("score", "accuracy", s.get("accuracy"), None, s.get("n_items"))
    for name, sub in _dict(s.get("subsets")).items():
        if isinstance(sub, dict):
            add("subset", str(name), sub.get("accuracy"), subset_iv.get(name), sub.get("n"))
    recs = _dict(s.get("records"))
    for name in ("failure_rate", "truncation_rate", "lenient_rate", "first_position_rate"):
        if name in recs:
            add("records", name.replace("_", " "), recs.get(name), n=recs.get("records"))
    if "position_consistency" in s:
        add("records", "position consistency", s.get("position_consistency"))
    return rows

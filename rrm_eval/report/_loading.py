"""Read a run directory for the report: spec, summary and typed records, or the reason it cannot be read.

A thinking-budget sweep (``rrm-eval sweep``) is read as one report entry of kind ``sweep``: its sweep table
(``sweep.json`` in a ``--run-dir`` folder, or a ``sweep__<run>.json`` file beside the runs) and each budget's own
pairwise run, read like any run (a budget run that cannot be read is named in the sweep's section).

Nothing here writes: a tournament's scores come from its ``summary.json`` (what ``accuracy_results`` wrote at the
end of the run), never from re-running ``accuracy_results``, which would rewrite files inside the run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError

#: The kinds of run the report knows how to show.
KINDS = ("pairwise", "tournament", "bestof", "sweep")
SUMMARY = "summary.json"
SWEEP = "sweep.json"


@dataclass
class ReportRun:
    """A readable run: its spec, its summary, and its records (typed, prompts included)."""

    run_dir: Path
    kind: str
    spec: dict[str, Any]
    summary: dict[str, Any]
    records: list[Any] = field(default_factory=list)
    label: str = ""
    #: A sweep's budget runs, smallest budget first: (budget, the run or why it cannot be read).
    parts: list[tuple[int, ReportRun | Unreadable]] = field(default_factory=list)

    @property
    def judge(self) -> str:
        return str((self.spec.get("judge") or {}).get("name", "?"))

    @property
    def model(self) -> str:
        return str((self.spec.get("model") or {}).get("spec", "?"))

    @property
    def task(self) -> str:
        task = self.spec.get("task")
        if isinstance(task, dict):
            return str(task.get("name", "?"))
        if self.kind == "tournament":
            return "tournament " + str((self.spec.get("protocol") or {}).get("schedule", "?"))
        return "?"

    @property
    def data_fingerprint(self) -> str | None:
        if self.kind == "sweep":
            return None  # a sweep is never paired with another run as a whole (its budget runs could be)
        section = self.spec.get("task") if self.kind != "tournament" else self.spec.get("candidates")
        return (section or {}).get("data_fingerprint") if isinstance(section, dict) else None

    def judge_records(self) -> list[Any]:
        from rrm_eval.runs import JudgeRecord

        return [r for r in self.records if isinstance(r, JudgeRecord)]


@dataclass
class Unreadable:
    """A folder the report cannot show, and why (shown in the report's 'unreadable runs' section)."""

    run_dir: Path
    reason: str
    hint: str | None = None
    label: str = ""


def _check_summary(path: Path, kind: str, summary: Any) -> dict[str, Any]:
    if not isinstance(summary, dict):
        raise RRMError(f"{path / SUMMARY} is not a JSON object", hint="re-score the run: rrm-eval rescore RUN_DIR")
    # The fields each kind's figures are drawn from; a summary without them is corrupt or of another version.
    needed = {"pairwise": ("subsets", "scores"), "tournament": ("accuracy",), "bestof": ("subsets", "scores")}[kind]
    for key in needed:
        if not isinstance(summary.get(key), dict):
            raise RRMError(
                f"{path / SUMMARY}: field {key!r} is missing or not an object",
                hint="re-score the run (rrm-eval rescore RUN_DIR) to rewrite its summary",
            )
    return summary


def _check_records(path: Path, kind: str, spec: dict[str, Any], records: list[Any]) -> None:
    from rrm_eval.runs import JudgeRecord

    judges = [r for r in records if isinstance(r, JudgeRecord)]
    if not judges:
        raise RRMError(f"{path} has no judge records", hint="run (or resume) the evaluation first")
    if kind == "pairwise" and len(judges) != len(records):
        raise RRMError(f"{path}: a pairwise run holds records other than judge calls", hint="restore records.jsonl")
    name = (spec.get("judge") or {}).get("name")
    # A bestof run rates RewardBench 2's Ties subset with its own judge (spec ``ties_judge``).
    names = {name, (spec.get("ties_judge") or {}).get("name")} if kind == "bestof" else {name}
    other = next((r for r in judges if r.judge not in names), None)
    if other is not None:
        raise RRMError(
            f"{path}: record {other.key!r} was made by judge {other.judge!r}, but the spec says {name!r}",
            hint="the records do not belong to this run's spec; restore records.jsonl or spec.json",
        )
    bad = next((r for r in judges if not isinstance(r.completion_tokens, int) or not isinstance(r.subset, str)), None)
    if bad is not None:
        raise RRMError(f"{path}: record {bad.key!r} has a malformed field (subset or completion_tokens)")


def load_report_run(run_dir: str | Path, label: str = "") -> ReportRun | Unreadable:
    """A run directory as the report reads it, or :class:`Unreadable` with the reason (never raises on bad input)."""
    from rrm_eval import load_run_records, run_spec
    from rrm_eval.runs import read_json

    path = Path(run_dir)
    if is_sweep(path):
        return load_sweep(path, label)
    tables = sorted(path.glob("sweep__*.json")) if path.is_dir() and not (path / "spec.json").exists() else []
    if len(tables) == 1:  # a sweep's --output-dir: its table sits beside the budget runs
        return load_sweep(tables[0], label)
    if tables:
        names = ", ".join(t.name for t in tables)
        return Unreadable(path, f"{path} holds {len(tables)} sweep tables ({names})", "give one table file", label)
    try:
        spec = run_spec(path)
        kind = str(spec["kind"])
        if kind not in KINDS:
            raise RRMError(
                f"{path} is a {kind!r} run: the report shows {', '.join(KINDS)} runs",
                hint="give the run directories of an evaluation, a tournament or a sweep",
            )
        summary = _check_summary(path, kind, read_json(path / SUMMARY))
        records = load_run_records(path)
        _check_records(path, kind, spec, records)
    except RRMError as exc:
        return Unreadable(path, exc.message, exc.hint, label)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Unreadable(path, f"{path}: cannot be read: {exc}", "check the folder's files and permissions", label)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # A record line whose fields do not fit the typed record (missing or unknown shape).
        return Unreadable(path, f"{path}: records do not match the run's record format ({exc})", None, label)
    return ReportRun(path, kind, spec, summary, records, label)


# -- thinking-budget sweeps ---------------------------------------------------------------------------------------
def is_sweep(path: Path) -> bool:
    """A sweep folder (``sweep.json`` and no ``spec.json`` of its own) or a sweep table file (``sweep*.json``)."""
    if path.is_dir():
        return (path / SWEEP).is_file() and not (path / "spec.json").exists()
    return path.is_file() and path.name.startswith("sweep") and path.suffix == ".json"


def _budget_dir(table: Path, run_dir: Any) -> Path:
    """Where a budget's run is: a sweep writes every budget run beside its table (``think-N/`` in a --run-dir
    folder, the run folders of --output-dir), so its folder name is looked up there, not at the recorded path: a
    moved or copied sweep reads its own runs, never those of another copy, and a relative path needs no cwd."""
    return table.parent / Path(str(run_dir)).name


def load_sweep(path: Path, label: str = "") -> ReportRun | Unreadable:
    """A sweep as one report entry: ``summary`` is the sweep table, ``spec`` the largest readable budget run's
    (judge, model, task), ``parts`` every budget run."""
    from rrm_eval.runs import read_json

    table = path / SWEEP if path.is_dir() else path
    try:
        data = read_json(table)
        rows = data.get("budgets") if isinstance(data, dict) else None
        if not isinstance(rows, list) or not rows:
            raise RRMError(f"{table}: no 'budgets' list: not an rrm-eval sweep table", hint="rerun the sweep")
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("budget"), int) or "run_dir" not in row:
                raise RRMError(
                    f"{table}: a budget row without a whole-number 'budget' and a 'run_dir': {str(row)[:80]}",
                    hint="the sweep table is corrupt; rerun the sweep (it resumes every budget's run)",
                )
    except RRMError as exc:
        return Unreadable(path, exc.message, exc.hint, label)
    except (OSError, UnicodeDecodeError) as exc:
        return Unreadable(path, f"{table}: cannot be read: {exc}", "check the file and its permissions", label)
    rows = sorted(rows, key=lambda r: r["budget"])
    parts = [
        (int(r["budget"]), load_report_run(_budget_dir(table, r["run_dir"]), f"{label}.{r['budget']}")) for r in rows
    ]
    readable = [run for _, run in parts if isinstance(run, ReportRun)]
    spec = dict(readable[-1].spec) if readable else {}
    return ReportRun(path, "sweep", {**spec, "kind": "sweep"}, {**data, "budgets": rows}, [], label, parts)

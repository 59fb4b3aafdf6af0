"""One run lifecycle for every command that calls a model: open or resume the journal, load the model only when
something is pending, append records (never a key that is saved), report progress, write stats, close.

Pairwise evaluation, PPE, tournaments, candidate generation and the training steps all go through :class:`Run`, so
resume semantics, the lazy model and the stats file are the same everywhere.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.models import GenerateRequest, Message, Model, SamplingParams, load_model, redact
from rrm_eval.runs._journal import SPEC, RunJournal, load_records, read_json, retryable
from rrm_eval.runs._provenance import provenance
from rrm_eval.runs._records import SampleRecord, _Record, sample_key

STATS = "run_stats.json"  # timings and throughput: kept out of summary.json so resumed == uninterrupted
#: ``progress(total, already_done)`` returns an ``advance(n)`` callback (the CLI's progress bar).
ProgressFactory = Callable[[int, int], Callable[[int], None]]


class Run:
    """A run directory being made or resumed. Use as a context manager::

        with Run(run_dir, spec, model_spec="hf:...", model_options={...}) as run:
            pending = [c for c in calls if not run.saved(c.key)]
            if pending:
                run.append(records_made_with(run.model))
            run.finish(extra_stats)

    ``spec`` must hold ``fingerprint`` (from :func:`rrm_eval.runs.run_identity`); ``identity_version`` and
    provenance are added here. ``drop`` names bulky record fields left out of what is held in memory for resume.
    A ``model`` passed in is used as is and not closed; otherwise one is loaded from ``model_spec`` on first use.
    """

    def __init__(
        self,
        run_dir: str | Path,
        spec: dict[str, Any],
        *,
        model_spec: str | None = None,
        model_options: dict[str, Any] | None = None,
        model: Model | None = None,
        progress: ProgressFactory | None = None,
        drop: tuple[str, ...] = ("prompt", "raw", "text"),
        retry_failed: bool = True,
    ) -> None:
        from rrm_eval.runs._identity import IDENTITY_VERSION

        self.dir = Path(run_dir)
        self.spec = {"identity_version": IDENTITY_VERSION, **spec, "provenance": provenance()}
        self.journal = RunJournal(self.dir)
        self._model_spec = model_spec
        self._model_options = dict(model_options or {})
        self._given_model = model
        self._own_model: Model | None = None
        self._progress = progress
        self._advance: Callable[[int], None] | None = None
        self._drop = drop
        # Adaptive schedules decide later games from earlier outcomes: redoing a failed game could change the path
        # and orphan the games played after it, so they keep their failures (the verdict policy scores them).
        self._retry_failed = retry_failed
        self._t0 = time.perf_counter()
        self.existing: list[dict[str, Any]] = []
        self.done: set[str] = set()
        self.retrying = 0  # failed calls found on resume, to be made again
        self.written = 0

    # -- lifecycle --------------------------------------------------------------------------------------------
    def __enter__(self) -> Run:
        old_spec = self.dir / SPEC
        if old_spec.is_file():  # keep what an earlier session learned about the model it loaded
            with contextlib.suppress(RRMError, AttributeError, TypeError):
                resolved = _model_section(read_json(old_spec)).get("resolved")
                if resolved is not None:
                    _model_section(self.spec).setdefault("resolved", resolved)
        loaded = self.journal.open(self.spec, drop=self._drop)
        # Calls the backend failed are made again (their new record supersedes the failed one); all else is kept.
        self.existing = [r for r in loaded if not (self._retry_failed and retryable(r))]
        self.retrying = len(loaded) - len(self.existing)
        self.done = {r["key"] for r in self.existing}
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._own_model is not None:
            self._own_model.close()
            self._own_model = None
        self.journal.close()

    @property
    def model_name(self) -> str | None:
        """The loaded model's readable name, or the one an earlier session of this run recorded."""
        used = self._given_model or self._own_model
        if used is not None:
            return used.name
        resolved = _model_section(self.spec).get("resolved") or {}
        return resolved.get("name") if isinstance(resolved, dict) else None

    @property
    def model_loaded(self) -> bool:
        return self._given_model is not None or self._own_model is not None

    @property
    def model(self) -> Model:
        """The model, loaded on first use (a finished run never loads one)."""
        if self._given_model is not None:
            return self._given_model
        if self._own_model is None:
            if self._model_spec is None:
                raise RuntimeError("Run has no model spec to load")  # a programming error, not a user mistake
            self._own_model = load_model(self._model_spec, **self._model_options)
        return self._own_model

    # -- records ----------------------------------------------------------------------------------------------
    def saved(self, key: str) -> bool:
        return key in self.done

    def all_saved(self, keys: Iterable[str]) -> bool:
        return all(k in self.done for k in keys)

    def append(self, records: Iterable[_Record | dict[str, Any]]) -> int:
        """Append the records whose key is not saved yet (resume is per record key: a call redone after a torn
        write never re-appends the samples that made it to disk). Returns how many were written."""
        fresh: list[_Record | dict[str, Any]] = []
        for r in records:
            key = r.key if isinstance(r, _Record) else r["key"]
            if key in self.done:
                continue
            self.done.add(key)
            fresh.append(r)
        n = self.journal.append(fresh)
        self.written += n
        return n

    def records(self, drop: tuple[str, ...] = (), kind: str | None = None) -> list[dict[str, Any]]:
        """Every record on disk now (first of each key), less the ``drop`` fields."""
        return load_records(self.journal.records_path, drop=drop, kind=kind)

    @property
    def reused(self) -> int:
        return len(self.existing)

    # -- progress ---------------------------------------------------------------------------------------------
    def start_progress(self, total: int, done: int) -> None:
        self._advance = self._progress(total, done) if self._progress else None

    def advance(self, n: int) -> None:
        if self._advance is not None:
            self._advance(n)
            # A model spread over Ray workers says its per-worker rates; a progress bar that can show them does.
            note = getattr(self._given_model or self._own_model, "progress_note", None)
            show = getattr(self._advance, "note", None)
            if note is not None and show is not None:
                show(note())

    # -- outputs ----------------------------------------------------------------------------------------------
    def write(self, name: str, obj: Any) -> Path:
        return self.journal.write(name, obj)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self._t0

    def finish(self, **stats: Any) -> dict[str, Any]:
        """Record the resolved model in spec.json (when one was used) and write run_stats.json."""
        used = self._given_model or self._own_model
        if used is not None and self.written:
            _model_section(self.spec)["resolved"] = used.describe()
            self.journal.write(SPEC, self.spec)
        out = {
            "seconds": self.seconds,
            "records_written": self.written,
            "records_reused": self.reused,
            "failed_calls_retried": self.retrying,
            "model_usage": used.usage.as_dict() if used is not None else None,
            **_worker_lines(used),
            **stats,
        }
        self.journal.write(STATS, out)
        return out


def _worker_lines(model: Model | None) -> dict[str, Any]:
    """``{"workers": [...]}``, one line per Ray worker (calls, busy seconds, calls/s), for a model spread over Ray."""
    lines = getattr(model, "worker_stats", None)
    return {"workers": lines()} if lines is not None else {}


def _model_section(spec: dict[str, Any]) -> dict[str, Any]:
    """Where a spec describes its model: ``spec["model"]`` (created when a spec has none)."""
    section = spec.setdefault("model", {})
    if not isinstance(section, dict):
        raise TypeError("spec['model'] is not a mapping")
    return section


Prompt = str | list[Message]


def sample_k(
    run: Run,
    prompts: Sequence[tuple[str, Prompt]],
    params: SamplingParams,
    meta: Callable[[str], dict[str, Any]] | None = None,
) -> int:
    """``params.n`` samples for every ``(item id, prompt)`` not all saved, into ``run``'s journal as
    :class:`SampleRecord` lines keyed ``<id>|<sample>``, chunk by chunk. A prompt is rendered text or chat messages
    (rendered with the model's own template). The model is loaded only when something is pending. Returns the number
    of records written."""
    pending = [(rid, p) for rid, p in prompts if not run.all_saved(sample_key(rid, s) for s in range(params.n))]
    if not pending:
        return 0
    model = run.model
    requests = [GenerateRequest(p if isinstance(p, str) else model.render(p), key=rid) for rid, p in pending]
    run.start_progress(len(prompts), len(prompts) - len(pending))
    written = 0
    for start, groups in model.iter_generate(requests, params):
        recs: list[SampleRecord] = []
        for j, group in enumerate(groups):
            rid = pending[start + j][0]
            extra = meta(rid) if meta else {}
            recs.extend(SampleRecord.of(rid, s, c, extra) for s, c in enumerate(group))
        written += run.append(recs)
        run.advance(len(groups))
    return written


def model_section(spec: str, options: dict[str, Any]) -> dict[str, Any]:
    """How a run's spec.json names its model (credentials redacted)."""
    return {"spec": spec, "options": redact(options)}


__all__ = ["STATS", "ProgressFactory", "Prompt", "Run", "model_section", "sample_k"]

"""Scale-out on Ray: one engine per Ray actor, the calls of every command split into content-keyed chunks across
them, results streamed back in order to the one process that writes the journal.

Why chunks and not single calls: a chunk is exactly the batch a single-process run hands its driver (the same
``chunk_size``, the same requests in the same order), so an engine whose output depends on what shares a batch still
writes the same records whatever the number of workers. Chunks are yielded in their order, so the journal's lines
are byte-identical too; a finished chunk that arrives early waits (at most ``2 x workers`` chunks are ahead).

Faults: a worker (actor) that dies or whose node leaves costs only its in-flight chunks, which go to the live
workers; records already yielded are journaled by the caller and never made again. When no worker is left the
command stops with an :class:`RRMError` naming what was saved; the same command resumes, with or without ``--ray``.

Ray is an optional extra (``pip install 'rrm-eval[ray]'``), imported only when ``--ray`` is given.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rrm_eval._errors import RRMError
from rrm_eval.models._base import Driver
from rrm_eval.models._types import Completion, GenerateRequest, Message, SamplingParams, ScoreRequest, ScoreResult
from rrm_eval.models._wrapper import Model, check_messages

#: A Ray run's chunk size when none is given: the driver's own batch, capped so a dataset splits into enough chunks
#: to keep several workers busy (engines with their own scheduler prefer the whole dataset at once).
RAY_CHUNK_CAP = 256
#: Chunks each worker holds at once: one running, one queued, so a worker never waits for the coordinator.
PER_WORKER = 2
T = TypeVar("T")
INSTALL_HINT = "install the Ray extra: pip install 'rrm-eval[ray]' (or pip install ray)"


@dataclass(frozen=True)
class RaySettings:
    """Where and how wide: ``address`` ``"local"`` starts a cluster on this machine (on 127.0.0.1)."""

    address: str = "local"
    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0

    @classmethod
    def pop_from(cls, options: dict[str, Any]) -> RaySettings | None:
        """The settings held in model ``options`` (removed from them), or None when ``ray`` is not set."""
        address = options.pop("ray", None)
        workers = options.pop("ray_workers", None)
        gpus = options.pop("ray_gpus_per_worker", None)
        cpus = options.pop("ray_cpus_per_worker", None)
        if address in (None, False, ""):
            if workers is not None or gpus is not None or cpus is not None:
                raise RRMError(
                    "--workers, --gpus-per-worker and --cpus-per-worker place engines on Ray, but --ray is not given",
                    hint="add --ray (a local cluster) or --ray ADDRESS (an existing one, e.g. ray://head:10001)",
                )
            return None
        return cls(
            address="local" if address is True else str(address),
            workers=int(workers if workers is not None else 1),
            gpus_per_worker=float(gpus if gpus is not None else 0.0),
            cpus_per_worker=float(cpus if cpus is not None else 1.0),
        )


def import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise RRMError("--ray needs the ray package, which is not installed", hint=INSTALL_HINT) from e
    return ray


# -- the worker ---------------------------------------------------------------------------------------------------
class EngineWorker:
    """What runs inside one Ray actor: a whole :class:`Model` (wrapper and driver), so request screening uses the
    engine's own tokenizer. Engine calls run one at a time; metadata calls (render, token counts) have a concurrency
    group of their own and are answered while a chunk is generating."""

    def __init__(self, spec: str, options: dict[str, Any], chunk_size: int) -> None:
        from rrm_eval.models._wrapper import load_model

        # A user mistake while loading (a bad path) is kept and raised by the first call: raised here, Ray would
        # report only that the actor died, and the coordinator could not show the message and hint.
        self._model: Model | None = None
        self._error: RRMError | None = None
        try:
            self._model = load_model(spec, chunk_size=chunk_size, **options)
        except RRMError as e:
            self._error = e

    @property
    def model(self) -> Model:
        if self._model is None:
            raise self._error or RuntimeError("engine worker has no model")
        return self._model

    def info(self) -> dict[str, Any]:
        return {
            "name": self.model.name,
            "describe": self.model.describe(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "context_length": self.model.driver.context_length(),
        }

    def render(self, messages: list[Message], add_generation_prompt: bool) -> str:
        return self.model.render(messages, add_generation_prompt)

    def cut_to_tokens(self, text: str, n: int) -> tuple[str, int] | None:
        return self.model.driver.cut_to_tokens(text, n)

    def count_tokens(self, text: str) -> int | None:
        return self.model.driver.count_tokens(text)

    def supports_think_budget(self, marker: str) -> bool:
        return self.model.driver.supports_think_budget(marker)

    def generate(self, requests: list[GenerateRequest], params: SamplingParams) -> tuple[Any, dict[str, Any]]:
        return self._timed(lambda: self.model.generate(requests, params))

    def think_budget(
        self, requests: list[GenerateRequest], params: SamplingParams, budget: int, marker: str
    ) -> tuple[Any, dict[str, Any]]:
        return self._timed(lambda: self.model.generate_think_budget(requests, params, budget, marker))

    def score(self, requests: list[ScoreRequest]) -> tuple[Any, dict[str, Any]]:
        return self._timed(lambda: self.model.score(requests))

    def run(self, fn: Callable[..., Any], *job: Any) -> tuple[Any, dict[str, Any]]:
        """A routine of several model calls on one chunk (``Model.map_chunks``), on this worker's engine."""
        return self._timed(lambda: fn(self.model, *job))

    def _timed(self, fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
        before = self.model.usage.as_dict()
        out = fn()
        after = self.model.usage.as_dict()
        return out, {k: after[k] - before[k] for k in after}

    def close(self) -> None:
        if self._model is not None:
            self._model.close()


# -- the coordinator's side ---------------------------------------------------------------------------------------
@dataclass
class WorkerState:
    """One actor as the coordinator sees it (``run_stats.json`` gets one line of these per worker)."""

    index: int
    handle: Any
    pid: int = 0
    host: str = ""
    alive: bool = True
    chunks: int = 0
    requests: int = 0
    busy_seconds: float = 0.0
    requeued: int = 0  # chunks it held when it died, made again on the others
    inflight: dict[Any, int] = field(default_factory=dict)  # object ref -> chunk index

    def line(self) -> dict[str, Any]:
        rate = self.requests / self.busy_seconds if self.busy_seconds > 0 else None
        return {
            "worker": self.index,
            "host": self.host,
            "pid": self.pid,
            "alive": self.alive,
            "chunks": self.chunks,
            "calls": self.requests,
            "busy_seconds": round(self.busy_seconds, 3),
            "calls_per_second": None if rate is None else round(rate, 3),
            "chunks_requeued": self.requeued,
        }


class RayDriver(Driver):
    """The coordinator's view of the engines: metadata (name, template, token counts) asked of a live worker.
    Generation never goes through here; :class:`RayModel` sends whole chunks to the workers."""

    prefix = "ray"
    description = "engines on Ray actors"

    def __init__(self, pool: RayModel, spec: str, info: dict[str, Any]) -> None:
        super().__init__(spec)
        self.pool, self.info = pool, info

    @property
    def name(self) -> str:
        return str(self.info["name"])

    def describe(self) -> dict[str, Any]:
        return dict(self.info["describe"])

    def context_length(self) -> int | None:
        ctx = self.info.get("context_length")
        return None if ctx is None else int(ctx)

    def apply_chat_template(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        return str(self.pool.ask("render", messages, add_generation_prompt))

    def count_tokens(self, text: str) -> int | None:
        n = self.pool.ask("count_tokens", text)
        return None if n is None else int(n)

    def cut_to_tokens(self, text: str, n: int) -> tuple[str, int] | None:
        cut = self.pool.ask("cut_to_tokens", text, n)
        return None if cut is None else (str(cut[0]), int(cut[1]))

    def supports_think_budget(self, marker: str) -> bool:
        return bool(self.pool.ask("supports_think_budget", marker))

    def generate(self, requests: list[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
        return self.pool.generate(requests, params)

    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        return self.pool.score(requests)


class RayModel(Model):
    """A :class:`Model` whose engines are ``settings.workers`` Ray actors, each loading ``spec`` with ``options``.

    Same interface and the same records as a single-process model of the same ``chunk_size``; chunks run on the
    workers in parallel and come back in order."""

    def __init__(
        self, spec: str, options: dict[str, Any], settings: RaySettings, chunk_size: int | None = None
    ) -> None:
        from rrm_eval.models._spec import driver_class

        if settings.workers < 1:
            raise RRMError(f"--workers must be >= 1, got {settings.workers}", hint="e.g. --workers 4")
        cls = driver_class(spec)
        cls.check_options(options)  # a bad option is refused here, before any worker starts
        self.settings = settings
        self.ray = import_ray()
        self._started_cluster = _connect(self.ray, settings)
        size = chunk_size or min(cls.preferred_batch, RAY_CHUNK_CAP)
        self.workers: list[WorkerState] = []
        try:
            self.workers = self._start_workers(spec, options, size)
            info = self._first_info()
        except BaseException:
            self.close()  # workers that did start (and a cluster of our own) are not left holding resources
            raise
        super().__init__(RayDriver(self, spec, info), spec=spec, chunk_size=size)
        self._t0 = time.perf_counter()

    # -- workers ----------------------------------------------------------------------------------------------
    def _start_workers(self, spec: str, options: dict[str, Any], chunk_size: int) -> list[WorkerState]:
        ray, s = self.ray, self.settings
        _check_resources(ray, s)
        actor = ray.remote(concurrency_groups={"meta": 1, "engine": 1})(_actor_class())
        handles = [
            actor.options(num_cpus=s.cpus_per_worker, num_gpus=s.gpus_per_worker, max_restarts=0).remote(
                spec, options, chunk_size
            )
            for _ in range(s.workers)
        ]
        workers = [WorkerState(i, h) for i, h in enumerate(handles)]
        self.workers = workers  # so a failure below can close them
        for w in workers:
            info = self._call(w, "info")
            w.pid, w.host = int(info["pid"]), str(info["host"])
        return workers

    def _first_info(self) -> dict[str, Any]:
        return dict(self.ask("info"))

    def _call(self, w: WorkerState, method: str, *args: Any) -> Any:
        """A blocking call to one worker; a user mistake raised inside it (a bad model path) comes back as itself."""
        try:
            return self.ray.get(getattr(w.handle, method).remote(*args))
        except self.ray.exceptions.RayTaskError as e:
            raise _unwrap(e) from None

    def ask(self, method: str, *args: Any) -> Any:
        """A metadata call to a live worker (the first one that answers)."""
        for w in self.live():
            try:
                return self._call(w, method, *args)
            except _lost_errors(self.ray):
                w.alive = False
        raise self._all_lost()

    def live(self) -> list[WorkerState]:
        return [w for w in self.workers if w.alive]

    def worker_stats(self) -> list[dict[str, Any]]:
        return [w.line() for w in self.workers]

    def progress_note(self) -> str:
        """``w0 12.3/s · w1 11.9/s · 24.2 calls/s``: calls per second per worker and in all (the progress bar's)."""
        wall = max(1e-9, time.perf_counter() - self._t0)
        parts = [
            f"w{w.index} {w.requests / w.busy_seconds:.1f}/s" if w.busy_seconds > 0 else f"w{w.index} -"
            for w in self.workers
            if w.alive
        ]
        total = sum(w.requests for w in self.workers) / wall
        return " · ".join([*parts, f"{total:.1f} calls/s"])

    # -- chunks -----------------------------------------------------------------------------------------------
    def _run_chunks(
        self, method: str, chunks: Sequence[tuple[Any, ...]], size: Callable[[tuple[Any, ...]], int] | None = None
    ) -> Iterator[tuple[int, Any]]:
        """Run ``method(*chunk)`` on the workers; yield ``(chunk index, result)`` in chunk order. A worker lost
        mid-chunk gives its chunks to the others; the chunk order (and so the journal) is unchanged. ``size``
        says how many calls a chunk is (default: its first argument's length)."""
        ray = self.ray
        queue = deque(range(len(chunks)))
        finished: dict[int, Any] = {}
        owner: dict[Any, WorkerState] = {}
        nxt = 0
        lookahead = PER_WORKER * max(1, len(self.live()))
        while nxt < len(chunks):
            while queue and queue[0] < nxt + lookahead:
                # One chunk at a time to the least loaded worker (placement never changes a record).
                w = min(self.live(), key=lambda w: len(w.inflight))
                if len(w.inflight) >= PER_WORKER:
                    break
                i = queue.popleft()
                ref = getattr(w.handle, method).remote(*chunks[i])
                w.inflight[ref] = i
                owner[ref] = w
            if not owner:
                raise self._all_lost()
            ready, _ = ray.wait(list(owner), num_returns=1)
            for ref in ready:
                w = owner.pop(ref)
                i = w.inflight.pop(ref)
                try:
                    out, usage = ray.get(ref)
                except _lost_errors(ray):
                    self._lose(w, owner, queue, i)
                    continue
                except ray.exceptions.RayTaskError as e:
                    raise _unwrap(e) from None
                w.chunks += 1
                w.requests += size(chunks[i]) if size is not None else len(chunks[i][0])
                w.busy_seconds += float(usage.get("seconds", 0.0))  # the worker's own clock, not queueing
                self._add_usage(usage)
                finished[i] = out
            while nxt in finished:
                yield nxt, finished.pop(nxt)
                nxt += 1

    def _lose(self, w: WorkerState, owner: dict[Any, WorkerState], queue: deque[int], first: int) -> None:
        """``w`` died: every chunk it held goes back to the front of the queue, in order."""
        w.alive = False
        lost = sorted([first, *w.inflight.values()])
        for ref in list(w.inflight):
            owner.pop(ref, None)
        w.inflight.clear()
        w.requeued += len(lost)
        queue.extendleft(reversed(lost))
        if not self.live():
            raise self._all_lost()

    def _all_lost(self) -> RRMError:
        return RRMError(
            f"every Ray worker is gone ({len(self.workers)} started); the records finished so far are saved",
            hint="run the same command again to make only the rest: on a live cluster with --ray, or on this "
            "machine without --ray (the run's identity does not depend on where it runs)",
        )

    def _add_usage(self, delta: dict[str, Any]) -> None:
        for k, v in delta.items():
            setattr(self.usage, k, getattr(self.usage, k) + v)

    def _chunks(self, requests: Sequence[Any], size: int | None = None) -> list[list[Any]]:
        step = size or self.chunk_size
        return [list(requests[s : s + step]) for s in range(0, len(requests), step)]

    # -- the Model interface ----------------------------------------------------------------------------------
    def render(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        return self.driver.apply_chat_template(check_messages(messages), add_generation_prompt)

    def iter_generate(
        self, requests: Sequence[GenerateRequest], params: SamplingParams, chunk_size: int | None = None
    ) -> Iterator[tuple[int, list[list[Completion]]]]:
        step = chunk_size or self.chunk_size
        chunks = self._chunks(requests, step)
        for i, outs in self._run_chunks("generate", [(c, params) for c in chunks]):
            yield i * step, outs

    def map_chunks(self, fn: Callable[..., T], jobs: Sequence[tuple[Any, ...]]) -> Iterator[tuple[int, T]]:
        yield from self._run_chunks("run", [(fn, *job) for job in jobs], size=lambda c: len(c[1]))

    def generate(self, requests: Sequence[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
        out: list[list[Completion]] = []
        for _, outs in self.iter_generate(requests, params):
            out.extend(outs)
        return out

    def generate_think_budget(
        self, requests: Sequence[GenerateRequest], params: SamplingParams, budget: int, marker: str
    ) -> list[list[Completion]] | None:
        if not self.driver.supports_think_budget(marker):
            return None
        out: list[list[Completion]] = []
        for _, outs in self._run_chunks("think_budget", [(c, params, budget, marker) for c in self._chunks(requests)]):
            out.extend(outs)
        return out

    def iter_score(
        self, requests: Sequence[ScoreRequest], chunk_size: int | None = None
    ) -> Iterator[tuple[int, list[ScoreResult]]]:
        step = chunk_size or self.chunk_size
        for i, outs in self._run_chunks("score", [(c,) for c in self._chunks(requests, step)]):
            yield i * step, outs

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        out: list[ScoreResult] = []
        for _, outs in self.iter_score(requests):
            out.extend(outs)
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "ray_workers": self.settings.workers}

    def close(self) -> None:
        for w in self.live():
            with contextlib.suppress(Exception):  # a worker already gone is closed
                self.ray.kill(w.handle)
        if self._started_cluster and self.ray.is_initialized():
            self.ray.shutdown()


def _actor_class() -> type:
    """The worker class with its methods assigned to concurrency groups (``ray.method`` needs ray imported)."""
    ray = import_ray()
    meta = ray.method(concurrency_group="meta")
    engine = ray.method(concurrency_group="engine")

    class _Worker(EngineWorker):
        info = meta(EngineWorker.info)
        render = meta(EngineWorker.render)
        cut_to_tokens = meta(EngineWorker.cut_to_tokens)
        count_tokens = meta(EngineWorker.count_tokens)
        supports_think_budget = meta(EngineWorker.supports_think_budget)
        generate = engine(EngineWorker.generate)
        think_budget = engine(EngineWorker.think_budget)
        score = engine(EngineWorker.score)
        run = engine(EngineWorker.run)
        close = engine(EngineWorker.close)

    _Worker.__name__ = _Worker.__qualname__ = "RRMEngineWorker"
    return _Worker


def _connect(ray: Any, s: RaySettings) -> bool:
    """Join (or start) the cluster; True when this process started it and so must stop it."""
    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if s.address == "local":
        need = max(1.0, s.workers * s.cpus_per_worker)
        # A cluster of its own on loopback, sized so every worker fits; GPUs are detected.
        ray.init(address="local", num_cpus=int(max(need, os.cpu_count() or 1)), _node_ip_address="127.0.0.1", **quiet)
        return True
    try:
        ray.init(address=s.address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise RRMError(
            f"cannot join the Ray cluster at {s.address!r}: {e}",
            hint="start one with `ray start --head` and pass its address (e.g. --ray 10.0.0.1:6379), or give --ray "
            "with no address for a local cluster",
        ) from e
    return False


def _check_resources(ray: Any, s: RaySettings) -> None:
    """Refuse a request the cluster can never place (Ray would otherwise wait for it forever)."""
    have = ray.cluster_resources()
    for name, per in (("CPU", s.cpus_per_worker), ("GPU", s.gpus_per_worker)):
        if per > 0 and per * s.workers > float(have.get(name, 0.0)) + 1e-9:
            raise RRMError(
                f"{s.workers} workers x {per:g} {name}s need {per * s.workers:g} {name}s; the Ray cluster has "
                f"{float(have.get(name, 0.0)):g}",
                hint=f"lower --workers or --{name.lower()}s-per-worker, or add nodes to the cluster",
            )


def _lost_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """Exceptions that mean the worker (or its node) is gone, not that the call itself failed."""
    ex = ray.exceptions
    names = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "NodeDiedError", "WorkerCrashedError")
    return tuple(getattr(ex, n) for n in names if hasattr(ex, n))


def _unwrap(e: Any) -> BaseException:
    """The exception raised inside the worker: a user mistake there (RRMError) reaches the CLI as itself."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, RRMError):
        return cause
    return RuntimeError(f"a Ray worker failed: {cause if cause is not None else e}")


__all__ = ["INSTALL_HINT", "EngineWorker", "RayModel", "RaySettings", "import_ray"]

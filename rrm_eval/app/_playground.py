"""The judge playground: one question and two answers, judged in one or both orders through the judge-mode registry.

Calls go through :func:`rrm_eval.protocols.judge_calls` with the judge's own mode and parser, exactly as a run's
presentations do, so what the playground shows is what a run would record. Nothing is written anywhere.

No backend streams tokens (``Model.iter_generate`` yields finished completions), so the reasoning is sent as the
finished text cut into chunks, and every stream says so in its first event (``streamed: "replayed"``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.judges import Judge, builtin_judges, load_judge
from rrm_eval.models import Model
from rrm_eval.protocols import PlannedCall, check_mode_fits, judge_calls, mode_of

PLAYGROUND_ORDERS = {"AB": ["AB"], "BA": ["BA"], "both": ["AB", "BA"]}
#: Characters per replayed chunk: small enough that the page visibly fills in, large enough to stay cheap.
CHUNK_CHARS = 24
MAX_FIELD_CHARS = 200_000


@dataclass
class PlaygroundInput:
    question: str
    answer_a: str
    answer_b: str
    judge: str | None = None
    order: str = "both"
    seed: int = 0

    def check(self) -> None:
        if self.order not in PLAYGROUND_ORDERS:
            raise RRMError(f"unknown order {self.order!r}", hint="use AB, BA or both")
        for name in ("question", "answer_a", "answer_b"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise RRMError(f"{name} is empty", hint="type a question and both answers")
            if len(value) > MAX_FIELD_CHARS:
                raise RRMError(f"{name} is longer than {MAX_FIELD_CHARS} characters", hint="shorten it")


def pairwise_judges() -> list[str]:
    """The shipped judges that can judge a pair (best-of-N judges cannot)."""
    out = []
    for name in builtin_judges():
        try:
            check_mode_fits(load_judge(name), "pairwise")
        except RRMError:
            continue
        out.append(name)
    return out


def verdict_for(order: str, verdict: Any) -> str | None:
    """Which answer (``A``/``B``/``tie``) a positional verdict prefers: in order ``BA`` answer B is shown first."""
    if verdict is None:
        return None
    if verdict == "tie":
        return "tie"
    first, second = ("A", "B") if order == "AB" else ("B", "A")
    return first if int(verdict) == 1 else second


class Playground:
    """A loaded model and a default judge; calls are serialised (a model is not assumed to be thread-safe)."""

    def __init__(self, model: Model | None, default_judge: str | None, model_spec: str | None = None) -> None:
        self.model = model
        self.model_spec = model_spec
        self.default_judge = default_judge
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model_spec if self.model is not None else None,
            "judge": self.default_judge,
            "judges": pairwise_judges(),
            "orders": list(PLAYGROUND_ORDERS),
            "streaming": "replayed",
        }

    def _judge(self, name: str | None) -> Judge:
        name = name or self.default_judge
        if not name:
            raise RRMError("no judge chosen", hint="pick a judge, or start `rrm-eval serve` with --judge NAME")
        if name not in builtin_judges() and name != self.default_judge:
            # Only shipped judges or the one the server was started with: the page must not open arbitrary paths.
            raise RRMError(f"unknown judge {name!r}", hint="pick one of the judges the page lists")
        judge = load_judge(name)
        check_mode_fits(judge, "pairwise")
        return judge

    def plan(self, inp: PlaygroundInput) -> tuple[Judge, Model, list[PlannedCall]]:
        if self.model is None:
            raise RRMError(
                "no model is loaded, so the playground cannot judge",
                hint="start the server with a model: rrm-eval serve RUNS_DIR --model SPEC --judge NAME "
                "(e.g. --model scripted:marker for a demo)",
            )
        inp.check()
        judge = self._judge(inp.judge)
        model = self.model
        mode_of(judge).check(judge, model)  # before any prompt is rendered, as runs do
        calls = []
        for order in PLAYGROUND_ORDERS[inp.order]:
            first, second = (inp.answer_a, inp.answer_b) if order == "AB" else (inp.answer_b, inp.answer_a)
            messages = judge.messages(inp.question, first, second)
            calls.append(PlannedCall("playground", "playground", order, messages, model.render(messages)))
        return judge, model, calls

    def stream(self, inp: PlaygroundInput) -> Iterator[dict[str, Any]]:
        """Events: ``start``, then per order ``prompt``, ``delta`` chunks of the raw output, ``verdict``; ``done``.
        A refusal raises before the first event (the caller answers it as a JSON error)."""
        judge, model, calls = self.plan(inp)
        return self._events(judge, model, calls, inp.seed)

    def _events(self, judge: Judge, model: Model, calls: list[PlannedCall], seed: int) -> Iterator[dict[str, Any]]:
        yield {
            "event": "start",
            "judge": judge.name,
            "mode": judge.mode,
            "orders": [c.order for c in calls],
            "streamed": "replayed",
            "note": "this backend returns finished outputs; the text is replayed in chunks",
        }
        params = judge.sampling_params(seed, n=1)
        for call in calls:
            yield {"event": "prompt", "order": call.order, "prompt": call.prompt}
            try:
                with self._lock:
                    records = [r for _, recs in judge_calls([call], judge, model, params, False) for r in recs]
            except RRMError as exc:
                yield {"event": "error", "order": call.order, "message": exc.message, "hint": exc.hint}
                continue
            for rec in records:
                for start in range(0, len(rec.raw), CHUNK_CHARS):
                    yield {"event": "delta", "order": call.order, "text": rec.raw[start : start + CHUNK_CHARS]}
                yield {
                    "event": "verdict",
                    "order": call.order,
                    "verdict": rec.verdict,
                    "prefers": verdict_for(call.order, rec.verdict),
                    "extracted": rec.extracted,
                    "failure": rec.failure,
                    "lenient": rec.lenient,
                    "finish_reason": rec.finish_reason,
                    "error": rec.error,
                }
        yield {"event": "done"}

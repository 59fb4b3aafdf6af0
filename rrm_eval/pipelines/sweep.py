"""Thinking-budget sweeps: accuracy per ``--think-budget`` at little more than the cost of the largest budget.

``think_budget_sweep`` runs the LARGEST budget as one ordinary pairwise run, then every smaller budget N as its own
pairwise run (its own identity, directory, records and summary with intervals, made by
:func:`rrm_eval.evaluate_pairwise`) whose model reuses the largest run's thinking instead of thinking again:

* the largest run's thinking cut at exactly N tokens (:meth:`Model.cut_to_tokens`) stands in for phase 1, so only
  the verdict phase is generated (``protocols/_reasoning.py::think_with_budget`` runs unchanged);
* where the largest run's thinking closed within N tokens, the record is the largest run's record (no call).

Why this is the same as a direct ``--think-budget N`` run: phase 1 of a direct run generates the first N tokens of
the same thinking (a greedy judge writes the same prefix; a sampled one draws a prefix from the same distribution,
since the first N tokens of a longer sample are a sample of N tokens). A derived run therefore has the identity a
direct run would have, and a later direct run resumes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.judges import load_judge
from rrm_eval.models import Completion, Driver, GenerateRequest, Message, Model, SamplingParams, load_model
from rrm_eval.pipelines.pairwise import PairwiseRunConfig, RunOutcome, evaluate_pairwise
from rrm_eval.protocols._modes import check_think_budget
from rrm_eval.runs import RECORDS, ProgressFactory, load_records

SWEEP_FILE = "sweep.json"


def parse_budgets(text: str) -> tuple[int, ...]:
    """``"512,1024,2048"`` -> ``(512, 1024, 2048)`` (sorted, duplicates refused); an :class:`RRMError` otherwise."""
    hint = "give comma-separated whole numbers >= 1, e.g. --think-budget 512,1024,2048,4096,8192"
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(not p for p in parts):
        raise RRMError(f"--think-budget {text!r}: an empty entry in the list", hint=hint)
    budgets = []
    for p in parts:
        if not p.isdigit() or int(p) < 1:
            raise RRMError(f"--think-budget {text!r}: {p!r} is not a whole number >= 1", hint=hint)
        budgets.append(int(p))
    if len(set(budgets)) != len(budgets):
        raise RRMError(f"--think-budget {text!r} names a budget twice", hint=hint)
    return tuple(sorted(budgets))


@dataclass(frozen=True)
class SweepConfig:
    """``run``: the pairwise run of every budget (its ``protocol.think_budget`` is replaced by each budget);
    ``budgets``: the thinking budgets, any order."""

    run: PairwiseRunConfig
    budgets: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.budgets or any(b < 1 for b in self.budgets):
            raise RRMError(f"a sweep needs thinking budgets >= 1, got {list(self.budgets)}")
        if len(set(self.budgets)) != len(self.budgets):
            raise RRMError(f"a sweep names a budget twice: {list(self.budgets)}")


@dataclass
class BudgetRow:
    budget: int
    run_dir: Path
    summary: dict[str, Any]
    #: The headline score (the task's ``overall``, else item accuracy) and its 95 % interval (None without one).
    accuracy: float | None
    interval: tuple[float, float] | None
    thinking_tokens: float  # mean thinking tokens per record
    cut_share: float  # records whose thinking the budget cut
    generated_tokens: int  # tokens this budget's run had to generate (the reused thinking is not generated)
    calls: int  # generation calls it made (phase-2 verdicts for a derived budget)
    records: int


@dataclass
class SweepOutcome:
    rows: list[BudgetRow] = field(default_factory=list)

    @property
    def largest(self) -> BudgetRow:
        return max(self.rows, key=lambda r: r.budget)

    @property
    def total_generated(self) -> int:
        return sum(r.generated_tokens for r in self.rows)

    @property
    def ratio(self) -> float | None:
        """Generation of the whole sweep over that of the largest budget alone (the target is at most 1.2)."""
        alone = self.largest.generated_tokens
        return self.total_generated / alone if alone else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "budgets": [
                {
                    "budget": r.budget,
                    "run_dir": str(r.run_dir),
                    "accuracy": r.accuracy,
                    "interval": list(r.interval) if r.interval else None,
                    "thinking_tokens": r.thinking_tokens,
                    "cut_share": r.cut_share,
                    "generated_tokens": r.generated_tokens,
                    "calls": r.calls,
                    "records": r.records,
                }
                for r in sorted(self.rows, key=lambda r: r.budget)
            ],
            "total_generated_tokens": self.total_generated,
            "largest_generated_tokens": self.largest.generated_tokens,
            "ratio_to_largest": self.ratio,
        }


class ReuseThinkingDriver(Driver):
    """Answers phase 1 of a budget-N run from a larger run's records (their text cut at N tokens), and passes every
    other request (verdict phases, calls the larger run has no usable record of) to the real model."""

    prefix = "reuse-thinking"
    description = "a larger thinking-budget run's thinking, cut to a smaller budget"

    def __init__(self, inner: Model, records: dict[str, dict[str, Any]], marker: str) -> None:
        super().__init__(inner.driver.target)
        self.inner, self.records, self.marker = inner, records, marker
        self.replayed = 0

    @property
    def name(self) -> str:
        return self.inner.name

    def describe(self) -> dict[str, Any]:
        return self.inner.driver.describe()

    def apply_chat_template(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        return self.inner.driver.apply_chat_template(messages, add_generation_prompt)

    def context_length(self) -> int | None:
        return self.inner.driver.context_length()

    def count_tokens(self, text: str) -> int | None:
        return self.inner.driver.count_tokens(text)

    def cut_to_tokens(self, text: str, n: int) -> tuple[str, int] | None:
        return self.inner.cut_to_tokens(text, n)

    def _replay(self, rec: dict[str, Any], n: int) -> Completion:
        raw = str(rec.get("raw") or "")
        cut, k = self.inner.cut_to_tokens(raw, n)
        if cut == raw or self.marker in cut:  # the larger run's thinking closed within n tokens: its record stands
            return Completion(raw, rec["finish_reason"], int(rec.get("prompt_tokens") or 0), rec["completion_tokens"])
        return Completion(cut, "length", int(rec.get("prompt_tokens") or 0), k)

    def generate(self, requests: list[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
        first = int(getattr(params, "first_sample", 0) or 0)
        out: list[list[Completion] | None] = []
        forward: list[int] = []
        for i, r in enumerate(requests):
            recs = [self.records.get(f"{r.key}|{first + s}") for s in range(params.n)]
            if all(x is not None and x.get("finish_reason") in ("stop", "length") and not x.get("error") for x in recs):
                out.append([self._replay(x, params.max_new_tokens) for x in recs if x is not None])
                self.replayed += 1
            else:
                out.append(None)
                forward.append(i)
        if forward:
            for i, group in zip(forward, self.inner.generate([requests[i] for i in forward], params), strict=True):
                out[i] = group
        return [g or [] for g in out]


def _budget_run(cfg: PairwiseRunConfig, budget: int) -> PairwiseRunConfig:
    run_dir = str(Path(cfg.run_dir) / f"think-{budget}") if cfg.run_dir else None
    run_name = f"{cfg.run_name}-think{budget}" if cfg.run_name else None
    return replace(cfg, protocol=replace(cfg.protocol, think_budget=budget), run_dir=run_dir, run_name=run_name)


def _judge_records(run_dir: Path) -> list[dict[str, Any]]:
    return load_records(run_dir / RECORDS, drop=("prompt",), kind="judge")


def _row(budget: int, outcome: RunOutcome, largest: dict[str, dict[str, Any]] | None) -> BudgetRow:
    """A budget's row, from its records alone (so a resumed sweep reports the same numbers)."""
    recs = _judge_records(outcome.run_dir)
    thinking = [int((r.get("meta") or {}).get("thinking_tokens") or 0) for r in recs]
    cut = [bool((r.get("meta") or {}).get("budget_cut")) for r in recs]
    if largest is None:  # the largest budget generated everything it holds (thinking and verdicts)
        generated = sum(int(r.get("completion_tokens") or 0) for r in recs)
        calls = len(recs) + sum(cut)
    else:
        generated, calls = 0, 0
        for r, t, c in zip(recs, thinking, cut, strict=True):
            if c:  # the thinking was the largest run's: only the verdict was generated
                generated += int(r.get("completion_tokens") or 0) - t
                calls += 1
            elif (largest.get(r["key"]) or {}).get("raw") != r.get("raw"):  # made anew (no usable larger record)
                generated += int(r.get("completion_tokens") or 0)
                calls += 1
    summary = outcome.summary
    scores, intervals = summary.get("scores") or {}, (summary.get("intervals") or {}).get("scores") or {}
    if isinstance(scores.get("overall"), float):
        acc, ci = scores["overall"], intervals.get("overall")
    else:
        acc, ci = summary.get("accuracy"), None
    n = max(1, len(recs))
    return BudgetRow(
        budget=budget,
        run_dir=outcome.run_dir,
        summary=summary,
        accuracy=acc,
        interval=(float(ci[0]), float(ci[1])) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None,
        thinking_tokens=sum(thinking) / n,
        cut_share=sum(cut) / n,
        generated_tokens=generated,
        calls=calls,
        records=len(recs),
    )


def think_budget_sweep(
    cfg: SweepConfig, progress: ProgressFactory | None = None, model: Model | None = None
) -> SweepOutcome:
    """Run (or resume) a thinking-budget sweep; see the module docstring. ``model``: used as is and not closed;
    otherwise the model of ``cfg.run`` is loaded once, after every check, and shared by all budgets."""
    budgets = sorted(cfg.budgets)
    judge = load_judge(cfg.run.judge)
    check_think_budget(judge, budgets[-1])  # a judge without a marker fails before any model loads
    own = model is None
    real = model if model is not None else load_model(cfg.run.model, **cfg.run.model_options)
    try:
        outcome = SweepOutcome()
        top = evaluate_pairwise(_budget_run(cfg.run, budgets[-1]), progress=progress, model=real)
        largest = {r["key"]: r for r in _judge_records(top.run_dir)}
        outcome.rows.append(_row(budgets[-1], top, None))
        reuse = Model(ReuseThinkingDriver(real, largest, judge.think_end or ""), spec=real.spec)
        reuse.chunk_size = real.chunk_size
        for budget in reversed(budgets[:-1]):
            done = evaluate_pairwise(_budget_run(cfg.run, budget), progress=progress, model=reuse)
            outcome.rows.append(_row(budget, done, largest))
        outcome.rows.sort(key=lambda r: r.budget)
    finally:
        if own:
            real.close()
    where = Path(cfg.run.run_dir) if cfg.run.run_dir else Path(cfg.run.output_dir)
    name = SWEEP_FILE if cfg.run.run_dir else f"sweep__{top.run_dir.name}.json"
    where.mkdir(parents=True, exist_ok=True)
    (where / name).write_text(json.dumps(outcome.to_dict(), indent=2) + "\n", encoding="utf-8")
    return outcome


__all__ = [
    "SWEEP_FILE",
    "BudgetRow",
    "ReuseThinkingDriver",
    "SweepConfig",
    "SweepOutcome",
    "parse_budgets",
    "think_budget_sweep",
]

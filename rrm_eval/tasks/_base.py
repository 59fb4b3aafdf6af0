"""Task interface and registry. A task turns a data source into items and owns its benchmark's scoring rule."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rrm_eval._errors import RRMError, UnknownNameError
from rrm_eval._registry import Registry
from rrm_eval.tasks._items import PairwiseItem


@dataclass(frozen=True)
class TaskOptions:
    """What selects the items: ``data`` (a local file, or None for the task's default source), ``subsets``,
    ``limit`` (first N items after subset filtering), ``skip_bad_rows`` and task-specific ``extra`` settings."""

    data: str | None = None
    subsets: tuple[str, ...] | None = None
    limit: int | None = None
    skip_bad_rows: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadedItems:
    items: list[PairwiseItem]
    source: str
    fingerprint: str
    dropped: dict[str, int] = field(default_factory=dict)


class PairwiseTask(ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: How an item's presentations combine into its score: a name in ``rrm_eval.scoring.ITEM_RULES`` ("mean":
    #: RewardBench's mean of the presentations' 1 / 0.5 / 0).
    item_rule: ClassVar[str] = "mean"

    @abstractmethod
    def load(self, options: TaskOptions) -> LoadedItems:
        """Read, validate and select the items."""

    def summarize(self, subset_accuracy: dict[str, float], subset_counts: dict[str, int]) -> dict[str, Any]:
        """Benchmark-level scores from per-subset accuracies (fractions in [0, 1]). Default: item-weighted mean."""
        total = sum(subset_counts.values())
        if not total:
            return {}
        overall = sum(subset_accuracy[s] * subset_counts[s] for s in subset_accuracy) / total
        return {"overall": overall}

    def results_file(self, summary: dict[str, Any], model: str, judge: str) -> dict[str, Any] | None:
        """An extra results JSON in a community format (e.g. reward-bench's), or None."""
        return None

    def item_scores_file(
        self, item_scores: Mapping[str, float], items: Sequence[PairwiseItem], model: str
    ) -> dict[str, Any] | None:
        """A per-item scores file in a community format (reward-bench's ``eval-set-scores``), or None."""
        return None

    def check_protocol(self, protocol: Any) -> None:  # noqa: B027 - optional hook
        """Refuse, before any model loads, a protocol the benchmark's official scoring cannot use."""


TASKS: Registry[PairwiseTask] = Registry("task")


def register_task(task: PairwiseTask) -> PairwiseTask:
    TASKS.add(task.name, task, task.description)
    return task


def check_limit(limit: int | None, flag: str = "--limit") -> None:
    """``--limit`` must keep at least one item: 0 or a negative number is a usage mistake, refused before any data is
    read (``items[:0]`` would run nothing and ``items[:-1]`` silently drop the last item)."""
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise RRMError(
            f"{flag} must be a whole number of at least 1, got {limit!r}",
            hint=f"pass {flag} N with N >= 1, or omit it to keep every item",
        )


def select(
    items: list[PairwiseItem], options: TaskOptions, known_subsets: list[str] | None = None, source: str = ""
) -> list[PairwiseItem]:
    """Apply ``--subsets`` and ``--limit`` (in that order) with clear errors for unknown subsets and for a selection
    that leaves nothing to judge (a run over zero items would print a score of nothing)."""
    check_limit(options.limit)
    where = f"{source}: " if source else ""
    present = sorted({i.subset for i in items})
    if options.subsets:
        valid = sorted(set(present) | set(known_subsets or []))
        unknown = [s for s in options.subsets if s not in valid]
        if unknown:
            raise UnknownNameError("subset", unknown[0], valid)
        wanted = set(options.subsets)
        items = [i for i in items if i.subset in wanted]
        if not items:
            raise RRMError(
                f"{where}--subsets {','.join(options.subsets)} leaves no items: the data has no rows in "
                f"{'that subset' if len(options.subsets) == 1 else 'those subsets'}",
                hint=f"subsets present in the data: {', '.join(present) or '(none)'}",
            )
    if not items:
        raise RRMError(
            f"{where}no items to judge: the data yields no valid pairs",
            hint="check that it is the right file for this task",
        )
    if options.limit is not None:
        items = items[: options.limit]
    return items

"""Task interface and registry. A task turns a data source into items and owns its benchmark's scoring rule."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rrm_eval._errors import RRMError
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


TASKS: Registry[PairwiseTask] = Registry("task")


def register_task(task: PairwiseTask) -> PairwiseTask:
    TASKS.add(task.name, task, task.description)
    return task


def select(
    items: list[PairwiseItem], options: TaskOptions, known_subsets: list[str] | None = None
) -> list[PairwiseItem]:
    """Apply ``--subsets`` and ``--limit`` (in that order) with clear errors for unknown subsets."""
    if options.subsets:
        present = sorted({i.subset for i in items} | set(known_subsets or []))
        unknown = [s for s in options.subsets if s not in present]
        if unknown:
            from rrm_eval._errors import UnknownNameError

            raise UnknownNameError("subset", unknown[0], present)
        wanted = set(options.subsets)
        items = [i for i in items if i.subset in wanted]
    if options.limit is not None:
        if options.limit < 1:
            raise RRMError(f"--limit must be at least 1, got {options.limit}")
        items = items[: options.limit]
    return items

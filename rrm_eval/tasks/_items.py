"""The units tasks produce: pairwise items (one chosen, one rejected) and candidate sets (N answers to rank)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PairwiseItem:
    """One judged pair. ``id`` is unique within a task; ``meta`` carries task-specific provenance (e.g. PPE question
    id and response indices) that is copied into every record."""

    id: str
    subset: str
    prompt: str
    chosen: str
    rejected: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Candidate:
    id: str
    text: str
    answer: str | None = None
    correct: bool | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class CandidateSet:
    """N candidate answers to one problem, for tournaments and best-of-N selection."""

    id: str
    question: str
    candidates: tuple[Candidate, ...]
    reference: str | None = None
    subset: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

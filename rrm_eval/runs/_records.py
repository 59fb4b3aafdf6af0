"""The judge-call record: one line of records.jsonl per call, written before anything is scored."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class JudgeRecord:
    """Everything needed to re-parse and re-score a judge call offline.

    ``order`` is how the pair was shown: ``"AB"`` = chosen first (position 1), ``"BA"`` = rejected first. For
    tournaments ``order`` names the candidates (``"c3>c5"`` = c3 first) and ``item_id`` the match. ``verdict`` is the
    preferred *position* (1, 2) or ``"tie"``; ``None`` with ``failure`` set when unreadable."""

    key: str
    item_id: str
    subset: str
    order: str
    sample: int
    judge: str
    prompt_hash: str
    raw: str
    finish_reason: str
    verdict: int | str | None
    failure: str | None = None
    lenient: str | None = None
    extracted: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    logprobs: list[float] | None = None
    error: str | None = None
    prompt: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JudgeRecord:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def record_key(item_id: str, order: str, sample: int) -> str:
    return f"{item_id}|{order}|{sample}"

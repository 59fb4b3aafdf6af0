"""Typed journal records, the same on write and on read: judge calls, samples, and tournament advancements."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from rrm_eval._errors import RRMError

R = TypeVar("R", bound="_Record")


class _Record:
    #: What the ``kind`` field of a journal line says; a reader refuses lines of another kind.
    KIND: ClassVar[str] = ""

    key: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.KIND, **asdict(self)}  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        kind = data.get("kind", cls.KIND)  # journals written before records carried a kind are judge/sample lines
        if kind != cls.KIND:
            raise RRMError(f"record {data.get('key')!r} is a {kind!r} record, not {cls.KIND!r}")
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class JudgeRecord(_Record):
    """Everything needed to re-parse and re-score a judge call offline.

    ``order`` is how the pair was shown: ``"AB"`` = chosen first (position 1), ``"BA"`` = rejected first. For
    tournaments ``order`` names the candidates (``"c3>c5"`` = c3 first) and ``item_id`` the match. ``verdict`` is the
    preferred *position* (1, 2) or ``"tie"``; ``None`` with ``failure`` (a :data:`rrm_eval.judges.FailureReason`)
    set when unreadable."""

    KIND: ClassVar[str] = "judge"

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


@dataclass
class SampleRecord(_Record):
    """One sampled completion of a prompt (candidate answers, teacher reasons, on-policy reasons)."""

    KIND: ClassVar[str] = "sample"

    key: str
    item_id: str
    sample: int
    text: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, item_id: str, sample: int, completion: Any, meta: dict[str, Any] | None = None) -> SampleRecord:
        """The record of sample ``sample`` of ``item_id``, from a :class:`rrm_eval.models.Completion`."""
        return cls(
            key=sample_key(item_id, sample),
            item_id=item_id,
            sample=sample,
            text=completion.text,
            finish_reason=completion.finish_reason,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            error=completion.error,
            meta=meta or {},
        )


@dataclass
class AdvanceRecord(_Record):
    """Who went on from a tournament match, written by the schedule when it decided it; scoring reads this line
    instead of deciding the match again."""

    KIND: ClassVar[str] = "advance"

    key: str
    item_id: str  # the match id
    set_id: str
    winner: str
    games: list[str] = field(default_factory=list)  # keys of the game records the decision was made from


def record_key(item_id: str, order: str, sample: int) -> str:
    return f"{item_id}|{order}|{sample}"


def sample_key(item_id: str, sample: int) -> str:
    return f"{item_id}|{sample}"


def advance_key(match_id: str) -> str:
    return f"{match_id}|advanced"

"""`rrm-eval train prepare`: preference pairs (Skywork-Reward-Preference-80K-v0.2 layout) -> judge prompts.

Source rows: ``chosen`` and ``rejected`` are message lists that share every turn but the last assistant turn
(REFERENCE.md). A row is kept when, in both lists, roles alternate user/assistant starting with user and ending with
assistant, no content is empty, the histories are identical and the last turns differ. Every drop is counted by
reason; a row of the wrong *shape* (not a message list) is a data error unless ``skip_bad_rows``.

Each kept pair becomes one judge prompt (skywork-critic judge) in one seeded order -- ``AB`` = chosen shown as
Assistant A (target ``[[A]]``), ``BA`` = chosen shown as B (target ``[[B]]``) -- or both orders with ``both_orders``.

Multi-turn histories: the judge prompt has one ``{question}`` slot, so a history of several turns is written into it
as tagged turns (``MULTI_TURN``), and the two answers are the candidates for the final assistant turn::

    [User Turn 1]
    ...
    [Assistant Turn 1]
    ...
    [User Turn 2]
    ...
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rrm_eval._errors import DataError, RRMError
from rrm_eval._seeding import coin, stable_hash
from rrm_eval.judges import Judge, load_judge
from rrm_eval.tasks import fingerprint_rows, load_hub, read_rows

from ._io import stats_path, write_json, write_jsonl

HUB_NAME = "Skywork/Skywork-Reward-Preference-80K-v0.2"
HUB_SPLIT = "train"
DROP_REASONS = ("roles_not_alternating", "empty_content", "histories_differ", "identical_answers", "duplicate")
LABELS = ("[[A]]", "[[B]]")


@dataclass(frozen=True)
class PrepareConfig:
    data: str | None = None  # local json/jsonl/parquet; None = the hub
    hub_name: str = HUB_NAME
    split: str = HUB_SPLIT
    judge: str = "skywork-critic"
    seed: int = 0
    both_orders: bool = False
    limit: int | None = None
    skip_bad_rows: bool = False

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise RRMError(f"--limit must be at least 1, got {self.limit}")


def render_question(history: list[dict[str, str]]) -> str:
    """The ``{question}`` text: the user message for one turn, else every turn tagged (the answers are the two
    candidates for the next assistant turn)."""
    if len(history) == 1:
        return history[0]["content"]
    parts = []
    for i, m in enumerate(history):
        who = "User" if m["role"] == "user" else "Assistant"
        parts.append(f"[{who} Turn {i // 2 + 1}]\n{m['content']}")
    return "\n\n".join(parts)


def _messages(source: str, row_no: int, row: dict[str, Any], field: str) -> list[dict[str, str]]:
    value = row.get(field)
    if isinstance(value, str):  # some exports store the message list as a JSON string
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise DataError(source, row_no, field, "a string that is not a JSON message list") from None
    if not isinstance(value, list) or not value:
        raise DataError(source, row_no, field, "expected a non-empty list of {role, content} messages")
    out = []
    for j, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise DataError(source, row_no, f"{field}[{j}]", "expected {'role': str, 'content': str}")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def validity(chosen: list[dict[str, str]], rejected: list[dict[str, str]]) -> str | None:
    """The drop reason of a pair, or None when it is kept (checks in REFERENCE.md order)."""
    for conv in (chosen, rejected):
        roles = [m["role"] for m in conv]
        expected = ["user" if i % 2 == 0 else "assistant" for i in range(len(roles))]
        if roles != expected or len(roles) % 2:
            return "roles_not_alternating"
    if any(not m["content"].strip() for m in chosen + rejected):
        return "empty_content"
    if chosen[:-1] != rejected[:-1]:
        return "histories_differ"
    if chosen[-1]["content"].strip() == rejected[-1]["content"].strip():
        return "identical_answers"
    return None


def prepare_rows(
    rows: list[dict[str, Any]], cfg: PrepareConfig, judge: Judge, source: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    dropped: Counter[str] = Counter()
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for row_no, row in enumerate(rows):
        try:
            chosen = _messages(source, row_no, row, "chosen")
            rejected = _messages(source, row_no, row, "rejected")
        except DataError:
            if not cfg.skip_bad_rows:
                raise
            dropped["malformed"] += 1
            continue
        reason = validity(chosen, rejected)
        pair_id = str(row["id"]) if row.get("id") is not None else "sky-" + stable_hash(chosen, rejected)[:12]
        if reason is None and pair_id in seen:
            reason = "duplicate"
        if reason:
            dropped[reason] += 1
            continue
        seen.add(pair_id)
        history, good, bad = chosen[:-1], chosen[-1]["content"], rejected[-1]["content"]
        question = render_question(history)
        if cfg.both_orders:
            orders = ["AB", "BA"]
        else:  # the same seeded coin as the pairwise protocol (`presentation_orders`)
            orders = ["BA" if coin("order", cfg.seed, pair_id) else "AB"]
        for order in orders:
            first, second = (good, bad) if order == "AB" else (bad, good)
            out.append(
                {
                    "id": f"{pair_id}-{order}",
                    "pair_id": pair_id,
                    "order": order,
                    "target": LABELS[0] if order == "AB" else LABELS[1],
                    "messages": judge.messages(question, first, second),
                    "turns": (len(history) + 1) // 2,
                    "source": row.get("source"),
                }
            )
    stats = {
        "source": source,
        "source_fingerprint": fingerprint_rows(rows),
        "rows_read": len(rows),
        "pairs_kept": len(seen),
        "rows_written": len(out),
        "dropped": {k: dropped[k] for k in (*DROP_REASONS, "malformed") if dropped[k]},
        "judge": judge.describe(),
        "multi_turn_pairs": sum(1 for r in out if r["turns"] > 1) // (2 if cfg.both_orders else 1),
        "config": asdict(cfg),
    }
    return out, stats


def run_prepare(cfg: PrepareConfig, out: str | Path) -> dict[str, Any]:
    judge = load_judge(cfg.judge)
    if judge.labels != LABELS:
        raise RRMError(
            f"judge {judge.name!r} answers {judge.labels}, but the training recipe uses [[A]]/[[B]] verdicts",
            hint="use --judge skywork-critic (or a judge file with labels [[A]], [[B]])",
        )
    if cfg.data:
        rows, source = read_rows(cfg.data), str(cfg.data)
    else:
        rows, source = load_hub(cfg.hub_name, cfg.split), f"{cfg.hub_name}:{cfg.split}"
    if cfg.limit is not None:
        if cfg.limit < 1:
            raise RRMError(f"--limit must be at least 1, got {cfg.limit}")
        rows = rows[: cfg.limit]
    prepared, stats = prepare_rows(rows, cfg, judge, source)
    if not prepared:
        raise RRMError(f"{source}: no valid pair among {len(rows)} rows", hint=f"drops by reason: {stats['dropped']}")
    write_jsonl(out, prepared)
    write_json(stats_path(out), stats)
    return stats

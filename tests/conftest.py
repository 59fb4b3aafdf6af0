"""Shared fixtures. Tests never touch the network; the hub is switched off for every test."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SAMPLE, read_jsonl, write_jsonl


@pytest.fixture
def sample_rows() -> list[dict]:
    return read_jsonl(SAMPLE)


@pytest.fixture
def marked_pairs(tmp_path: Path) -> Path:
    """A small RewardBench-shaped file whose chosen answers contain GOOD (the scripted `marker` judge finds them)."""
    rows = []
    subsets = ["alpacaeval-easy", "mt-bench-hard", "donotanswer", "math-prm", "hep-go"]
    for n in range(40):
        rows.append(
            {
                "id": n,
                "subset": subsets[n % len(subsets)],
                "prompt": f"Question {n}?",
                "chosen": f"GOOD answer {n}",
                "rejected": f"poor answer {n}",
            }
        )
    return write_jsonl(tmp_path / "pairs.jsonl", rows)

"""Content-derived randomness.

Every random choice in rrm-eval is seeded from a hash of *what* it is about (an item id, a match id) plus the user's
seed, never from Python's salted ``hash()`` or from global RNG state. The same choice is therefore made in every
process, in any order, with any number of workers.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any


def stable_hash(*parts: Any) -> str:
    """Hex SHA-256 of the parts, joined unambiguously (JSON), so ("a","bc") != ("ab","c")."""
    payload = json.dumps([str(p) for p in parts], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def stable_seed(*parts: Any) -> int:
    """A 63-bit integer seed derived from the parts."""
    return int(stable_hash(*parts)[:16], 16) & ((1 << 63) - 1)


def stable_rng(*parts: Any) -> random.Random:
    """A private ``random.Random`` seeded from the parts."""
    return random.Random(stable_seed(*parts))


def coin(*parts: Any) -> bool:
    """A fair, reproducible coin flip for the given content."""
    return stable_seed(*parts) % 2 == 1


def text_hash(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]

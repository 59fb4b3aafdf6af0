"""Run directory names: readable settings, then the fingerprint that identifies the run."""

from __future__ import annotations

import re


def slug(text: str) -> str:
    text = text.rstrip("/").split("/")[-1] or text
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "model"


__all__ = ["slug"]

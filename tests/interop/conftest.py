"""The interop tests run in reward-bench's own venv (scripts/setup_rewardbench.sh). The `rewardbench` marker is
registered here too, so `pytest -m rewardbench tests/interop` works under --strict-markers even before pyproject's
markers list names it."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rewardbench: needs the rewardbench package (its own venv, see .ci/run)")

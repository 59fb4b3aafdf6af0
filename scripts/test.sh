#!/usr/bin/env bash
# Set up .venv, then run the test suite (unit, end-to-end with the scripted backend, real-model tests on CPU).
# Extra arguments go to pytest (e.g. -m "not slow" for the quick subset).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Lint and type checks (run by .ci/run): ruff lint + format check over the repo; mypy --strict on the runner core
# (models, judges, runs, scoring) and the default mypy checks on the layers above it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy --strict rrm_eval/models rrm_eval/judges rrm_eval/runs rrm_eval/scoring
.venv/bin/mypy rrm_eval/protocols rrm_eval/pipelines rrm_eval/cli rrm_eval/tasks rrm_eval/__init__.py rrm_eval/_public.py
.venv/bin/mypy --strict --follow-imports=silent rrm_eval/app rrm_eval/report
echo "lint and types: clean"

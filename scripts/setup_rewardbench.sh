#!/usr/bin/env bash
# Build reward-bench (PyPI `rewardbench`) in a venv of its own and run the interop tests there: reward-bench's own
# scoring functions, fed with our per-item results, must give the numbers we print.
#
#   scripts/setup_rewardbench.sh [build|test|all]      (default: all)
#
# Why a separate venv: rewardbench 0.1.4 pins transformers==4.51.0 (and pulls trl, fschat, wandb, bitsandbytes...),
# which must not move the core venv's transformers. The venv holds torch (CPU wheel, installed FIRST so that pip does
# not resolve a multi-GB CUDA build for rewardbench's unpinned `torch`), rewardbench, and this repo installed with
# --no-deps plus only what our scoring path and CLI import (numpy, rich, tqdm) and pytest.
#
# Idempotent, like scripts/setup_engines.sh: a venv whose stamp (python + pins) matches and where `import rewardbench`
# works is reused; only the editable install of this checkout is refreshed (a fresh CI clone lives at a new path).
#
# Environment: RRM_ENGINES_DIR (default ~/.cache/rrm-eval/engines), PYTHON (base interpreter, default python3.11 or
# python3), PYTEST_ARGS (extra pytest arguments for the test step).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENGINES_DIR="${RRM_ENGINES_DIR:-$HOME/.cache/rrm-eval/engines}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
VENV="$ENGINES_DIR/rewardbench"

TORCH_PIN="torch==2.13.0"      # CPU wheel on this disk; first, or pip pulls a CUDA build (REFERENCE.md)
REWARDBENCH_PIN="rewardbench==0.1.4"
# What our side of the interop test imports: rrm_eval's core is stdlib-only at import time; the CLI prints with rich
# and tqdm; numpy is already there through rewardbench (datasets), listed so the intent is explicit.
CORE_EXTRAS="numpy rich tqdm pytest"

mode="${1:-all}"
if [[ ! "$mode" =~ ^(build|test|all)$ ]]; then
    echo "usage: $0 [build|test|all]" >&2
    exit 2
fi

log() { printf '[setup_rewardbench %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

build() {
    local t0 stamp
    t0=$(date +%s)
    stamp="$("$PYTHON" -V 2>&1) $TORCH_PIN $REWARDBENCH_PIN $CORE_EXTRAS"
    if [[ -f "$VENV/.rrm-stamp" && "$(cat "$VENV/.rrm-stamp")" == "$stamp" ]] &&
        "$VENV/bin/python" -c "import rewardbench" 2>/dev/null; then
        log "reusing $VENV"
    else
        log "building $VENV"
        rm -rf "$VENV"
        mkdir -p "$ENGINES_DIR"
        "$PYTHON" -m venv "$VENV"
        local pip=("$VENV/bin/pip" install -q --disable-pip-version-check)
        "${pip[@]}" "$TORCH_PIN"
        "${pip[@]}" "$TORCH_PIN" "$REWARDBENCH_PIN"
        # Our extras must not move reward-bench's pins (transformers 4.51.0 above all).
        "$VENV/bin/pip" freeze | grep -iE '^(torch|transformers|rewardbench|numpy|datasets)==' >"$VENV/.pins"
        "${pip[@]}" -c "$VENV/.pins" $CORE_EXTRAS
        echo "$stamp" >"$VENV/.rrm-stamp"
    fi
    # Refresh the editable install without dependencies: the core's own pins (transformers>=4.46, ...) stay out.
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e "$REPO"
    log "ready in $(($(date +%s) - t0)) s"
}

run_tests() {
    log "pytest -m rewardbench tests/interop"
    (cd "$REPO" && env HF_HUB_OFFLINE=1 "$VENV/bin/python" -m pytest -m rewardbench -p no:cacheprovider \
        ${PYTEST_ARGS:-} tests/interop)
}

if [[ "$mode" == build || "$mode" == all ]]; then
    build
fi
if [[ "$mode" == test || "$mode" == all ]]; then
    run_tests
fi

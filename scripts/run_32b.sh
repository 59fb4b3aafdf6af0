#!/usr/bin/env bash
# Evaluate RRM-32B the way the published runs did: bash scripts/run_32b.sh <seed> <round> <dataset>
# (dataset: rewardbench | MMLU | GPQA | MATH). `bash scripts/run_32b.sh --help` lists the environment overrides.
set -euo pipefail
RRM_SIZE=32b
RRM_DEFAULT_MODEL="vllm:Reward-Reasoning/RRM-32B"
RRM_DEFAULT_GPUS=2 # the published runs used two GPUs (tensor parallel); NUM_GPUS=1 on one large-memory GPU
# shellcheck source=_run_common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/_run_common.sh"
rrm_run "$@"

#!/usr/bin/env bash
# Evaluate RRM-7B the way the published runs did: bash scripts/run_7b.sh <seed> <round> <dataset>
# (dataset: rewardbench | MMLU | GPQA | MATH). `bash scripts/run_7b.sh --help` lists the environment overrides.
set -euo pipefail
RRM_SIZE=7b
RRM_DEFAULT_MODEL="vllm:Reward-Reasoning/RRM-7B"
RRM_DEFAULT_GPUS="" # one GPU holds the 7B model; NUM_GPUS=2 matches the published tensor-parallel setting
# shellcheck source=_run_common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/_run_common.sh"
rrm_run "$@"

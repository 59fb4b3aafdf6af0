#!/usr/bin/env bash
# Set up .venv, then judge the bundled real RewardBench sample (441 pairs, all 23 subsets) with the embedded
# SmolLM2-135M-Instruct on the CPU, and print per-subset accuracy, the four section scores and the overall score.
# Extra arguments go to `rrm-eval pairwise` (e.g. --limit 50, --judge rrm --max-new-tokens 256, --order both).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/rrm-eval pairwise --dataset rewardbench-sample --model smollm2 --judge logprob --seed 0 "$@"

# shellcheck shell=bash
# Shared body of run_7b.sh and run_32b.sh (sourced, not run). The caller sets
#   RRM_SIZE           7b | 32b (goes into the run name)
#   RRM_DEFAULT_MODEL  the published checkpoint's model spec
#   RRM_DEFAULT_GPUS   tensor-parallel degree used when NUM_GPUS is unset ("" = the driver's default, one GPU)
# and then calls:  rrm_run "$@"
#
# Published settings (RRM evaluation, LMOps RRM-evaluation/scripts/run_{7b,32b}.sh at commit c81974c; REFERENCE.md):
# rrm judge, temperature 0.6, top_p 1, 8192 new tokens, one random presentation order per pair seeded by <seed>
# ("with_shuffle"). Unlike the published scripts, <dataset> is always honoured and the run name follows it.

rrm_usage() {
  cat <<EOF
usage: $(basename "$0") [--dry-run] <seed> <round> <dataset>

  seed      integer; seeds the random presentation order of every pair
  round     1..5 for MMLU, GPQA and MATH (round r = pair r-1 of every prompt, 512 pairs);
            for rewardbench it only names the run
  dataset   rewardbench | MMLU | GPQA | MATH (case-insensitive; MMLU is PPE MMLU-Pro)

Runs the published ${RRM_SIZE} setting and writes \$RESULTS_DIR/<run name>/ (records.jsonl, summary.json, ...),
run name {MATH|MMLU|GPQA|RewardBench}_${RRM_SIZE}_round_<round>_seed_<seed>_with_shuffle. Running the same command
again resumes the run; finished records are never recomputed or lost.

environment:
  RRM_MODEL     model spec (default ${RRM_DEFAULT_MODEL}); any spec works, e.g. hf:PATH, scripted:marker, smollm2
  NUM_GPUS      tensor-parallel degree for vllm: specs (default ${RRM_DEFAULT_GPUS:-driver default})
  PPE_DATA_DIR  folder with local PPE copies (MATH.jsonl, MMLU.parquet, PPE-GPQA-Best-of-K.json, ...; see docs/ppe.md)
  RB_DATA       local RewardBench file (json/jsonl/parquet, split filtered)
  RESULTS_DIR   parent folder of run directories (default results, relative to the current directory)
  RRM_EVAL      the rrm-eval command (default rrm-eval, or "python3 -m rrm_eval" when that is not installed)
  EXTRA_ARGS    more rrm-eval options, appended last so they override (split on spaces), e.g. "--judge logprob"
  DRY_RUN=1     print the resolved command and exit (same as --dry-run)
EOF
}

rrm_die() {
  echo "error: $1" >&2
  if [ -n "${2:-}" ]; then echo "hint: $2" >&2; fi
  exit 2
}

rrm_run() {
  local dry_run="${DRY_RUN:-0}"
  local -a positional=()
  local arg
  for arg in "$@"; do
    case "$arg" in
      --dry-run) dry_run=1 ;;
      -h | --help)
        rrm_usage
        return 0
        ;;
      -*) rrm_die "unknown option '$arg'" "usage: $(basename "$0") [--dry-run] <seed> <round> <dataset>" ;;
      *) positional+=("$arg") ;;
    esac
  done
  if [ "${#positional[@]}" -ne 3 ]; then
    rrm_usage >&2
    exit 2
  fi
  local seed="${positional[0]}" round="${positional[1]}" dataset="${positional[2]}"
  [[ "$seed" =~ ^[0-9]+$ ]] || rrm_die "seed must be a non-negative integer, got '$seed'"
  [[ "$round" =~ ^[0-9]+$ ]] || rrm_die "round must be a number, got '$round'"
  seed=$((10#$seed))
  round=$((10#$round)) # "03" -> 3, so the run name is canonical

  local label
  case "$(printf '%s' "$dataset" | tr '[:upper:]' '[:lower:]')" in
    rewardbench) label=RewardBench ;;
    math) label=MATH ;;
    mmlu | mmlu-pro) label=MMLU ;;
    gpqa) label=GPQA ;;
    *) rrm_die "unknown dataset '$dataset'" "use one of: rewardbench, MMLU, GPQA, MATH" ;;
  esac
  if [ "$label" != RewardBench ] && { [ "$round" -lt 1 ] || [ "$round" -gt 5 ]; }; then
    rrm_die "round $round is outside 1..5" "PPE $label has five published pairs per prompt: use a round from 1 to 5"
  fi

  local model="${RRM_MODEL:-$RRM_DEFAULT_MODEL}"
  local results="${RESULTS_DIR:-results}"
  local run_name="${label}_${RRM_SIZE}_round_${round}_seed_${seed}_with_shuffle"

  local -a cmd
  if [ -n "${RRM_EVAL:-}" ]; then
    read -r -a cmd <<<"$RRM_EVAL"
  elif command -v rrm-eval >/dev/null 2>&1; then
    cmd=(rrm-eval)
  else
    cmd=(python3 -m rrm_eval)
  fi
  if [ "$label" = RewardBench ]; then
    cmd+=(pairwise --task rewardbench)
    if [ -n "${RB_DATA:-}" ]; then cmd+=(--data "$RB_DATA"); fi
  else
    cmd+=(ppe --subset "$label" --round "$round")
    if [ -n "${PPE_DATA_DIR:-}" ]; then cmd+=(--data "$PPE_DATA_DIR"); fi
  fi
  cmd+=(--model "$model" --judge rrm --temperature 0.6 --top-p 1.0 --max-new-tokens 8192)
  cmd+=(--order random --seed "$seed" --output-dir "$results" --run-name "$run_name")

  local gpus="${NUM_GPUS:-$RRM_DEFAULT_GPUS}"
  if [ -n "$gpus" ]; then
    [[ "$gpus" =~ ^[1-9][0-9]*$ ]] || rrm_die "NUM_GPUS must be a positive integer, got '$gpus'"
    case "$model" in
      vllm:*) cmd+=(--model-opt "tensor_parallel_size=$gpus") ;;
      *) if [ -n "${NUM_GPUS:-}" ]; then echo "note: NUM_GPUS applies to vllm: specs only; ignored for '$model'" >&2; fi ;;
    esac
  fi
  local -a extra=()
  if [ -n "${EXTRA_ARGS:-}" ]; then read -r -a extra <<<"$EXTRA_ARGS"; fi
  cmd+=(${extra[@]+"${extra[@]}"})

  echo "Running with run_name=${run_name}"
  if [ "$dry_run" = 1 ]; then
    printf '%q ' "${cmd[@]}"
    printf '\n'
    return 0
  fi
  command -v "${cmd[0]}" >/dev/null 2>&1 ||
    rrm_die "cannot run '${cmd[0]}'" "pip install -e . (or set RRM_EVAL to the rrm-eval command)"
  # Create the output folders before any model is loaded (the published scripts crashed after generation), and keep
  # every command that wrote into this run next to its records.
  mkdir -p "$results/$run_name"
  {
    printf '%s  ' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '%q ' "${cmd[@]}"
    printf '\n'
  } >>"$results/$run_name/commands.log"
  "${cmd[@]}"
}

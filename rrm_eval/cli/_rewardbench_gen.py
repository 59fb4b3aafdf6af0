"""`rrm-eval rewardbench-gen`: reward-bench's ``scripts/run_generative.py`` / ``run_generative_v2.py`` flags, mapped
onto `rrm-eval pairwise` (RewardBench v1) or `rrm-eval bestof` (RewardBench 2: the 4-way ranking prompt, or the
per-answer ratings with ``--score_w_ratings``), so a reward-bench user swaps the command name and keeps the flags.

The flags are the ones reward-bench 0.1.4 defines (``get_args`` in both scripts). Each is translated into the
arguments of that command; the equivalent command is printed first, then run through the same code. A flag
that would change what is measured and has no counterpart here is refused (an error naming it); a flag that only
concerns reward-bench's machinery (uploads, Beaker, threads) is accepted with a note saying why it does nothing.

What reward-bench does and the translation keeps: a non-API ``--model`` runs locally on vLLM (``vllm:M``; or
``hf:M`` with ``--backend hf``), greedy decoding with 2,048 new tokens, one random presentation order per pair, a
parse failure scored 0.5 (our ``--failure-policy tie``), the MT-Bench-style ``[[A]]``/``[[B]]`` verdict (our
``mt-bench`` judge; its wording is ours, not reward-bench's ``prompt_v2``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from rrm_eval._errors import RRMError

#: Model spec prefixes that already name one of our backends: kept as given.
_OUR_PREFIXES = ("hf:", "vllm:", "openai:", "llamacpp:", "scripted:")
#: Name prefixes of reward-bench's API models (its OPENAI/ANTHROPIC/GEMINI lists): we call no provider API directly.
_API_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt-", "claude-", "gemini-")
#: Model-name substrings for which reward-bench switches to another judge prompt (run_generative.py).
_MODIFIERS = ("prometheus", "Con-J", "OffsetBias", "Atla", "gemini", "RISE-Judge")
#: reward-bench's vLLM SamplingParams(max_tokens=2048) in both scripts.
_MAX_TOKENS = 2048
#: reward-bench's --debug keeps the first 10 examples (v2: 10 non-Ties + 10 Ties).
_DEBUG_ITEMS = 10
#: --dataset hub names -> our task.
_HUB_TASKS = {"allenai/reward-bench": "rewardbench", "allenai/reward-bench-2": "rewardbench2"}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "rewardbench-gen",
        help="reward-bench's run_generative.py flags, run as `rrm-eval pairwise`",
        description="Take reward-bench's run_generative.py / run_generative_v2.py flags, print the equivalent "
        "`rrm-eval pairwise` command, and run it. Flags without a meaning here are refused or noted.",
    )
    rb = p.add_argument_group("reward-bench flags (run_generative.py / run_generative_v2.py)")
    rb.add_argument("--model", nargs="+", required=True, help="model name or path (one; a list is a PoLL ensemble)")
    rb.add_argument("--dataset", help="v2: hub name (allenai/reward-bench-2) or a local data file")
    rb.add_argument("--chat_template", help="fastchat template name: refused (we use the model's own template)")
    rb.add_argument("--trust_remote_code", action="store_true", help="hf backend: run the repository's own code")
    rb.add_argument("--score_w_ratings", action="store_true", help="ratings instead of pairwise: refused here")
    rb.add_argument("--num_gpus", type=int, default=1, help="vLLM tensor_parallel_size")
    rb.add_argument("--vllm_gpu_util", type=float, help="vLLM gpu_memory_utilization")
    rb.add_argument("--do_not_save", action="store_true", help="no upload: we never upload (noted)")
    rb.add_argument("--pref_sets", action="store_true", help="reward-bench's prior preference sets: refused")
    rb.add_argument("--debug", action="store_true", help=f"first {_DEBUG_ITEMS} items (--limit {_DEBUG_ITEMS})")
    rb.add_argument("--num_threads", type=int, help="API threads: max_concurrency for openai: models, else noted")
    rb.add_argument("--disable_beaker_save", action="store_true", help="no Beaker metrics file here (noted)")
    rb.add_argument("--force_local", action="store_true", help="run locally: we always do (noted)")
    ours = p.add_argument_group("rrm-eval additions")
    ours.add_argument("--backend", choices=("vllm", "hf"), default="vllm", help="engine for a bare model name")
    ours.add_argument(
        "--judge",
        help="judge (default: mt-bench for v1, reward-bench's verdict format; rb2-listwise / rb2-ratings for v2)",
    )
    ours.add_argument("--data", help="v1: local RewardBench file instead of the hub")
    ours.add_argument("--seed", type=int, help="seed of the presentation orders (default 0)")
    ours.add_argument("--model-opt", action="append", default=[], metavar="KEY=VALUE", help="backend option")
    ours.add_argument("--output-dir", help="parent folder of run directories (default runs/)")
    ours.add_argument("--run-dir", help="exact run directory")
    ours.add_argument("--quiet", action="store_true", help="no progress bar")
    ours.add_argument("--dry-run", action="store_true", help="print the equivalent command and stop")
    p.set_defaults(func=run)


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


def _model_spec(args: argparse.Namespace) -> str:
    if len(args.model) > 1:
        raise RRMError(
            f"--model {' '.join(args.model)}: a list of models is reward-bench's PoLL ensemble, which rrm-eval does "
            "not run",
            hint="run each model on its own with rrm-eval rewardbench-gen --model M",
        )
    model: str = args.model[0]
    if model.startswith(_OUR_PREFIXES) or model == "smollm2":
        return model
    if "/" not in model and model.lower().startswith(_API_PREFIXES) and not args.force_local:
        raise RRMError(
            f"--model {model}: reward-bench calls this provider's API itself; rrm-eval talks to any "
            "OpenAI-compatible endpoint instead",
            hint=f"pass --model openai:https://api.openai.com/v1#{model} (the key comes from OPENAI_API_KEY), or "
            "--force_local to load it as a local model",
        )
    hits = [m for m in _MODIFIERS if m in model]
    if hits:
        _note(
            f"reward-bench gives {model} its own '{hits[0]}' judge prompt; here the judge is --judge "
            "(default mt-bench), so scores may differ from reward-bench's"
        )
    return f"{args.backend}:{model}"


def _task(args: argparse.Namespace) -> list[str]:
    if args.pref_sets:
        raise RRMError(
            "--pref_sets: reward-bench's prior preference sets (allenai/pref-test-sets) are not a task here",
            hint="drop --pref_sets to score the RewardBench core set",
        )
    if args.dataset is None:
        return ["--dataset", "rewardbench", *(["--data", args.data] if args.data else [])]
    if args.data:
        raise RRMError("--dataset and --data both name the data", hint="give one of them")
    if args.dataset in _HUB_TASKS:
        return ["--dataset", _HUB_TASKS[args.dataset]]
    if Path(args.dataset).is_file():
        from rrm_eval.tasks._detect import detect_task

        task = detect_task(args.dataset)
        if task is None:
            raise RRMError(
                f"--dataset {args.dataset}: its columns match no benchmark rrm-eval scores",
                hint="RewardBench v1 needs id, subset, prompt, chosen, rejected; RewardBench 2 a list in chosen",
            )
        return ["--dataset", task, "--data", args.dataset]
    raise RRMError(
        f"--dataset {args.dataset}: neither a known hub dataset nor a file",
        hint=f"use one of {', '.join(_HUB_TASKS)}, or the path of a local data file",
    )


def translate(args: argparse.Namespace) -> list[str]:
    """The `rrm-eval pairwise` (v1) or `rrm-eval bestof` (v2) arguments, without the command name, equivalent to these
    reward-bench flags."""
    if args.chat_template:
        raise RRMError(
            f"--chat_template {args.chat_template}: a fastchat template changes the prompt, and rrm-eval renders "
            "with the model's own chat template",
            hint="drop --chat_template, or give a jinja template file with --model-opt chat_template=FILE",
        )
    task = _task(args)
    v2 = task[1].startswith("rewardbench2")
    if args.score_w_ratings and not v2:
        raise RRMError(
            "--score_w_ratings: reward-bench's ratings mode (each answer rated 1-10 alone) is its RewardBench 2 mode; "
            "RewardBench v1 is judged in pairs here, and ratings would change every score",
            hint="drop --score_w_ratings for v1; with --dataset allenai/reward-bench-2 it selects the ratings mode",
        )
    if args.num_gpus < 1:
        raise RRMError(f"--num_gpus {args.num_gpus}: needs at least 1", hint="pass --num_gpus N with N >= 1")
    spec = _model_spec(args)
    if v2:  # run_generative_v2.py: one 4-way ranking prompt, or per-answer ratings with --score_w_ratings
        mode = "ratings" if args.score_w_ratings else "listwise"
        judge = args.judge or ("rb2-ratings" if mode == "ratings" else "rb2-listwise")
        out = [*task, "--model", spec, "--rb2-mode", mode, "--judge", judge]
    else:
        out = [*task, "--model", spec, "--judge", args.judge or "mt-bench"]
    opts: list[str] = []
    if args.num_gpus > 1:
        if not spec.startswith("vllm:"):
            raise RRMError(
                f"--num_gpus {args.num_gpus}: only the vLLM backend shards a model over GPUs (model {spec})",
                hint="use --backend vllm, or drop --num_gpus",
            )
        opts.append(f"tensor_parallel_size={args.num_gpus}")
    if args.vllm_gpu_util is not None:
        if spec.startswith("vllm:"):
            opts.append(f"gpu_memory_utilization={args.vllm_gpu_util}")
        else:
            _note(f"--vllm_gpu_util is for vLLM only; ignored for {spec}")
    if args.trust_remote_code:
        if not spec.startswith("hf:"):
            raise RRMError(
                f"--trust_remote_code: only the transformers backend takes it here (model {spec})",
                hint="add --backend hf to load the model with transformers and its own code",
            )
        opts.append("trust_remote_code=true")
    if args.num_threads is not None:
        if spec.startswith("openai:"):
            opts.append(f"max_concurrency={args.num_threads}")
        else:
            _note("--num_threads sets reward-bench's API threads; a local engine batches on its own (ignored)")
    opts += args.model_opt
    for opt in opts:
        out += ["--model-opt", opt]
    # reward-bench's decoding and scoring: greedy, 2,048 new tokens, one random order per pair (v1), an unreadable
    # answer scored as a tie (v1: 0.5) or chance (v2: 0.25).
    out += ["--temperature", "0", "--max-new-tokens", str(_MAX_TOKENS), "--failure-policy", "tie"]
    if not v2:
        out += ["--order", "random"]
    if args.seed is not None:
        out += ["--seed", str(args.seed)]
    if args.debug:
        _note(f"--debug: the first {_DEBUG_ITEMS} items only, as reward-bench's debug run")
        out += ["--limit", str(_DEBUG_ITEMS)]
    if args.do_not_save:
        _note("--do_not_save: rrm-eval never uploads; the run is written to its local run directory as always")
    if args.disable_beaker_save:
        _note("--disable_beaker_save: rrm-eval writes no Beaker metrics file (/output/metrics.json)")
    if args.force_local:
        _note("--force_local: rrm-eval always runs the model where --model says (here: locally)")
    for flag, value in (("--output-dir", args.output_dir), ("--run-dir", args.run_dir)):
        if value:
            out += [flag, value]
    if args.quiet:
        out.append("--quiet")
    return out


def run(args: argparse.Namespace) -> int:
    from rrm_eval.cli import _pairwise, _rewardbench2

    argv = translate(args)
    command, module = ("bestof", _rewardbench2) if "--rb2-mode" in argv else ("pairwise", _pairwise)
    print("equivalent: " + shlex.join(["rrm-eval", command, *argv]), flush=True)
    if args.dry_run:
        return 0
    parser = argparse.ArgumentParser(prog="rrm-eval")
    module.add_parser(parser.add_subparsers(dest="command"))
    parsed = parser.parse_args([command, *argv])
    return int(parsed.func(parsed) or 0)

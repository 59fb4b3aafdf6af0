"""`rrm-eval candidates`: sample N solutions per problem with a policy model and write a graded candidate set."""

from __future__ import annotations

import argparse

from rrm_eval import COT_SYSTEM, CandidateGenConfig, generate_candidates
from rrm_eval.cli._common import (
    add_model_options,
    add_output_options,
    model_options,
    nonnegative_float,
    pct,
    positive_int,
    probability,
    progress_factory,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "candidates",
        help="sample N answers per problem with a policy model, grade them (math-verify), write a candidate set",
        description="Build best-of-N candidate sets for `rrm-eval tournament`; resumable; writes runs/<run>/.",
    )
    p.add_argument("--problems", required=True, help="json/jsonl/parquet with id, question/problem, answer/solution")
    p.add_argument("--output", help="candidate-set jsonl to write (default RUN_DIR/candidate_sets.jsonl)")
    p.add_argument(
        "--n", type=positive_int, default=8, help="samples per problem (default 8, as the published MATH sets)"
    )
    p.add_argument("--temperature", type=nonnegative_float, default=0.6, help="sampling temperature (default 0.6)")
    p.add_argument("--top-p", type=probability, default=1.0, help="nucleus sampling (default 1.0)")
    p.add_argument(
        "--max-new-tokens", type=positive_int, default=2048, help="generation budget per sample (default 2048)"
    )
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument(
        "--system",
        default=COT_SYSTEM,
        help="system prompt (default: the Qwen2.5-Math chain-of-thought prompt); '' for none",
    )
    p.add_argument("--limit", type=positive_int, help="first N problems")
    add_model_options(p)
    add_output_options(p, run_name=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = CandidateGenConfig(
        model=args.model,
        problems=args.problems,
        output=args.output,
        n=args.n,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        system=args.system or None,
        limit=args.limit,
        model_options=model_options(args),
        output_dir=args.output_dir,
        run_dir=args.run_dir,
    )
    outcome = generate_candidates(cfg, progress=progress_factory(args.quiet, unit="problem"))
    s = outcome.summary
    print(
        f"{s['problems']} problems x {args.n} samples: single-sample accuracy {pct(s['single_sample_accuracy'])}%, "
        f"oracle {pct(s['oracle_accuracy'])}%, no boxed answer {pct(s['no_answer_rate'])}%, "
        f"truncated {pct(s['truncation_rate'])}%, {s['completion_tokens']} tokens"
    )
    print(f"candidate sets: {outcome.output}")
    print(f"run directory: {outcome.run_dir}")
    return 0

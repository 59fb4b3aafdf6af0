#!/usr/bin/env python
"""Votes and tokens saved by early-stop voting (``--votes k --early-stop``), with a simulated judge of known accuracy.

Every number comes from the REAL code path: ``rrm_eval.protocols.run_pairwise`` plans the prompts, draws the votes in
waves through the judge mode and the model wrapper, and journals them; ``rrm_eval.scoring`` reads the verdicts back.
Only the model is simulated: a scripted driver whose vote on a presentation picks the better response (the one
marked GOOD) with probability ``q_i``, independently per vote, seeded from (seed, absolute vote index, prompt) —
so a vote drawn in wave 2 is the same vote a full-k run draws.

Two models of the presentations' difficulty:

* ``same``: every presentation has ``q_i = q`` (the issue's "a judge whose votes agree with its majority a fraction q
  of the time");
* ``mixed``: ``q_i ~ Beta(4 q, 4 (1 - q))`` per presentation (mean q; some presentations are near coin flips or
  even mostly wrong, as real judges' hard items are), drawn from a hash of the prompt.

For each k and q it runs full k, ``exact`` and ``conf=0.95`` on the same presentations and prints: mean votes per
presentation, the saving vs k, the exact rule's distance to the floor ``(k/2 + 1) / q`` (a side needs k/2 + 1 votes;
a vote agrees with the majority a fraction q of the time), whether its verdicts equal full k's, and the confidence
rule's accuracy change (points of presentation accuracy against the known better response).

    python bench/bench_voting.py              # 2,000 presentations per cell (~3 min on 2 busy cores)
    python bench/bench_voting.py --quick      # 400
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rrm_eval._seeding import stable_seed
from rrm_eval.judges import load_judge
from rrm_eval.models import Model
from rrm_eval.models._scripted import _VERDICT_1, _VERDICT_2, ScriptedDriver, _which_has_marker
from rrm_eval.protocols import PairwiseConfig, run_pairwise
from rrm_eval.protocols._pairwise import vote_summary
from rrm_eval.runs import Run
from rrm_eval.scoring import score_items
from rrm_eval.tasks import PairwiseItem

KS = (8, 16, 32)
QS = (0.6, 0.7, 0.85, 0.95)
SPREAD = 4.0  # Beta(SPREAD q, SPREAD (1 - q)) for the ``mixed`` model


def judge_of(q: float, model: str):  # type: ignore[no-untyped-def]
    """A respond function for ScriptedDriver: (prompt, absolute vote index, seed) -> verdict text."""

    def accuracy(prompt: str) -> float:
        if model == "same":
            return q
        rng = random.Random(stable_seed("difficulty", prompt))
        return rng.betavariate(SPREAD * q, SPREAD * (1 - q))

    def respond(prompt: str, s: int, seed: int) -> str:
        good = _which_has_marker(prompt)
        assert good is not None
        right = (stable_seed("vote", seed, s, prompt) % 1_000_000) / 1_000_000 < accuracy(prompt)
        return _VERDICT_1 if (good if right else 3 - good) == 1 else _VERDICT_2

    return respond


def items(n: int) -> list[PairwiseItem]:
    return [PairwiseItem(f"p{i}", "bench", f"Question {i}?", f"GOOD answer {i}", f"poor answer {i}") for i in range(n)]


def run_once(pairs: list[PairwiseItem], q: float, model: str, k: int, rule: str | None, root: Path) -> dict[str, Any]:
    judge = load_judge("rrm")
    config = PairwiseConfig(votes=k, temperature=1.0, early_stop=rule, save_prompts=False)
    driver = ScriptedDriver("custom", respond=judge_of(q, model))
    run_dir = root / f"{model}-{q}-{k}-{rule}"
    with Run(run_dir, {"kind": "bench", "fingerprint": run_dir.name}, model=Model(driver)) as run:
        run_pairwise(pairs, judge, run, config)
        records = run.records(drop=("raw", "prompt"), kind="judge")
    scores = {key: s.score for key, s in score_items(records).items()}
    votes = vote_summary(records, judge, config)
    return {
        "scores": scores,
        "accuracy": sum(scores.values()) / len(scores),
        "mean_votes": votes["mean_votes"],
        "saved": votes["votes_saved_fraction"],
        "tokens_saved": votes["tokens"]["saved_fraction_estimate"],
        "waves": votes["mean_waves"],
        "requests": driver.calls,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presentations", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="400 presentations per cell")
    ap.add_argument("--models", default="same,mixed", help="difficulty models: same, mixed (comma-separated)")
    args = ap.parse_args(argv)
    n = 400 if args.quick else args.presentations
    pairs = items(n)
    t0 = time.perf_counter()
    print(f"# early-stop voting, {n} presentations per cell; simulated judge, vote accuracy q (model: see docstring)")
    header = (
        f"{'model':6} {'k':>3} {'q':>5} | {'floor':>6} {'exact':>6} {'saved':>6} {'to floor':>8} {'same':>5} "
        f"{'waves':>5} | {'conf':>6} {'saved':>6} {'tok.sv':>6} {'acc full':>8} {'acc conf':>8} {'change':>7}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for model in args.models.split(","):
            for k in KS:
                for q in QS:
                    full = run_once(pairs, q, model, k, None, root)
                    exact = run_once(pairs, q, model, k, "exact", root)
                    conf = run_once(pairs, q, model, k, "conf=0.95", root)
                    floor = (k // 2 + 1) / q
                    same = exact["scores"] == full["scores"]
                    change = 100 * (conf["accuracy"] - full["accuracy"])
                    print(
                        f"{model:6} {k:>3} {q:>5} | {floor:>6.2f} {exact['mean_votes']:>6.2f} "
                        f"{100 * exact['saved']:>5.1f}% {100 * (exact['mean_votes'] / floor - 1):>+7.1f}% "
                        f"{'yes' if same else 'NO':>5} {exact['waves']:>5.2f} | {conf['mean_votes']:>6.2f} "
                        f"{100 * conf['saved']:>5.1f}% {100 * conf['tokens_saved']:>5.1f}% "
                        f"{100 * full['accuracy']:>7.2f}% {100 * conf['accuracy']:>7.2f}% {change:>+6.2f}",
                        flush=True,
                    )
    print(
        "\nfloor = (k/2 + 1)/q votes; exact/conf = mean votes per presentation; saved = 1 - votes/k; to floor = exact "
        "vs floor;\nsame = exact verdicts identical to full k on every presentation; waves = mean rounds; tok.sv = "
        "tokens saved (conf);\nacc = presentation accuracy vs the known better response; change = conf - full, "
        f"points. {time.perf_counter() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

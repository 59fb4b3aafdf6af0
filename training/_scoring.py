"""Student log-prob scores of reasons and the selection formulas (seeds 000-003; REFERENCE.md).

From the student's token log-probs in the user -> reason -> assistant layout (``Model.score``):

* ``P(R|U)   = exp(mean log-prob of the reason tokens + its end-of-turn token)``;
* ``P(A|U,R) = exp(mean log-prob of the verdict tokens + end token)`` -- verdict span ``full``; averaging in the
  near-certain bracket tokens of ``[[A]]`` inflates it, so the span ``letter`` takes the log-prob of the verdict
  letter token alone. Both are computed and stored; the run records which one selected.

R* selection formulas, by name:

* ``readme``:   argmax P(A|U,R) * P(R|U)             (seed 003 README, "Optimal Reasoning Step");
* ``released``: argmax P(R|U) * (2 P(A|U,R) - 1), and a prompt whose best score is <= 0.1 is dropped (the released
  code, per REFERENCE.md). ``threshold`` overrides the cut for either formula.

DPO's R_score (seed 003, "Refined Reward Function"): (2 P(A|U,R) - 1) * P(R|U) if P(A|U,R) >= P(R|U) else -P(R|U).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval.models import Model, ScoreRequest, ScoreResult

from ._layout import ChatLayout

VERDICT_SPANS = ("full", "letter")
FORMULAS: dict[str, Callable[[float, float], float]] = {
    "readme": lambda p_answer, p_reason: p_answer * p_reason,
    "released": lambda p_answer, p_reason: p_reason * (2.0 * p_answer - 1.0),
}
DEFAULT_THRESHOLD: dict[str, float | None] = {"readme": None, "released": 0.1}
FLIPPED = {"[[A]]": "[[B]]", "[[B]]": "[[A]]"}
_SPACE_MARKS = "Ġ▁ "


def r_score(p_answer: float, p_reason: float) -> float:
    """Seed 003's reasoning score for on-policy DPO pairs."""
    return (2.0 * p_answer - 1.0) * p_reason if p_answer >= p_reason else -p_reason


def letter_index(tokens: list[str], label: str) -> int | None:
    """Position of the verdict letter (``A`` of ``[[A]]``) among the verdict's tokens, when it is a token of its own."""
    letter = label.strip("[] ")
    hits = [i for i, t in enumerate(tokens) if t.strip(_SPACE_MARKS) == letter]
    return hits[0] if len(hits) == 1 else None


def sample_problem(rec: dict[str, Any], layout: ChatLayout, keep_truncated: bool) -> str | None:
    """Why a sampled reason cannot be scored or trained on, or None."""
    if rec.get("error") or rec.get("finish_reason") in ("error", "input_too_long"):
        return "generation_error"
    if rec.get("finish_reason") == "length" and not keep_truncated:
        return "truncated"
    text = (rec.get("text") or "").strip()
    if not text:
        return "empty_reason"
    if any(tok in text for tok in (layout.end, layout.header_start, layout.bos) if tok):
        return "special_tokens_in_reason"
    return None


def _check_end(result: ScoreResult, layout: ChatLayout) -> None:
    if result.tokens and result.tokens[-1] != layout.end:
        raise RRMError(
            f"the end-of-turn token {layout.end!r} does not score as one token (got ...{result.tokens[-3:]})",
            hint="the student's tokenizer must hold the layout's special tokens; pick the matching --template",
        )


def _p(lps: list[float]) -> float:
    return math.exp(sum(lps) / len(lps))


def score_reasons(
    model: Model,
    layout: ChatLayout,
    items: list[dict[str, Any]],
    with_flipped: bool,
) -> Iterator[list[dict[str, Any]]]:
    """Yield score records chunk by chunk. ``items``: dicts with key, id, sample, messages, reason, target.

    Per reason: one request for P(R|U) and one for P(A|U,R) (plus the flipped verdict, which shares that prompt, so
    the HF driver runs the prompt once for both)."""
    per = 3 if with_flipped else 2
    requests: list[ScoreRequest] = []
    for it in items:
        reason_prompt = layout.reason_prompt(it["messages"])
        verdict_prompt = layout.verdict_prompt(it["messages"], it["reason"])
        requests.append(ScoreRequest(reason_prompt, it["reason"] + layout.end, key=f"{it['key']}|R"))
        requests.append(ScoreRequest(verdict_prompt, it["target"] + layout.end, key=f"{it['key']}|A"))
        if with_flipped:
            requests.append(ScoreRequest(verdict_prompt, FLIPPED[it["target"]] + layout.end, key=f"{it['key']}|F"))
    chunk = per * max(1, math.ceil(model.chunk_size / per))
    for start, results in model.iter_score(requests, chunk_size=chunk):
        out = []
        for j in range(0, len(results), per):
            it = items[(start + j) // per]
            res = results[j : j + per]
            rec: dict[str, Any] = {"key": it["key"], "id": it["id"], "sample": it["sample"]}
            error = next((r.error for r in res if r.error), None)
            if error:
                rec["error"] = error
                out.append(rec)
                continue
            for r in res:
                _check_end(r, layout)
            r_res, a_res = res[0], res[1]
            rec.update(
                n_reason_tokens=len(r_res.token_logprobs),
                p_reason=_p(r_res.token_logprobs),
                p_answer_full=_p(a_res.token_logprobs),
                p_answer_letter=_letter_p(a_res, it["target"]),
            )
            if with_flipped:
                f_res = res[2]
                rec.update(p_flip_full=_p(f_res.token_logprobs), p_flip_letter=_letter_p(f_res, FLIPPED[it["target"]]))
            out.append(rec)
        yield out


def _letter_p(result: ScoreResult, label: str) -> float | None:
    idx = letter_index(result.tokens[:-1], label)
    return None if idx is None else math.exp(result.token_logprobs[idx])


def answer_p(rec: dict[str, Any], span: str, flipped: bool = False) -> float:
    """P(A|U,R) of a score record for the chosen verdict span (``flipped``: of the wrong verdict)."""
    name = f"p_{'flip' if flipped else 'answer'}_{span}"
    value = rec.get(name)
    if value is None:
        raise RRMError(
            f"verdict span {span!r} is not available for {rec['key']}: the verdict letter is not a token of its own "
            "in this tokenizer",
            hint="use --verdict-span full",
        )
    return float(value)

"""Two-phase generation for ReasonGenRM judges (judge ``mode = "reason"``), and the reason-then-verdict routine
that training's DPO data step shares.

A ReasonGenRM checkpoint is trained on user -> reason -> assistant turns (``rrm_eval.training``). At inference:

1. phase 1: the prompt opens the reason turn (the checkpoint's chat template does this after a user turn); the model
   writes its reasoning until the end-of-turn token;
2. phase 2: the conversation is re-rendered with that reason turn closed and the assistant header opened (the
   template's generation prompt after a reason turn); the model writes the verdict in a few tokens.

Each call still becomes one :class:`~rrm_eval.runs.JudgeRecord` per sample, with ``raw`` = reason + the template's
turn transition + verdict text, parsed by the judge's parser (the verdict turn comes last, so the last ``[[A]]`` /
``[[B]]`` is the verdict's), so ``rrm-eval rescore`` re-reads it offline like any other record. A reason that hits
the generation budget gets no verdict phase: its record keeps finish_reason ``length`` and is counted as truncated.
The mode serves every protocol (pairwise presentations and tournament games alike).

Thinking budgets (``--think-budget N``, :func:`think_with_budget`) are the other two-phase routine here: "budget
forcing" for judges that think before a marker (``think_end``, ``</think>`` for R1-style reasoners):

1. phase 1 generates at most N new tokens (``max_new_tokens = N``);
2. the marker is there (the judge closed its thinking within N): a finished completion is kept as it is; one that
   hit N after the marker, before its verdict was done, continues from prompt + text for the rest of the judge's
   ``max_new_tokens``;
3. no marker after N tokens: the text is cut at exactly N tokens (:meth:`Model.cut_to_tokens`; engines stop there
   already, the cut makes every engine and the sweep's reuse agree), closed with ``CLOSE.format(marker)``, and
   phase 2 generates the verdict from prompt + thinking + marker within ``verdict_budget`` tokens.

Text prompts go through :meth:`Model.generate`, so it runs on every engine. Where the engine closes the thinking
itself (:meth:`Model.generate_think_budget`: vLLM's ``thinking_token_budget``, given a driver that enables it), one
call does both phases. The record's ``raw`` is everything as seen (thinking + marker + verdict), so the judge's
parser and ``rrm-eval rescore`` read it like any record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from rrm_eval._errors import RRMError
from rrm_eval.judges import Judge
from rrm_eval.models import Completion, GenerateRequest, Message, Model, SamplingParams
from rrm_eval.protocols._modes import JudgeMode, PlannedCall, ThinkBudget, completion_record, register_mode
from rrm_eval.runs import JudgeRecord

#: Verdict phase budget: "[[A]]" plus the end token is 4-5 tokens in the tokenizers we know; 16 leaves slack.
VERDICT_MAX_NEW_TOKENS = 16
REASON_ROLE = "reason"
#: How a budget-cut thinking is closed: the newline and blank line R1-style reasoners write around ``</think>``.
CLOSE = "\n{}\n\n"


def check_reason_template(model: Model) -> str:
    """The reason-turn header the model's template opens after a user turn; a clear error when it opens none."""
    probe = "RRM_PROBE_USER_TURN"
    try:
        text = model.render([{"role": "user", "content": probe}])
    except RRMError as exc:
        raise RRMError(
            f"{model.spec}: {exc.message}",
            hint="the reasongenrm judge needs a checkpoint saved by `rrm-eval train sft` (it carries the reason "
            "template)",
        ) from exc
    header = text.split(probe, 1)[-1]
    if REASON_ROLE not in header:
        raise RRMError(
            f"the chat template of {model.spec} opens no reason turn after the user turn (it renders {header!r}): "
            "this is not a ReasonGenRM checkpoint, or its template was lost",
            hint="load a checkpoint saved by `rrm-eval train sft`/`train dpo` (it carries the reason template and "
            "rrm_training.json); a GenRM checkpoint is evaluated with --judge skywork-critic",
        )
    return header


@dataclass
class TwoPhase:
    """One sample of reason-then-verdict: the reason, and (when the reason ended its turn) the verdict prompt and
    the verdict completion."""

    reason: Completion
    verdict_prompt: str | None = None
    verdict: Completion | None = None


def reason_then_verdict(
    model: Model,
    requests: Sequence[GenerateRequest],
    reason_params: SamplingParams,
    verdict_prompt: Callable[[int, str], str],
    verdict_params: SamplingParams,
) -> list[list[TwoPhase]]:
    """Phase 1 (``reason_params.n`` reasons per request), then phase 2 for every reason that ended its turn:
    ``verdict_prompt(request index, stripped reason)`` renders the conversation with the reason turn closed, and the
    model answers with ``verdict_params`` (one sample, seeded from the request key and sample index)."""
    reasons = model.generate(list(requests), reason_params)
    second: list[tuple[int, int, str]] = []
    for i, group in enumerate(reasons):
        for s, comp in enumerate(group):
            if comp.finish_reason == "stop" and not comp.error:
                second.append((i, s, verdict_prompt(i, comp.text.strip())))
    verdicts = model.generate([GenerateRequest(p, key=f"{requests[i].key}|{s}") for i, s, p in second], verdict_params)
    out = [[TwoPhase(comp) for comp in group] for group in reasons]
    for (i, s, prompt), group in zip(second, verdicts, strict=True):
        out[i][s].verdict_prompt = prompt
        out[i][s].verdict = group[0]
    return out


def reason_chunk(
    model: Model,
    requests: Sequence[GenerateRequest],
    conversations: Sequence[list[Message]],
    reason_params: SamplingParams,
    verdict_params: SamplingParams,
) -> list[list[TwoPhase]]:
    """:func:`reason_then_verdict` for one chunk whose verdict prompts are the conversations with the reason turn
    closed by ``model``'s own template (a module-level routine: ``Model.map_chunks`` may run it on a worker)."""

    def render(i: int, reason: str) -> str:
        return model.render([*conversations[i], {"role": REASON_ROLE, "content": reason}])

    return reason_then_verdict(model, requests, reason_params, render, verdict_params)


def _joined(call: PlannedCall, phases: TwoPhase) -> tuple[Completion, dict[str, object]]:
    """The record's view of a two-phase sample: reason + the template's transition + verdict, and phase meta."""
    reason = phases.reason
    if phases.verdict is None or phases.verdict_prompt is None:  # phase 1 failed or ran out of budget
        return reason, {"reason_phase": 1}
    text, prompt2, comp = reason.text.strip(), phases.verdict_prompt, phases.verdict
    # The template's transition between the reason and the verdict (end token, assistant header), as rendered.
    head = call.prompt + text
    if prompt2.startswith(head):
        transition = prompt2[len(head) :]
    else:  # a template that re-formats the reason: take what follows its last occurrence
        cut = prompt2.rfind(text) if text else -1
        transition = prompt2[cut + len(text) :] if cut >= 0 else "\n"
    joined = Completion(
        text + transition + comp.text,
        comp.finish_reason,
        reason.prompt_tokens,
        reason.completion_tokens + comp.completion_tokens,
        comp.error,
    )
    return joined, {"reason_phase": 2, "verdict_text": comp.text}


class ReasonMode(JudgeMode):
    name = "reason"

    def check(self, judge: Judge, model: Model) -> None:
        check_reason_template(model)

    def judge(
        self, calls: Sequence[PlannedCall], judge: Judge, model: Model, params: SamplingParams, save_prompts: bool
    ) -> Iterator[tuple[int, list[JudgeRecord]]]:
        # The verdict is read greedily: the reason carries the sampled decision (seeds 000-003).
        verdict_params = SamplingParams(max_new_tokens=VERDICT_MAX_NEW_TOKENS, temperature=0.0, seed=params.seed)
        step = max(1, model.chunk_size // max(1, params.n))
        chunks = [calls[start : start + step] for start in range(0, len(calls), step)]
        jobs = [
            ([GenerateRequest(c.prompt, key=c.request_key()) for c in chunk], [c.messages for c in chunk], params,
             verdict_params)
            for chunk in chunks
        ]  # fmt: skip
        for i, groups in model.map_chunks(reason_chunk, jobs):
            chunk = chunks[i]
            recs = []
            for call, group in zip(chunk, groups, strict=True):
                for s, phases in enumerate(group):
                    comp, meta = _joined(call, phases)
                    recs.append(completion_record(call, judge, call.first_sample + s, comp, save_prompts, meta))
            yield len(chunk), recs


@dataclass
class Budgeted:
    """One sample under a thinking budget: the record's view of it (``text`` = thinking + marker + the rest, tokens
    of both phases), the thinking's length in tokens, and whether the budget cut it."""

    completion: Completion
    thinking_tokens: int
    budget_cut: bool


def think_with_budget(
    model: Model, requests: Sequence[GenerateRequest], params: SamplingParams, budget: ThinkBudget, marker: str
) -> list[list[Budgeted]]:
    """``params.n`` samples per request with the thinking (closed by ``marker``) capped at ``budget.tokens`` tokens;
    see the module docstring for the phases. Phase-2 requests are keyed ``<request key>|<sample>|verdict`` (or
    ``|continue``), so their sampling seeds depend on the call and sample, never on the batch."""
    n_think = budget.tokens
    native = model.generate_think_budget(
        requests,
        replace(params, max_new_tokens=max(params.max_new_tokens, n_think + budget.verdict_tokens)),
        n_think,
        marker,
    )
    if native is not None:
        return [[_native(model, c, n_think, marker) for c in group] for group in native]
    first = model.generate(list(requests), replace(params, max_new_tokens=n_think))
    out: list[list[Budgeted | None]] = [[None] * len(group) for group in first]
    verdicts: list[tuple[int, int, str, int]] = []  # request, sample, text so far, tokens so far
    continues: list[tuple[int, int, str, int, int]] = []  # ... and the thinking's tokens
    for i, group in enumerate(first):
        for s, comp in enumerate(group):
            if comp.error or comp.finish_reason not in ("stop", "length"):
                out[i][s] = Budgeted(comp, 0, False)  # screened or failed: recorded as the failure it is
                continue
            text, used = comp.text, comp.completion_tokens
            if comp.finish_reason == "length":
                text, used = model.cut_to_tokens(text, n_think)
            at = text.find(marker)
            if at >= 0:
                thinking = model.count_tokens(text[:at])
                if comp.finish_reason == "length" and used < params.max_new_tokens:
                    continues.append((i, s, text, used, thinking))
                else:
                    kept = Completion(text, comp.finish_reason, comp.prompt_tokens, used, comp.error)
                    out[i][s] = Budgeted(kept, thinking, False)
            elif comp.finish_reason == "length":
                verdicts.append((i, s, text + CLOSE.format(marker), used))
            else:  # the judge stopped without closing its thinking: no budget cut in; the parser reports it
                out[i][s] = Budgeted(comp, model.count_tokens(text), False)
    one = replace(params, n=1)
    if verdicts:
        reqs = [
            GenerateRequest(requests[i].prompt + t, key=f"{requests[i].key}|{s}|verdict") for i, s, t, _ in verdicts
        ]
        done = model.generate(reqs, replace(one, max_new_tokens=budget.verdict_tokens))
        for (i, s, text, used), group in zip(verdicts, done, strict=True):
            out[i][s] = Budgeted(_joined_text(first[i][s], text, used, group[0]), used, True)
    if continues:
        reqs = [
            GenerateRequest(requests[i].prompt + t, key=f"{requests[i].key}|{s}|continue") for i, s, t, *_ in continues
        ]
        # One generate call per remaining length would be exact; the longest rest is one call, cut back below.
        rest = max(params.max_new_tokens - used for *_, used, _ in continues)
        done = model.generate(reqs, replace(one, max_new_tokens=max(1, rest)))
        for (i, s, text, used, thinking), group in zip(continues, done, strict=True):
            comp = group[0]
            left = params.max_new_tokens - used
            if comp.finish_reason in ("stop", "length") and not comp.error and comp.completion_tokens > left:
                cut, n = model.cut_to_tokens(comp.text, left)
                comp = Completion(cut, "length", comp.prompt_tokens, n)
            out[i][s] = Budgeted(_joined_text(first[i][s], text, used, comp), thinking, False)
    return [[b for b in group if b is not None] for group in out]


def _joined_text(first: Completion, text: str, used: int, second: Completion) -> Completion:
    """Phase 1's (cut) text and tokens followed by phase 2's completion: what the record stores."""
    return Completion(
        text + second.text, second.finish_reason, first.prompt_tokens, used + second.completion_tokens, second.error
    )


def _native(model: Model, comp: Completion, budget: int, marker: str) -> Budgeted:
    """An engine-budgeted completion: the thinking is what precedes the marker; the engine forced the marker when
    the thinking reached the budget. ``budget_cut`` is "the thinking used the whole budget", as on the two-phase
    path (whose phase 1 stops at N tokens before a marker at N + 1 could be written), so a judge that closes by
    itself at exactly N tokens counts as cut on every path: no engine can tell it from one the budget stopped."""
    if comp.error or comp.finish_reason not in ("stop", "length"):
        return Budgeted(comp, 0, False)
    at = comp.text.find(marker)
    thinking = model.count_tokens(comp.text if at < 0 else comp.text[:at])
    return Budgeted(comp, thinking, thinking >= budget)


register_mode(ReasonMode(), "two-phase ReasonGenRM: a reason turn, then a verdict turn (checkpoints of `train sft`)")

__all__ = [
    "CLOSE",
    "REASON_ROLE",
    "VERDICT_MAX_NEW_TOKENS",
    "Budgeted",
    "TwoPhase",
    "check_reason_template",
    "reason_chunk",
    "reason_then_verdict",
    "think_with_budget",
]

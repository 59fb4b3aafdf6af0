"""Two-phase generation for ReasonGenRM judges (judge ``mode = "reason"``).

A ReasonGenRM checkpoint is trained on user -> reason -> assistant turns (``rrm_eval.training``). At inference:

1. phase 1: the prompt opens the reason turn (the checkpoint's chat template does this after a user turn); the model
   writes its reasoning until the end-of-turn token;
2. phase 2: the conversation is re-rendered with that reason turn closed and the assistant header opened (the
   template's generation prompt after a reason turn); the model writes the verdict, greedily, in a few tokens.

Each call still becomes one :class:`~rrm_eval.runs.JudgeRecord` per sample, with ``raw`` = reason + the template's
turn transition + verdict text, parsed by the judge's parser (the verdict turn comes last, so the last ``[[A]]`` /
``[[B]]`` is the verdict's), so ``rrm-eval rescore`` re-reads it offline like any other record. A reason that hits
the generation budget gets no verdict phase: its record keeps finish_reason ``length`` and is counted as truncated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rrm_eval._errors import RRMError
from rrm_eval.judges import Judge
from rrm_eval.models import Completion, GenerateRequest, Model, SamplingParams
from rrm_eval.protocols._pairwise import PairwiseConfig, PlannedCall, _base_record, parse_completion, plan_calls
from rrm_eval.protocols._pairwise import sampling_for as _sampling_for
from rrm_eval.runs import JudgeRecord, RunJournal
from rrm_eval.tasks import PairwiseItem

#: Verdict phase budget: "[[A]]" plus the end token is 4-5 tokens in the tokenizers we know; 16 leaves slack.
VERDICT_MAX_NEW_TOKENS = 16
REASON_ROLE = "reason"


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


def run_reasoning(
    items: Sequence[PairwiseItem],
    judge: Judge,
    model: Model,
    config: PairwiseConfig,
    journal: RunJournal,
    done_keys: set[str],
    advance: Callable[[int], None] | None = None,
) -> int:
    """Judge every pending call in two phases, appending records chunk by chunk. Returns the records written."""
    check_reason_template(model)
    votes = config.votes
    calls = [c for c in plan_calls(items, judge, model, config) if not set(c.keys(votes)) <= done_keys]
    reason_params = _sampling_for(judge, config)
    verdict_params = SamplingParams(max_new_tokens=VERDICT_MAX_NEW_TOKENS, temperature=0.0, seed=config.seed)
    written = 0
    step = max(1, model.chunk_size // max(1, votes))
    for start in range(0, len(calls), step):
        chunk = calls[start : start + step]
        reasons = model.generate(
            [GenerateRequest(c.prompt, key=f"{c.item.id}|{c.order}") for c in chunk], reason_params
        )
        # Phase 2 for every reason that ended its turn.
        second: list[tuple[int, int, str, str]] = []  # (call, sample, prompt, reason)
        for i, (call, group) in enumerate(zip(chunk, reasons, strict=True)):
            for s, comp in enumerate(group):
                if comp.finish_reason == "stop" and not comp.error:
                    reason = comp.text.strip()
                    messages = [*judge.messages(*_texts(call)), {"role": REASON_ROLE, "content": reason}]
                    second.append((i, s, model.render(messages), reason))
        verdicts = model.generate(
            [GenerateRequest(p, key=f"{chunk[i].item.id}|{chunk[i].order}|{s}") for i, s, p, _ in second],
            verdict_params,
        )
        phase2 = {(i, s): (p, r, v[0]) for (i, s, p, r), v in zip(second, verdicts, strict=True)}
        recs = []
        for i, (call, group) in enumerate(zip(chunk, reasons, strict=True)):
            for s, comp in enumerate(group):
                recs.append(_record(call, judge, s, comp, phase2.get((i, s)), config.save_prompts))
        written += journal.append(recs)
        if advance:
            advance(len(chunk))
    return written


def _texts(call: PlannedCall) -> tuple[str, str, str]:
    item = call.item
    first, second = (item.chosen, item.rejected) if call.order == "AB" else (item.rejected, item.chosen)
    return item.prompt, first, second


def _record(
    call: PlannedCall,
    judge: Judge,
    sample: int,
    reason: Completion,
    verdict: tuple[str, str, Completion] | None,
    save_prompt: bool,
) -> JudgeRecord:
    if verdict is None:  # phase 1 failed or ran out of budget: no verdict phase
        final = Completion(
            reason.text, reason.finish_reason, reason.prompt_tokens, reason.completion_tokens, reason.error
        )
        meta_extra = {"phase": 1}
    else:
        prompt2, text, comp = verdict
        # The template's transition between the reason and the verdict (end token, assistant header), as rendered.
        head = call.prompt + text
        if prompt2.startswith(head):
            transition = prompt2[len(head) :]
        else:  # a template that re-formats the reason: take what follows its last occurrence
            cut = prompt2.rfind(text) if text else -1
            transition = prompt2[cut + len(text) :] if cut >= 0 else "\n"
        raw = text + transition + comp.text
        final = Completion(
            raw, comp.finish_reason, reason.prompt_tokens, reason.completion_tokens + comp.completion_tokens, comp.error
        )
        meta_extra = {"phase": 2, "verdict_text": comp.text}
    parsed = parse_completion(judge, final)
    base = _base_record(call, judge, sample, save_prompt)
    base["meta"] = {**base["meta"], **meta_extra}
    return JudgeRecord(
        **base,
        raw=final.text,
        finish_reason=final.finish_reason,
        verdict=parsed.verdict,
        failure=parsed.failure,
        lenient=parsed.lenient,
        extracted=parsed.extracted,
        prompt_tokens=final.prompt_tokens,
        completion_tokens=final.completion_tokens,
        error=final.error,
    )

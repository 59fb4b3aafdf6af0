"""vLLM's own thinking budget (``SamplingParams.thinking_token_budget``) in the vLLM driver.

The first tests need no engine (the core venv runs them): the ``think_start`` / ``think_end`` options are declared,
checked, part of the run identity, and the version check falls back on a vLLM without the parameter. The ``vllm``
tests load the real SmolLM2-135M on vLLM CPU (scripts/setup_engines.sh runs them in the vllm venv): with the prompt
opening the thinking, a budget of N tokens gives exactly N tokens of thinking (unless the judge closes it earlier
by itself), then the forced marker, then text the judge went on to write."""

from __future__ import annotations

import dataclasses
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
from contract._engines import need, smollm2_folder

from rrm_eval._errors import RRMError
from rrm_eval.models import Completion, GenerateRequest, Model, SamplingParams
from rrm_eval.models._spec import ModelSpec, check_model_options, driver_class
from rrm_eval.models._vllm import reasoning_config_class
from rrm_eval.runs._identity import EXECUTION_ONLY

MARKER = "</think>"
QUESTION = "Explain step by step how a bicycle stays upright."


# -- options (no engine needed) -----------------------------------------------------------------------------------
def test_think_options_are_declared_typed_and_in_the_identity() -> None:
    table = driver_class(ModelSpec("vllm", "x")).option_table()
    assert table["think_start"].type == "str" and table["think_start"].default is None
    assert table["think_end"].default == MARKER
    assert check_model_options("vllm:x", {"think_start": "<think>"}) == {"think_start": "<think>"}
    both = {"think_start": "<reason>", "think_end": "</reason>"}
    assert check_model_options("vllm:x", both) == both
    # A reasoning config changes where the thinking ends, so it must change the run's fingerprint.
    assert not {"think_start", "think_end"} & EXECUTION_ONLY


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"think_start": ""}, "think_start='' is not valid: empty"),
        ({"think_start": "   "}, "is not valid: empty"),
        ({"think_start": True}, "not a string"),
        ({"think_start": "<think>", "think_end": ""}, "think_end='' is not valid"),
        ({"think_end": "</think>"}, "needs think_start"),
        ({"think_start": "</think>"}, "the same string"),
        ({"think_start": "<t>", "think_end": "<t>"}, "the same string"),
        ({"think_start": "<think>", "reasoning_config": {"reasoning_start_str": "<think>"}}, "not both"),
    ],
)
def test_bad_think_options_are_user_errors(options: dict[str, Any], words: str) -> None:
    with pytest.raises(RRMError) as err:
        check_model_options("vllm:x", options)
    assert words in err.value.message or words in str(err.value.hint)
    assert err.value.hint


def _fake_vllm(monkeypatch: pytest.MonkeyPatch, fields: tuple[str, ...], with_config: bool) -> types.ModuleType:
    """A stand-in ``vllm`` package: its SamplingParams has ``fields``; ``config.reasoning`` exists if asked."""
    name = "fake_vllm_for_budget_test"
    root = types.ModuleType(name)
    root.SamplingParams = type("SamplingParams", (), {"__struct_fields__": fields})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, root)
    monkeypatch.setitem(sys.modules, f"{name}.config", types.ModuleType(f"{name}.config"))
    if with_config:

        @dataclasses.dataclass
        class ReasoningConfig:
            reasoning_start_str: str = ""
            reasoning_end_str: str = ""

        reasoning = types.ModuleType(f"{name}.config.reasoning")
        reasoning.ReasoningConfig = ReasoningConfig  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, f"{name}.config.reasoning", reasoning)
    return root


@pytest.mark.parametrize(
    ("fields", "with_config", "capable"),
    [
        (("n", "thinking_token_budget"), True, True),
        (("n", "max_tokens"), True, False),  # SamplingParams without the parameter
        (("n", "thinking_token_budget"), False, False),  # no vllm.config.reasoning
    ],
)
def test_a_vllm_without_thinking_budgets_falls_back(
    monkeypatch: pytest.MonkeyPatch, fields: tuple[str, ...], with_config: bool, capable: bool
) -> None:
    assert (reasoning_config_class(_fake_vllm(monkeypatch, fields, with_config)) is not None) is capable


# -- the real engine ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def budgeted() -> Iterator[Model]:
    need("vllm", "vllm")
    from rrm_eval.models._vllm import VLLMDriver

    driver = VLLMDriver(str(smollm2_folder()), max_model_len=1024, enforce_eager=True, think_start="<think>")
    try:
        if reasoning_config_class(driver._vllm) is None:
            pytest.skip("this vLLM has no SamplingParams.thinking_token_budget (budgets run two-phase)")
        yield Model(driver)
    finally:
        driver.close()


def opened(model: Model, thinking: str = "") -> str:
    """A chat prompt whose assistant turn opens the thinking (R1-style templates end the same way)."""
    return model.render([{"role": "user", "content": QUESTION}]) + "<think>\n" + thinking


def budget_call(model: Model, prompt: str, budget: int, **params: Any) -> Completion:
    p = SamplingParams(max_new_tokens=budget + 24, **params)
    out = model.generate_think_budget([GenerateRequest(prompt, key="q")], p, budget, MARKER)
    assert out is not None, "the driver should have taken the native path"
    return out[0][0]


def unbudgeted(model: Model, prompt: str, budget: int) -> Completion:
    """The same greedy call without a budget: what the judge writes when nothing closes its thinking."""
    return model.generate([GenerateRequest(prompt, key="q")], SamplingParams(max_new_tokens=budget + 24))[0][0]


def check_cut(model: Model, comp: Completion, prompt: str, budget: int) -> bool:
    """``comp`` is the unbudgeted text's first ``budget`` tokens, the forced marker, then more of the judge's own;
    or, where the judge ends its thinking within the budget by itself, exactly what it writes unbudgeted. Returns
    whether the budget cut in."""
    assert comp.error is None and comp.finish_reason in ("stop", "length"), comp
    assert comp.prompt_tokens == model.count_tokens(prompt)
    free = unbudgeted(model, prompt, budget)
    own_end = free.text.find(MARKER)
    own = free.text[:own_end] if own_end >= 0 else free.text
    if (own_end >= 0 or free.finish_reason == "stop") and model.count_tokens(own) <= budget:
        assert (comp.text, comp.completion_tokens) == (free.text, free.completion_tokens)
        return False
    at = comp.text.find(MARKER)
    assert at >= 0, f"no {MARKER} in {comp.text!r}"
    thinking, rest = comp.text[:at], comp.text[at + len(MARKER) :]
    assert (thinking, model.count_tokens(thinking)) == model.cut_to_tokens(free.text, budget)
    # The judge went on after the forced marker: more text, or at least its end-of-sequence token.
    assert rest.strip() or comp.finish_reason == "stop", comp
    assert budget + model.count_tokens(MARKER) < comp.completion_tokens <= budget + 24
    return True


@pytest.mark.vllm
@pytest.mark.parametrize("budget", [3, 8, 21])
def test_budget_closes_prompt_opened_thinking_after_n_tokens(budgeted: Model, budget: int) -> None:
    prompt = opened(budgeted)
    comp = budget_call(budgeted, prompt, budget)
    cut = check_cut(budgeted, comp, prompt, budget)
    assert cut or budget > 8  # a step-by-step explanation runs past 8 tokens: these budgets must cut in


@pytest.mark.vllm
def test_thinking_already_in_the_prompt_does_not_count(budgeted: Model) -> None:
    # vLLM counts the prompt's tokens after <think> against the budget; the driver gives them back.
    prompt = opened(budgeted, "Let me think about balance and the wheels first.")
    comp = budget_call(budgeted, prompt, 6)
    assert check_cut(budgeted, comp, prompt, 6)


@pytest.mark.vllm
def test_budget_closes_thinking_the_judge_opens_itself(budgeted: Model) -> None:
    # Greedy SmolLM2 continues the pattern, writing "<think>" as its first tokens; the budget then counts the
    # start string too (as two-phase generation does: every generated token before the marker).
    shots = "".join(f"Q: {i}\nA:\n<think>I think it is number {i}</think> {i}\n" for i in range(1, 4))
    prompt = shots + "Q: 4\nA:\n"
    comp = budget_call(budgeted, prompt, 6)
    assert comp.text.startswith("<think>"), comp.text
    assert check_cut(budgeted, comp, prompt, 6)


@pytest.mark.vllm
def test_records_keep_thinking_tokens_and_budget_cut(budgeted: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    from rrm_eval.protocols._modes import ThinkBudget
    from rrm_eval.protocols._reasoning import think_with_budget

    def two_phase(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the native path should not need two-phase generation")

    monkeypatch.setattr(budgeted.driver, "generate", two_phase)
    requests = [GenerateRequest(opened(budgeted), key="a"), GenerateRequest(opened(budgeted, "Hmm, "), key="b")]
    params = SamplingParams(max_new_tokens=48, temperature=0.8, n=2, seed=7)
    groups = think_with_budget(budgeted, requests, params, ThinkBudget(10, 16), MARKER)
    assert [len(g) for g in groups] == [2, 2]
    for group in groups:
        for b in group:
            assert MARKER in b.completion.text, b.completion.text
            assert b.thinking_tokens == 10 and b.budget_cut, (b.thinking_tokens, b.completion.text)


@pytest.mark.vllm
def test_supports_think_budget_only_for_the_configured_marker(budgeted: Model) -> None:
    assert budgeted.driver.supports_think_budget(MARKER)
    assert not budgeted.driver.supports_think_budget("</reason>")
    assert budgeted.generate_think_budget([GenerateRequest("x")], SamplingParams(), 4, "</reason>") is None
    with pytest.raises(RRMError, match="cannot budget thinking"):
        budgeted.driver.generate_think_budget([GenerateRequest("x")], SamplingParams(), 4, "</reason>")


@pytest.mark.vllm
def test_no_native_budget_without_the_reasoning_option() -> None:
    need("vllm", "vllm")
    from rrm_eval.models._vllm import VLLMDriver

    driver = VLLMDriver(str(smollm2_folder()), max_model_len=512, enforce_eager=True)
    try:
        assert not driver.supports_think_budget(MARKER)
        assert Model(driver).generate_think_budget([GenerateRequest("x")], SamplingParams(), 4, MARKER) is None
    finally:
        driver.close()

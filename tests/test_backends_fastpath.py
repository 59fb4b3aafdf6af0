"""The lean static-cache path of the transformers driver gives what `generate` gives (CPU; CUDA graphs are checked
by bench/bench_gpu_decode.py on the GPU machine)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from rrm_eval._errors import RRMError  # noqa: E402
from rrm_eval.models import GenerateRequest, SamplingParams, ScoreRequest  # noqa: E402
from rrm_eval.models._transformers import TransformersDriver  # noqa: E402

VOCAB = 300


def word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(VOCAB)}, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="t0", unk_token="t0", eos_token="t1")


def tiny(kind: str, max_positions: int = 256):
    """A two-layer random model of ``kind`` (seeded), small enough for CPU tests."""
    torch.manual_seed(0)
    common = dict(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=max_positions,
    )  # fmt: skip
    cfg = {
        "llama": transformers.LlamaConfig(**common),
        "qwen2": transformers.Qwen2Config(**common),
        "qwen3": transformers.Qwen3Config(head_dim=16, **common),
        "gpt2": transformers.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=1, n_head=2),
    }[kind]
    model = transformers.AutoModelForCausalLM.from_config(cfg)
    model.generation_config.eos_token_id = 1
    return model


def requests() -> list[GenerateRequest]:
    g = torch.Generator().manual_seed(3)
    out = []
    for i, n in enumerate([5, 17, 40, 9]):  # different lengths: left padding must not leak into the answers
        ids = torch.randint(2, VOCAB, (n,), generator=g).tolist()
        out.append(GenerateRequest(" ".join(f"t{t}" for t in ids), key=f"r{i}"))
    return out


@pytest.mark.parametrize("kind", ["llama", "qwen2", "qwen3"])
def test_lean_greedy_generation_and_scores_match_generate(kind: str) -> None:
    model, tok = tiny(kind), word_tokenizer()
    ref = TransformersDriver.from_model(model, tok, fast_path="off")
    lean = TransformersDriver.from_model(model, tok, fast_path="on", batch_size=3)
    assert lean._lean is not None and ref._lean is None
    params = SamplingParams(max_new_tokens=30)
    a, b = ref.generate(requests(), params), lean.generate(requests(), params)
    for x, y in zip(a, b, strict=True):
        assert (x[0].text, x[0].finish_reason, x[0].completion_tokens) == (
            y[0].text,
            y[0].finish_reason,
            y[0].completion_tokens,
        )
    sreq = [ScoreRequest(r.prompt, c) for r in requests() for c in (" t7 t8", " t9")]
    for x, y in zip(ref.score(sreq), lean.score(sreq), strict=True):
        assert x.tokens == y.tokens and x.prompt_tokens == y.prompt_tokens
        assert x.token_logprobs == pytest.approx(y.token_logprobs, abs=1e-4)


def test_lean_sampling_is_seeded_and_gives_n_samples() -> None:
    lean = TransformersDriver.from_model(tiny("qwen2"), word_tokenizer(), fast_path="on")
    params = SamplingParams(max_new_tokens=12, temperature=1.0, top_p=0.9, n=3, seed=7)
    a, b = lean.generate(requests(), params), lean.generate(requests(), params)
    assert [[c.text for c in g] for g in a] == [[c.text for c in g] for g in b]
    assert all(len(g) == 3 for g in a)
    assert len({c.text for g in a for c in g}) > 4  # samples differ
    other = lean.generate(requests(), SamplingParams(max_new_tokens=12, temperature=1.0, n=3, seed=8))
    assert [[c.text for c in g] for g in other] != [[c.text for c in g] for g in a]


def test_fast_path_on_refuses_an_unsupported_architecture() -> None:
    with pytest.raises(RRMError) as err:
        TransformersDriver.from_model(tiny("gpt2"), word_tokenizer(), fast_path="on")
    assert "gpt2" in err.value.message
    auto = TransformersDriver.from_model(tiny("gpt2"), word_tokenizer(), fast_path="auto")
    assert auto._lean is None  # auto falls back to generate (and is off on CPU anyway)

"""Random-weight models for smoke runs, tests and benchmarks (no hub access needed).

``make_random_model`` writes an HF folder: a Qwen2 (ChatML layout) or Llama (Llama-3 layout) model of a named shape
with random weights, and a tokenizer: one given (``train_small_tokenizer`` learns a byte-level BPE of ~1k tokens from
some texts, which keeps CPU runs fast), or one copied from a local folder (by default the embedded SmolLM2 tokenizer,
a ChatML tokenizer of 49,152 tokens). For the Llama-3 layout the tokenizer gets Llama-3's special tokens and *no* chat
template, like a base Llama tokenizer. Shapes ``qwen2.5-0.5b`` / ``qwen2.5-1.5b`` copy those models' published
configs (hidden size, layers, heads, 151,936-token vocabulary) so throughput figures are real-shaped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rrm_eval._errors import UnknownNameError, require

from ._layout import LAYOUTS, get_layout

SHAPES: dict[str, dict[str, Any]] = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=4096),
    # Qwen/Qwen2.5-0.5B and -1.5B config.json values
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, rope_theta=1e6),
    "qwen2.5-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                         num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, rope_theta=1e6),
}  # fmt: skip


def train_small_tokenizer(texts: list[str], layout: str = "chatml", vocab_size: int = 1024) -> Any:
    """A byte-level BPE tokenizer learned from ``texts`` (any text still encodes: bytes are the base alphabet), with
    the layout's special tokens. A small vocabulary keeps the LM head of CPU smoke models cheap."""
    tokenizers = require("tokenizers", "train", "building a tokenizer")
    transformers = require("transformers", "train", "building a tokenizer")
    lay = get_layout(layout)
    specials = ["<|endoftext|>", *lay.special_tokens]
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos = lay.bos or "<|endoftext|>"
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=lay.end, pad_token="<|endoftext|>", unk_token=None
    )


def make_random_model(
    out: str | Path,
    shape: str = "tiny",
    layout: str = "chatml",
    tokenizer_dir: str | Path | None = None,
    seed: int = 0,
    tokenizer: Any = None,
) -> Path:
    if shape not in SHAPES:
        raise UnknownNameError("model shape", shape, SHAPES)
    lay = get_layout(layout)
    torch = require("torch", "train", "building a random model")
    transformers = require("transformers", "train", "building a random model")
    if tokenizer is not None:
        tok = tokenizer
    else:
        if tokenizer_dir is None:
            from rrm_eval.models._embedded import converted_folder

            tokenizer_dir = converted_folder()
        tok = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    if lay is LAYOUTS["llama3"]:
        if lay.end not in tok.get_vocab():
            tok.add_special_tokens(
                {"bos_token": lay.bos, "eos_token": lay.end, "additional_special_tokens": list(lay.special_tokens)}
            )
        tok.chat_template = None  # like a base Llama tokenizer
    end_id = tok.convert_tokens_to_ids(lay.end)
    dims = dict(SHAPES[shape])
    dims["vocab_size"] = max(dims.get("vocab_size", 0), len(tok))
    common = dict(tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=end_id, pad_token_id=end_id)
    if layout == "llama3":
        config = transformers.LlamaConfig(**dims, **common)
    else:
        config = transformers.Qwen2Config(**dims, **common)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = end_id
    model.generation_config.pad_token_id = end_id
    out = Path(out)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out

"""The trained token layout: layout text == packaged Jinja templates, and the loss masks pinned token by token."""

from __future__ import annotations

import pytest
from rrm_eval.training import (
    LAYOUTS,
    TRAIN_SPANS,
    LayoutError,
    encode_segments,
    get_layout,
    layout_for_rendered,
    layout_for_tokenizer,
    template_text,
)
from rrm_eval.training._sft import sft_example
from rrm_eval.training._tiny import train_small_tokenizer

from rrm_eval._errors import RRMError

transformers = pytest.importorskip("transformers")

MSGS = [{"role": "user", "content": "Which answer is better?"}]
TEXTS = ["Which answer is better? A is right because it is correct.", "[[A]] [[B]] reason assistant user"] * 20


@pytest.fixture(scope="module")
def smol():
    from rrm_eval.models._embedded import converted_folder

    return transformers.AutoTokenizer.from_pretrained(str(converted_folder()))


@pytest.fixture(scope="module")
def llama_tok():
    return train_small_tokenizer(TEXTS, "llama3", 400)


def test_reason_loss_mask_token_by_token(smol):
    """The SFT loss covers the reason + <|im_end|> and the verdict + <|im_end|>: nothing of the prompt, the headers
    or the newline after each turn (REFERENCE.md pitfall "Training on the whole prompt")."""
    layout = get_layout("chatml")
    enc = encode_segments(smol, layout.segments(MSGS, "[[A]]", "A is right."), layout)
    labels = enc.labels(TRAIN_SPANS["reasongenrm"])
    tokens = smol.convert_ids_to_tokens(enc.input_ids)
    assert list(zip(tokens, [lab != -100 for lab in labels], strict=True)) == [
        ("<|im_start|>", False), ("user", False), ("Ċ", False),
        ("Which", False), ("Ġanswer", False), ("Ġis", False), ("Ġbetter", False), ("?", False),
        ("<|im_end|>", False), ("Ċ", False),
        ("<|im_start|>", False), ("reason", False), ("Ċ", False),
        ("A", True), ("Ġis", True), ("Ġright", True), (".", True), ("<|im_end|>", True),
        ("Ċ", False), ("<|im_start|>", False), ("ass", False), ("istant", False), ("Ċ", False),
        ("[[", True), ("A", True), ("]]", True), ("<|im_end|>", True),
        ("Ċ", False),
    ]  # fmt: skip
    # labels are the token ids themselves where trained (no shift: the model shifts)
    assert [lab for lab in labels if lab != -100] == [
        i for i, lab in zip(enc.input_ids, labels, strict=True) if lab != -100
    ]


def trained(tok, enc, objective: str) -> list[str]:
    mask = enc.mask(TRAIN_SPANS[objective])
    return [t for t, m in zip(tok.convert_ids_to_tokens(enc.input_ids), mask, strict=True) if m]


def test_genrm_and_dpo_masks(smol):
    layout = get_layout("chatml")
    gen = encode_segments(smol, layout.segments(MSGS, "[[B]]", None), layout)
    assert trained(smol, gen, "genrm") == ["[[", "B", "]]", "<|im_end|>"]
    full = encode_segments(smol, layout.segments(MSGS, "[[B]]", "B wins."), layout)
    assert trained(smol, full, "dpo") == [
        "B",
        "Ġwins",
        ".",
        "<|im_end|>",
    ]  # the reasoning only: header and verdict masked


@pytest.mark.parametrize("layout_name", ["chatml", "llama3"])
@pytest.mark.parametrize("reason", ["A is right.", None])
def test_layout_equals_template_and_its_generation_mask(smol, llama_tok, layout_name, reason):
    """Our explicit segments and the packaged Jinja template (what a checkpoint renders at inference) give the same
    ids, and the template's {% generation %} spans mark exactly the tokens we train."""
    tok = smol if layout_name == "chatml" else llama_tok
    layout = get_layout(layout_name)
    kind = "genrm" if reason is None else "reason"
    tok.chat_template = template_text(layout_name, kind)
    messages = layout.messages(MSGS, "[[A]]", reason)
    enc = encode_segments(tok, layout.segments(MSGS, "[[A]]", reason), layout)
    out = tok.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    assert out["input_ids"] == enc.input_ids
    assert list(out["assistant_masks"]) == enc.mask(TRAIN_SPANS["genrm" if reason is None else "reasongenrm"])
    assert tok.apply_chat_template(messages, tokenize=False) == "".join(
        t for t, _ in layout.segments(MSGS, "[[A]]", reason)
    )


@pytest.mark.parametrize("layout_name", ["chatml", "llama3"])
def test_two_phase_generation_prompts(layout_name):
    """After a user turn the reason template opens the reason turn; after a reason turn, the assistant turn."""
    layout = get_layout(layout_name)
    env = transformers.utils.chat_template_utils._compile_jinja_template(template_text(layout_name, "reason"))
    phase1 = env.render(messages=MSGS, add_generation_prompt=True)
    phase2 = env.render(messages=[*MSGS, {"role": "reason", "content": "R."}], add_generation_prompt=True)
    assert phase1 == layout.reason_prompt(MSGS)
    assert phase2 == layout.verdict_prompt(MSGS, "R.")
    assert layout_for_rendered(phase1) is layout
    genrm = transformers.utils.chat_template_utils._compile_jinja_template(template_text(layout_name, "genrm"))
    assert genrm.render(messages=MSGS, add_generation_prompt=True) == layout.genrm_prompt(MSGS)


def test_layout_detection_and_bad_tokenizers(smol, llama_tok):
    assert layout_for_tokenizer(smol) is LAYOUTS["chatml"]
    assert layout_for_tokenizer(llama_tok) is LAYOUTS["llama3"]
    with pytest.raises(LayoutError, match="lacks the llama3 special tokens"):
        layout_for_tokenizer(smol, "llama3")
    plain = train_small_tokenizer(TEXTS, "chatml", 300)
    plain = transformers.PreTrainedTokenizerFast(tokenizer_object=_strip_specials(plain))
    with pytest.raises(LayoutError, match="neither ChatML"):
        layout_for_tokenizer(plain)


def _strip_specials(tok):
    """A byte-level BPE without any chat tokens (like GPT-2's): its vocabulary has no <|im_start|>."""
    import tokenizers

    t = tokenizers.Tokenizer(tokenizers.models.BPE())
    t.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet()
    )
    t.train_from_iterator(TEXTS, trainer=trainer)
    return t


def test_bad_rows_are_errors_or_counted(smol):
    layout = get_layout("chatml")
    with pytest.raises(LayoutError, match="merge across a turn boundary"):
        encode_segments(smol, layout.segments(MSGS, "[[A]]", "\n\nleading blank lines"), layout)
    row = {"id": "r1", "messages": MSGS, "reason": "fine", "response": "[[C]]"}
    with pytest.raises(RRMError, match="not one of"):
        sft_example(row, layout, smol, "reasongenrm")
    with pytest.raises(LayoutError, match="empty reason"):
        sft_example(dict(row, response="[[A]]", reason="  "), layout, smol, "reasongenrm")
    with pytest.raises(RRMError, match="system/user turns"):
        layout.reason_prompt([{"role": "assistant", "content": "x"}])
    # a reason stripped of surrounding whitespace trains fine
    ex = sft_example(dict(row, response="[[A]]", reason="  fine \n"), layout, smol, "reasongenrm")
    assert smol.decode([t for t in ex["labels"] if t != -100]) == "fine<|im_end|>[[A]]<|im_end|>"

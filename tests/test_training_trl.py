"""The two places where we bend TRL: the DPO loss mask (reasoning only) and the SFT loss reduction (per sample)."""

from __future__ import annotations

import pytest
from rrm_eval.training import TrainConfig, get_layout
from rrm_eval.training._tiny import make_random_model, train_small_tokenizer
from rrm_eval.training._trainer import accumulation_steps

from rrm_eval._errors import RRMError

pytestmark = pytest.mark.train
torch = pytest.importorskip("torch")
pytest.importorskip("trl")

MSGS = [{"role": "user", "content": "Which answer is better, A or B?"}]
TEXTS = ["Which answer is better, A or B? A is right. B is wrong. [[A]] [[B]] reason assistant"] * 30


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tok = train_small_tokenizer(TEXTS, "chatml", 300)
    path = make_random_model(tmp_path_factory.mktemp("m") / "tiny", tokenizer=tok)
    return path, tok


def test_dpo_collator_masks_header_and_verdict(tiny):
    from rrm_eval.training._dpo import _trl_classes, build_dpo_examples

    _, tok = tiny
    layout = get_layout("chatml")
    pair = {"id": "p", "messages": MSGS, "chosen": {"reason": "A is right.", "verdict": "[[A]]"},
            "rejected": {"reason": "B is wrong but longer here.", "verdict": "[[B]]"}}  # fmt: skip
    examples, dropped = build_dpo_examples([pair, pair], layout, tok, 4096)
    assert not dropped
    _, collator_cls = _trl_classes()
    batch = collator_cls(pad_token_id=tok.pad_token_id)(examples)
    ids, mask = batch["input_ids"], batch["completion_mask"]
    assert ids.shape[0] == 4  # [chosen, chosen, rejected, rejected]
    for row, reason in ((0, "A is right."), (2, "B is wrong but longer here.")):
        trained = [t for t, m in zip(ids[row].tolist(), mask[row].tolist(), strict=True) if m]
        assert tok.decode(trained) == reason + "<|im_end|>"  # no assistant header, no verdict
    # TRL's own collator would have trained the whole completion, verdict included
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    stock = DataCollatorForPreference(pad_token_id=tok.pad_token_id)(examples)["completion_mask"]
    assert stock[0].sum() > mask[0].sum()


def _sft_batch(tok):
    from rrm_eval.training._sft import sft_example

    layout = get_layout("chatml")
    rows = [{"id": "a", "messages": MSGS, "reason": "A is right.", "response": "[[A]]"},
            {"id": "b", "messages": MSGS, "reason": "B is wrong. " * 6, "response": "[[B]]"}]  # fmt: skip
    exs = [sft_example(r, layout, tok, "reasongenrm") for r in rows]
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    return exs, DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id)(exs)


@pytest.mark.parametrize("reduction", ["sample", "token"])
def test_sft_loss_reduction(tmp_path, tiny, reduction):
    import trl
    from rrm_eval.training._sft import _sft_trainer_class
    from rrm_eval.training._trainer import load_for_training, to_dataset, trainer_arguments

    path, tok = tiny
    cfg = TrainConfig(model=str(path), out=str(tmp_path), global_batch=2, micro_batch=2, loss_reduction=reduction)
    exs, batch = _sft_batch(tok)
    assert batch["labels"].tolist()[0][: len(exs[0]["labels"])] == exs[0]["labels"]  # TRL keeps our labels
    model = load_for_training(str(path), cfg)
    trainer = _sft_trainer_class()(
        model=model, args=trl.SFTConfig(**trainer_arguments(cfg)), train_dataset=to_dataset(exs), processing_class=tok
    )
    trainer.loss_reduction = reduction
    trainer.current_gradient_accumulation_steps = 1
    model.eval()
    with torch.no_grad():
        n_items = (batch["labels"][:, 1:] != -100).sum()
        loss = trainer.compute_loss(model, dict(batch), num_items_in_batch=n_items)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        labels = batch["labels"][:, 1:]
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
        per_sample = nll.sum(1) / (labels != -100).sum(1)
        expected = per_sample.mean() if reduction == "sample" else nll.sum() / (labels != -100).sum()
    assert float(loss) == pytest.approx(float(expected), rel=1e-4)
    assert abs(per_sample.mean() - nll.sum() / (labels != -100).sum()) > 1e-4  # the two really differ here


def test_global_batch_arithmetic(monkeypatch):
    assert accumulation_steps(TrainConfig(model="m", out="o")) == 128  # recipe: 128 = 1 x 128 x 1 GPU
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert accumulation_steps(TrainConfig(model="m", out="o", micro_batch=2)) == 8
    with pytest.raises(RRMError, match="not a multiple"):
        accumulation_steps(TrainConfig(model="m", out="o", micro_batch=3))
    with pytest.raises(RRMError, match="loss reduction"):
        TrainConfig(model="m", out="o", loss_reduction="mean")

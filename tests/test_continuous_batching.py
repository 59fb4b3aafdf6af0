"""The continuous-batching loop of the lean path (issue 13) on CPU: greedy output equals `generate`, seeded sampling
does not depend on batch composition, slots are refilled (every request once), per-request limits hold, and
preemption under a small KV pool changes nothing. The Triton kernel and CUDA graphs are checked on the GPU machine by
bench/bench_gpu_continuous.py."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from test_backends_fastpath import VOCAB, word_tokenizer  # noqa: E402
from test_backends_fastpath import tiny as fastpath_tiny  # noqa: E402

from rrm_eval.models import GenerateRequest, SamplingParams  # noqa: E402
from rrm_eval.models._continuous import ContinuousDecoder  # noqa: E402
from rrm_eval.models._transformers import TransformersDriver  # noqa: E402


def tiny(kind: str):
    return fastpath_tiny(kind, max_positions=512).eval()


def prompt_ids(count: int, seed: int = 3) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 90, (count,), generator=g).tolist()  # pages of 64: some prompts span two
    return [torch.randint(2, VOCAB, (n,), generator=g).tolist() for n in lengths]


def reference(model, prompt: list[int], limit: int, eos: list[int]) -> list[int]:
    """HF generate, one request at a time: greedy, cut after the first EOS."""
    out = model.generate(
        torch.tensor([prompt]), max_new_tokens=limit, do_sample=False, eos_token_id=eos or None, pad_token_id=0
    )[0, len(prompt) :].tolist()
    end = next((j + 1 for j, t in enumerate(out) if t in eos), len(out))
    return out[:end]


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_greedy_equals_generate_with_refill_and_per_request_limits(kind: str) -> None:
    model = tiny(kind)
    dec = ContinuousDecoder(model, use_graphs=False)
    prompts = prompt_ids(7)
    limits = [1, 5, 30, 12, 45, 3, 20]
    got = dec.run(prompts, limits, [0] * 7, [], greedy=True, slots=3)
    assert [len(g) for g in got] == limits  # no EOS: each request gets exactly its own budget
    for p, lim, g in zip(prompts, limits, got, strict=True):
        assert g == reference(model, p, lim, [])
    stats = dec.last_stats
    assert stats.useful_tokens == sum(limits) and stats.slots == 3
    assert 0 < stats.occupancy <= 1


def test_greedy_stops_at_eos_like_generate() -> None:
    model = tiny("qwen2")
    dec = ContinuousDecoder(model, use_graphs=False)
    prompts = prompt_ids(6, seed=5)
    first = [reference(model, p, 8, [])[3] for p in prompts]  # a token each row really writes: use it as EOS
    eos = sorted(set(first))[:2]
    got = dec.run(prompts, [30] * 6, [0] * 6, eos, greedy=True, slots=2)
    for p, g in zip(prompts, got, strict=True):
        assert g == reference(model, p, 30, eos)
    assert any(g[-1] in eos and len(g) < 30 for g in got)


def test_slot_refill_completes_every_request_once() -> None:
    model = tiny("llama")
    dec = ContinuousDecoder(model, use_graphs=False)
    prompts = prompt_ids(8, seed=9)
    limits = [4 + 3 * i for i in range(8)]
    alone = [dec.run([prompts[i]], [limits[i]], [i], [], greedy=False)[0] for i in range(8)]
    together = dec.run(prompts, limits, list(range(8)), [], greedy=False, slots=3)
    assert together == alone  # each result belongs to its own request: none lost, swapped or duplicated
    assert [len(t) for t in together] == limits


def test_seeded_sampling_does_not_depend_on_batch_composition() -> None:
    model = tiny("qwen2")
    dec = ContinuousDecoder(model, use_graphs=False)
    prompts = prompt_ids(9, seed=11)
    seeds = [1000 + i for i in range(9)]
    kw = dict(greedy=False, temperature=0.9, top_p=0.9)
    full = dec.run(prompts, [12] * 9, seeds, [], slots=3, **kw)
    subset = [1, 4, 8]
    part = dec.run([prompts[i] for i in subset], [12] * 3, [seeds[i] for i in subset], [], slots=2, **kw)
    assert part == [full[i] for i in subset]
    reordered = dec.run(prompts[::-1], [12] * 9, seeds[::-1], [], slots=5, **kw)
    assert reordered[::-1] == full
    other = dec.run(prompts, [12] * 9, [s + 1 for s in seeds], [], slots=3, **kw)
    assert other != full  # the seed matters
    assert len({tuple(t) for t in full}) == 9


def test_small_kv_pool_preempts_and_gives_the_same_tokens() -> None:
    model = tiny("llama")
    prompts = prompt_ids(8, seed=13)
    limits = [40] * 8
    roomy = ContinuousDecoder(model, use_graphs=False).run(prompts, limits, list(range(8)), [], greedy=False, slots=4)
    tight = ContinuousDecoder(model, use_graphs=False, kv_tokens=64 * 7)  # 7 pages for 4 rows of up to 130 tokens
    got = tight.run(prompts, limits, list(range(8)), [], greedy=False, slots=4)
    assert got == roomy
    assert tight.last_stats.preemptions > 0


def test_driver_samples_do_not_depend_on_batch_size() -> None:
    model, tok = tiny("qwen2"), word_tokenizer()
    g = torch.Generator().manual_seed(4)
    reqs = [
        GenerateRequest(" ".join(f"t{t}" for t in torch.randint(2, VOCAB, (n,), generator=g).tolist()), key=f"r{i}")
        for i, n in enumerate([6, 30, 14, 50, 9])
    ]
    params = SamplingParams(max_new_tokens=15, temperature=1.0, top_p=0.95, n=2, seed=3)
    small = TransformersDriver.from_model(model, tok, fast_path="on", batch_size=2).generate(reqs, params)
    large = TransformersDriver.from_model(model, tok, fast_path="on", batch_size=16).generate(reqs, params)
    alone = TransformersDriver.from_model(model, tok, fast_path="on").generate(reqs[3:4], params)
    texts = [[c.text for c in grp] for grp in small]
    assert texts == [[c.text for c in grp] for grp in large]
    assert texts[3] == [c.text for c in alone[0]]
    assert all(len(grp) == 2 and grp[0].text != grp[1].text for grp in small)


def test_padded_prefill_attention_gives_the_same_tokens_and_the_breakdown_adds_up() -> None:
    """Prompt attention padded to a length bucket (the CUDA default, against per-length shape costs) changes no
    token; the stats' breakdown accounts for every admission and request."""
    model = tiny("qwen2")
    prompts = prompt_ids(7, seed=17)
    limits = [9, 3, 17, 6, 11, 2, 14]
    dec = ContinuousDecoder(model, use_graphs=False, prefill_bucket=64)
    assert ContinuousDecoder(model, use_graphs=False).prefill_bucket == 1  # CPU: no padding unless asked
    got = dec.run(prompts, limits, [0] * 7, [], greedy=True, slots=3)
    for p, lim, g in zip(prompts, limits, got, strict=True):
        assert g == reference(model, p, lim, [])
    st = dec.last_stats
    assert st.admitted == 7 and st.admissions == len(st.packs) and sum(n for n, _, _ in st.packs) == 7
    assert st.prefill_tokens == sum(map(len, prompts)) == sum(t for _, t, _ in st.packs)
    whole = st.breakdown(drained=False)
    assert whole["steps"] == st.steps and whole["windows"] == st.windows > 0
    assert whole["host_s"] >= 0 and st.drained_steps <= st.steps and st.drained_admissions <= st.admissions


def test_drain_steps_only_the_running_rows_and_changes_no_token() -> None:
    """Once the queue is empty the loop moves running rows into the lowest slots and steps a narrower batch
    (`_narrow`); a long tail then costs a few rows per step, not every slot, and no token moves."""
    model = tiny("llama")
    dec = ContinuousDecoder(model, use_graphs=False)
    assert dec._narrow_sizes(8) == [1, 2, 4, 8] and dec._narrow_sizes(5) == [1, 2, 3, 5]
    assert ContinuousDecoder(model, use_graphs=False)._narrow_sizes(1) == [1]
    prompts = prompt_ids(10, seed=21)
    limits = [3, 60, 4, 5, 90, 2, 6, 4, 7, 45]  # a few long rows outlive the rest, at high slot indices too
    got = dec.run(prompts, limits, list(range(10)), [], greedy=True, slots=8)
    for p, lim, g in zip(prompts, limits, got, strict=True):
        assert g == reference(model, p, lim, [])
    stats = dec.last_stats
    assert stats.row_steps < stats.steps * stats.slots  # the tail ran narrower than 8 rows
    assert stats.moved_rows > 0  # ... after moving a long row down from a high slot
    sampled = dec.run(prompts, limits, list(range(10)), [], greedy=False, slots=8)
    assert dec._slots is not None and dec._slots.narrow and max(dec._slots.narrow) < 8
    alone = [dec.run([prompts[i]], [limits[i]], [i], [], greedy=False)[0] for i in (1, 4, 9)]
    assert [sampled[i] for i in (1, 4, 9)] == alone


def test_thinking_budget_closed_in_the_loop_equals_two_phase_generate() -> None:
    """ThinkLimit: at the budget a row without the marker is cut to exactly `budget` tokens, the marker's tokens go in
    as inputs (its KV is kept: nothing is prefilled again), and the answer that follows is what `generate` writes
    from prompt + thinking + marker; a row whose thinking closed by itself is untouched."""
    from rrm_eval.models._continuous import ThinkLimit

    model = tiny("qwen2")
    dec = ContinuousDecoder(model, use_graphs=False)
    prompts = prompt_ids(7, seed=17)
    plain = [reference(model, p, 40, []) for p in prompts]
    budget, close = 9, (5, 6, 7)
    # row 0 "closes by itself": its marker is a token it writes within the budget
    marker_of_row0 = plain[0][4]
    think = ThinkLimit(budget, close, lambda toks: marker_of_row0 in toks)
    limits = [40, 40, 30, 12, 11, 40, 40]  # 12 = budget + marker: no room for an answer; 11: cut inside the marker
    got = dec.run(prompts, limits, list(range(7)), [], greedy=True, slots=3, think=think)
    for i, (p, lim, g) in enumerate(zip(prompts, limits, got, strict=True)):
        if marker_of_row0 in plain[i][:budget]:
            assert g == plain[i][:lim] and not dec.last_budget_cut[i]
            continue
        head = plain[i][:budget] + list(close)
        answer = reference(model, p + head, max(0, lim - len(head)), []) if lim > len(head) else []
        assert g == (head + answer)[:lim], i
        assert dec.last_budget_cut[i]
    assert not dec.last_budget_cut[0] and got[0] == plain[0]
    # sampled: the same tokens alone as in a batch, with the forcing in between
    kw = dict(greedy=False, temperature=0.9, top_p=0.95, think=think)
    together = dec.run(prompts, [40] * 7, list(range(7)), [], slots=4, **kw)
    cuts = dec.last_budget_cut
    assert sum(cuts) >= 3 and all(
        t[budget : budget + 3] == list(close) for t, c in zip(together, cuts, strict=True) if c
    )
    alone = [dec.run([prompts[i]], [40], [i], [], slots=1, **kw)[0] for i in (2, 5)]
    assert [together[2], together[5]] == alone


def plain_word_tokenizer():
    """Words w2..w{VOCAB-1} and special tokens no word starts with (the fast-path tests' tokenizer has pad t0 and
    EOS t1, which transformers matches inside words such as t134, so its text does not round-trip)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<pad>": 0, "<eos>": 1, **{f"w{i}": i for i in range(2, VOCAB)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<pad>", eos_token="<eos>"
    )


def test_driver_closes_a_thinking_budget_in_the_loop_like_two_phase_generation(monkeypatch) -> None:
    """The transformers fast path budgets thinking inside its decode loop (`generate_think_budget`): one pass, no
    second prefill, and greedy tokens identical to two-phase generation (phase 2 from prompt + thinking + marker);
    records keep thinking tokens = the budget and budget_cut."""
    from rrm_eval.models import Model
    from rrm_eval.protocols._modes import ThinkBudget
    from rrm_eval.protocols._reasoning import think_with_budget

    # float64: prefill (two-phase's phase 2) and decode steps (the loop) then agree beyond the random model's near-ties
    model, tok = tiny("qwen2").double(), plain_word_tokenizer()
    marker = f"w{VOCAB - 1}"
    g = torch.Generator().manual_seed(8)
    reqs = [
        # a trailing space: two-phase's phase 2 appends the thinking text to the prompt text
        GenerateRequest("".join(f"w{t} " for t in torch.randint(2, VOCAB - 1, (n,), generator=g).tolist()), key=f"r{i}")
        for i, n in enumerate([7, 25, 12])
    ]
    params = SamplingParams(max_new_tokens=30, temperature=0.0)
    budget = ThinkBudget(6, 8)
    loop = Model(TransformersDriver.from_model(model, tok, fast_path="on", batch_size=2))
    two = Model(TransformersDriver.from_model(model, tok, fast_path="on", batch_size=2, think_in_loop=False))
    assert loop.driver.supports_think_budget(marker) and not two.driver.supports_think_budget(marker)
    assert not TransformersDriver.from_model(model, tok, fast_path="off").supports_think_budget(marker)
    expected = think_with_budget(two, reqs, params, budget, marker)

    def no_second_call(*args, **kwargs):
        raise AssertionError("the in-loop budget needs no generate call")

    monkeypatch.setattr(loop.driver, "generate", no_second_call)
    got = think_with_budget(loop, reqs, params, budget, marker)
    for e, b in zip(expected, got, strict=True):
        assert b[0].budget_cut and e[0].budget_cut and b[0].thinking_tokens == 6 == e[0].thinking_tokens
        ids, ref = (tok.encode(x[0].completion.text, add_special_tokens=False) for x in (b, e))
        assert ids[6] == VOCAB - 1 == ref[6]
        # two-phase stops its verdict at 8 tokens; in the loop the answer may run on to max_new_tokens
        assert len(ref) == 15 and len(ids) == 30
        assert ids[:15] == ref, (ids, ref)

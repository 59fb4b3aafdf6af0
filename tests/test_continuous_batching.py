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

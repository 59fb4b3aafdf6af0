"""Input checks of the model layer: spec and option parsing, the typed option declarations, the OpenAI reply
parser (property tests: any input gives a typed result or an RRMError, never another exception), request screening
in the Model wrapper, and hf: GGUF files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rrm_eval._errors import RRMError, UnknownNameError
from rrm_eval.models import (
    Completion,
    GenerateRequest,
    Model,
    ModelSpec,
    SamplingParams,
    ScoreRequest,
    ScoreResult,
    load_model,
    parse_options,
    parse_spec,
)
from rrm_eval.models._base import Driver
from rrm_eval.models._openai import (
    CompletionReply,
    EchoReply,
    OpenAIDriver,
    ServedModel,
    decode_body,
    parse_reply,
    parse_target,
)
from rrm_eval.models._options import Option, check_options
from rrm_eval.models._scripted import ScriptedDriver
from rrm_eval.models._spec import _DRIVERS, check_model_options, driver_class
from rrm_eval.models._transformers import TransformersDriver

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
# Shapes close to real replies, so the property test reaches the inner checks and not only "not an object".
choice = st.fixed_dictionaries(
    {},
    optional={
        "text": json_values,
        "message": st.fixed_dictionaries({}, optional={"content": json_values, "role": st.just("assistant")}),
        "finish_reason": st.sampled_from(["stop", "length", None, 3, "abort"]),
        "logprobs": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "token_logprobs": st.lists(st.none() | st.floats() | st.text(max_size=3), max_size=5),
                "tokens": st.lists(st.text(max_size=3) | st.integers(), max_size=5),
            },
        ),
    },
)
replies = json_values | st.fixed_dictionaries(
    {},
    optional={
        "choices": json_values | st.lists(choice | json_values, max_size=4),
        "usage": json_values,
        "data": json_values | st.lists(st.fixed_dictionaries({}, optional={"id": json_values}), max_size=3),
    },
)


# -- property tests ----------------------------------------------------------------------------------------------
@PROPERTY
@given(st.text(max_size=60))
def test_spec_parser_gives_a_spec_or_an_rrm_error(spec: str) -> None:
    try:
        parsed = parse_spec(spec)
    except RRMError as exc:
        assert exc.message and exc.hint
    else:
        assert isinstance(parsed, ModelSpec) and parsed.prefix


@PROPERTY
@given(st.sampled_from(["http", "https", "ftp", ""]), st.text(max_size=40))
def test_openai_target_parser_gives_a_url_or_an_rrm_error(scheme: str, rest: str) -> None:
    for target in (rest, f"{scheme}://{rest}"):
        try:
            url, model = parse_target(target)
        except RRMError as exc:
            assert exc.message and exc.hint
        else:
            assert url.startswith(("http://", "https://")) and (model is None or model.strip() == model != "")


@PROPERTY
@given(st.lists(st.text(max_size=30), max_size=5))
def test_option_parser_gives_a_dict_or_an_rrm_error(pairs: list[str]) -> None:
    try:
        out = parse_options(pairs)
    except RRMError as exc:
        assert exc.message and exc.hint
    else:
        assert isinstance(out, dict) and all(isinstance(k, str) and k.isidentifier() for k in out)


@PROPERTY
@given(
    st.sampled_from(sorted(_DRIVERS)),
    st.dictionaries(
        st.sampled_from(["delay", "batch_size", "timeout", "max_retries", "n_ctx", "dtype", "extra_body", "dealy"])
        | st.text(max_size=8),
        json_values,
        max_size=4,
    ),
)
def test_option_check_gives_typed_options_or_an_rrm_error(prefix: str, options: dict[str, Any]) -> None:
    table = driver_class(ModelSpec(prefix, "x")).option_table()
    try:
        out = check_model_options(ModelSpec(prefix, "x"), options)
    except RRMError as exc:
        assert exc.message and exc.hint
    else:
        for name, value in out.items():
            opt = table.get(name)
            if opt is None:
                continue  # vLLM engine arguments pass through
            want = {"int": int, "float": float, "bool": bool, "choice": str, "str": str, "file": str}
            assert isinstance(value, want.get(opt.type, dict)), (name, value)
            if opt.type in ("int", "float"):
                assert not isinstance(value, bool) and math.isfinite(value)
                assert opt.low is None or value >= opt.low
                assert opt.high is None or value <= opt.high


@PROPERTY
@given(replies, st.sampled_from(["chat", "completions", "score", "models"]))
def test_reply_parser_gives_a_typed_reply_or_an_rrm_error(body: Any, kind: Any) -> None:
    try:
        got = parse_reply(body, kind)
    except RRMError as exc:
        assert exc.message and exc.hint
        return
    if kind == "models":
        assert isinstance(got, list) and all(isinstance(m, ServedModel) and m.id for m in got)
    elif kind == "score":
        assert isinstance(got, EchoReply)
        assert all(v is None or isinstance(v, float) for v in got.token_logprobs)
        assert all(isinstance(t, str) for t in got.tokens)
    else:
        assert isinstance(got, CompletionReply) and got.choices
        assert all(isinstance(c.text, str) for c in got.choices)


@PROPERTY
@given(st.text(max_size=40))
def test_body_decoder_gives_json_or_an_rrm_error(text: str) -> None:
    try:
        value = decode_body(text)
    except RRMError as exc:
        assert "not JSON" in exc.message
    else:
        assert json.dumps(value) is not None


# -- the option mechanism -----------------------------------------------------------------------------------------
def test_every_driver_declares_what_it_reads() -> None:
    """Options each driver reads, collected from its code: all of them are declared, with a help line."""
    reads = {
        "scripted": {"delay"},
        "hf": {"name", "chat_template", "dtype", "device", "batch_size", "score_batch_size", "max_length",
               "gguf_file", "attn_implementation", "trust_remote_code", "fast_path", "cuda_graphs",
               "prefill_tokens", "score_tokens"},
        "vllm": {"name", "tokenizer", "chat_template", "dtype", "tensor_parallel_size", "enable_prefix_caching",
                 "seed", "max_model_len", "gpu_memory_utilization", "enforce_eager", "think_start", "think_end"},
        "openai": {"name", "tokenizer", "mode", "max_concurrency", "max_retries", "backoff", "max_backoff", "timeout",
                   "connect_timeout", "api_key_env", "max_model_len", "extra_body"},
        "llamacpp": {"name", "n_ctx", "n_threads", "n_batch", "n_gpu_layers", "tokenizer", "chat_template", "seed",
                     "verbose"},
        "smollm2": set(),
    }  # fmt: skip
    for prefix, names in reads.items():
        spec = ModelSpec(prefix, "" if prefix == "smollm2" else "x")
        table = driver_class(spec).option_table()
        assert names <= set(table), (prefix, names - set(table))
        assert all(o.help for o in table.values())
    assert set(driver_class(ModelSpec("smollm2", "")).option_table()) == set(TransformersDriver.option_table())


@pytest.mark.parametrize(
    ("options", "typed"),
    [
        ({"delay": "0.5"}, {"delay": 0.5}),
        ({"delay": 2}, {"delay": 2.0}),
        ({"delay": None}, {}),  # none = the default
        ({"chunk_size": 8.0}, {"chunk_size": 8}),
    ],
)
def test_options_are_typed_once(options: dict[str, Any], typed: dict[str, Any]) -> None:
    got = ScriptedDriver("first", **options).options
    assert got == typed and [type(v) for v in got.values()] == [type(v) for v in typed.values()]


def test_choice_options_take_their_aliases_and_names_keep_their_text() -> None:
    assert check_model_options("hf:x", {"fast_path": False, "name": 7}) == {"fast_path": "off", "name": "7"}
    assert check_model_options("openai:http://h/v1", {"extra_body": '{"top_k": 5}'}) == {"extra_body": {"top_k": 5}}


def test_unknown_option_suggests_the_near_one() -> None:
    with pytest.raises(UnknownNameError) as err:
        ScriptedDriver("first", dealy=0.1)
    assert "'dealy'" in err.value.message and "did you mean 'delay'" in (err.value.hint or "")
    with pytest.raises(UnknownNameError) as err:
        check_model_options("openai:http://h/v1", {"max_retry": 3})
    assert "did you mean 'max_retries'" in (err.value.hint or "")


def test_out_of_range_names_option_value_and_range() -> None:
    with pytest.raises(RRMError) as err:
        check_model_options("openai:http://h/v1", {"max_concurrency": 0})
    assert err.value.message == (
        "model option max_concurrency=0 is not valid: out of range; it must be an integer in [1, 4096]"
    )
    with pytest.raises(RRMError) as err:
        check_model_options("vllm:x", {"gpu_memory_utilization": 0})
    assert "(0, 1]" in err.value.message


def test_secret_looking_values_are_not_echoed() -> None:
    table = {"api_key_env": Option("str", "env var", pattern=r"[A-Z_]+")}
    with pytest.raises(RRMError) as err:
        check_options({"api_key_env": "sk-live-123"}, table, "openai")
    assert "sk-live-123" not in str(err.value) and "<redacted>" in err.value.message


def test_vllm_engine_arguments_pass_through_while_declared_ones_are_checked() -> None:
    assert check_model_options("vllm:x", {"max_num_batched_tokens": 4096})["max_num_batched_tokens"] == 4096
    with pytest.raises(RRMError, match="tensor_parallel_size='two'"):
        check_model_options("vllm:x", {"tensor_parallel_size": "two"})


def test_parse_options_types_values_and_refuses_duplicates() -> None:
    assert parse_options(["batch-size=8", "dtype=bfloat16", "x=0.5", "y=true", "z=none"]) == {
        "batch_size": 8,
        "dtype": "bfloat16",
        "x": 0.5,
        "y": True,
        "z": None,
    }
    with pytest.raises(RRMError, match="given twice"):
        parse_options(["a=1", "a=2"])


# -- request screening in the wrapper -----------------------------------------------------------------------------
class Counting(Driver):
    """A driver with a context of 10 'tokens' (words) that records what reaches it."""

    prefix = "counting"
    score_reserve = 1

    def __init__(self) -> None:
        super().__init__("counting")
        self.seen: list[str] = []

    def apply_chat_template(self, messages: Any, add_generation_prompt: bool = True) -> str:
        return " ".join(m["content"] for m in messages)

    def context_length(self) -> int | None:
        return 10

    def count_tokens(self, text: str) -> int | None:
        return len(text.split())

    def generate(self, requests: list[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
        self.seen += [r.prompt for r in requests]
        return [[Completion(f"ok {r.prompt}", "stop", len(r.prompt.split()), 1)] * params.n for r in requests]

    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        self.seen += [r.prompt + "|" + r.continuation for r in requests]
        out = [ScoreResult([-1.0], ["x"], 1) for _ in requests]
        if requests and requests[-1].continuation == "fail":
            out[-1] = ScoreResult([], [], 1, error="engine said no")  # a driver that forgot `failure`
        return out


def test_wrapper_screens_prompts_before_the_driver() -> None:
    driver = Counting()
    reqs = [GenerateRequest("a b"), GenerateRequest(""), GenerateRequest("w " * 10), GenerateRequest(" "), "c"]
    reqs[-1] = GenerateRequest("c")
    out = Model(driver, chunk_size=2).generate(reqs, SamplingParams(n=2))
    assert [len(g) for g in out] == [2] * 5
    assert [g[0].finish_reason for g in out] == ["stop", "error", "input_too_long", "error", "stop"]
    assert out[1][0].error == "empty prompt" and out[3][0].error == "empty prompt (no tokens)"
    assert out[2][0].error == "truncated input: 10 prompt tokens > 9 usable context"
    assert out[4][0].text == "ok c" and driver.seen == ["a b", "c"]


def test_wrapper_screens_score_requests_and_types_every_failure() -> None:
    driver = Counting()
    reqs = [
        ScoreRequest("p q", "A"),
        ScoreRequest("p q", ""),
        ScoreRequest("", "A"),
        ScoreRequest("w " * 8, "A B"),  # 8 + 2 > 10 - 1 reserved
        ScoreRequest("p q", "fail"),
    ]
    out = Model(driver).score(reqs)
    assert len(out) == 5
    assert [r.failure for r in out] == [None, "backend_error", "backend_error", "input_too_long", "backend_error"]
    assert out[3].error == "truncated input: 10 tokens > 9 context"
    assert all((r.failure is None) == (r.error is None) for r in out)
    assert driver.seen == ["p q|A", "p q|fail"]


def test_short_groups_are_filled_never_dropped() -> None:
    class Short(Counting):
        def generate(self, requests: list[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
            return [[Completion("one", "stop")] for _ in requests]

    out = Model(Short()).generate([GenerateRequest("a")], SamplingParams(n=3, temperature=1.0))
    assert [c.finish_reason for c in out[0]] == ["stop", "error", "error"]
    assert out[0][2].error == "backend returned 1 of 3 completions"


@pytest.mark.parametrize(
    ("messages", "needle"),
    [
        ("hello", "must be a non-empty list"),
        ([], "must be a non-empty list"),
        (["hi"], "chat message 0 is a str"),
        ([{"role": "user"}], "field 'content' must be a string, it is missing"),
        ([{"role": "user", "content": None}], "it is a NoneType"),
        ([{"role": 1, "content": "x"}], "field 'role' must be a string"),
        ([{"role": " ", "content": "x"}], "field 'role' is empty"),
    ],
)
def test_render_refuses_malformed_messages(messages: Any, needle: str) -> None:
    model = load_model("scripted:first")
    with pytest.raises(RRMError) as err:
        model.render(messages)
    assert needle in err.value.message and err.value.hint


def test_render_accepts_good_messages() -> None:
    text = load_model("scripted:first").render([{"role": "user", "content": "hi"}])
    assert text == "<|user|>\nhi\n<|assistant|>\n"


# -- hf: GGUF files -----------------------------------------------------------------------------------------------
def test_hf_gguf_file_is_converted_once_through_the_shared_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hf:FILE.gguf goes through the same dequantize-and-cache code as the embedded default (conversion itself is
    replaced by a stub: the real one is covered by the embedded model's slow tests)."""
    from rrm_eval.models import _gguf

    gguf = tmp_path / "judge.gguf"
    gguf.write_bytes(b"GGUF" + bytes(range(256)) * 50)
    calls: list[tuple[Path, str]] = []

    def fake_convert(path: Path, folder_name: str, note: str) -> Path:
        calls.append((path, folder_name))
        (tmp_path / "converted").mkdir(exist_ok=True)
        return tmp_path / "converted"

    monkeypatch.setattr(_gguf, "dequantized_folder", fake_convert)
    loaded: list[str] = []

    class Stop(Exception):
        pass

    def fake_from_pretrained(target: str, **kwargs: Any) -> Any:
        loaded.append(target)
        raise Stop

    import transformers

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake_from_pretrained)
    with pytest.raises(Stop):
        load_model(f"hf:{gguf}")
    assert calls == [(gguf.resolve(), f"judge-{_gguf.fingerprint(gguf.resolve())}")]
    assert loaded == [str(tmp_path / "converted")]


def test_gguf_fingerprint_sees_the_tail_of_user_files(tmp_path: Path) -> None:
    from rrm_eval.models._gguf import fingerprint

    head = b"x" * (3 << 20)
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    a.write_bytes(head + b"A")
    b.write_bytes(head + b"B")
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(a, tail=False) == fingerprint(b, tail=False)


def test_openai_driver_checks_options_before_any_network() -> None:
    # Port 9 (discard) is never contacted: the option error comes first.
    with pytest.raises(RRMError, match="timeout"):
        OpenAIDriver("http://127.0.0.1:9/v1#m", timeout=0)

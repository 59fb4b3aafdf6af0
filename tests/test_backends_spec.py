"""Backend specs, install hints and the OpenAI driver's failure modes that need no model."""

from __future__ import annotations

import time

import pytest
from contract._engines import free_port, installed

from rrm_eval._errors import MissingDependencyError, RRMError, UnknownNameError
from rrm_eval.models import backends, load_model, parse_spec
from rrm_eval.models._openai import CHAT_MARKER, ServerUnreachable, _messages, parse_target


def test_every_engine_prefix_is_registered() -> None:
    assert {"hf", "vllm", "openai", "llamacpp", "scripted", "smollm2"} <= set(backends())


@pytest.mark.parametrize("spec", ["vlm:/models/x", "openia:http://127.0.0.1:8000/v1#m", "llama:/x.gguf"])
def test_unknown_prefix_lists_the_valid_ones(spec: str) -> None:
    with pytest.raises(UnknownNameError) as err:
        parse_spec(spec)
    hint = err.value.hint or ""
    for prefix in ("hf", "vllm", "openai", "llamacpp"):
        assert prefix in hint
    assert "did you mean" in hint


def test_spec_without_prefix_says_how_to_write_one() -> None:
    with pytest.raises(RRMError) as err:
        parse_spec("./my-model")
    assert "no backend prefix" in err.value.message
    assert "vllm:" in (err.value.hint or "") and "openai:" in (err.value.hint or "")


def test_openai_target_keeps_the_model_after_the_hash() -> None:
    assert parse_target("http://127.0.0.1:8000/v1#judge") == ("http://127.0.0.1:8000/v1", "judge")
    assert parse_target("https://api.example.org/v1/") == ("https://api.example.org/v1", None)
    assert str(parse_spec("openai:http://127.0.0.1:8000/v1#judge")) == "openai:http://127.0.0.1:8000/v1#judge"


@pytest.mark.parametrize("target", ["127.0.0.1:8000/v1#m", "ftp://host/v1", "http:///v1#m"])
def test_openai_target_must_be_an_http_url(target: str) -> None:
    with pytest.raises(RRMError) as err:
        load_model(f"openai:{target}")
    assert "openai:http://127.0.0.1:8000/v1#model-name" in (err.value.hint or "")


@pytest.mark.parametrize(
    ("module", "spec", "extra"),
    [("vllm", "vllm:/nonexistent/model", "vllm"), ("llama_cpp", "llamacpp:/nonexistent/model.gguf", "llamacpp")],
)
def test_missing_engine_gives_a_one_line_install_hint(module: str, spec: str, extra: str) -> None:
    if installed(module):
        pytest.skip(f"{module} is installed in this environment")
    with pytest.raises(MissingDependencyError) as err:
        load_model(spec)
    assert err.value.hint == f"pip install 'rrm-eval[{extra}]'"
    assert "\n" not in err.value.message


def test_unreachable_server_is_a_clear_error_after_bounded_retries() -> None:
    port = free_port()  # nothing listens there any more
    t0 = time.monotonic()
    with pytest.raises(ServerUnreachable) as err:
        load_model(f"openai:http://127.0.0.1:{port}/v1#m", max_retries=2, backoff=0.01, connect_timeout=2)
    assert time.monotonic() - t0 < 20
    assert "no answer after 3 tries" in err.value.message
    assert "ConnectError" in err.value.message
    assert "resume" in (err.value.hint or "")


def test_chat_mode_prompt_round_trips_the_messages() -> None:
    msgs = [{"role": "system", "content": "Be fair."}, {"role": "user", "content": "A or B? {braces} \u00e9"}]
    import json

    rendered = CHAT_MARKER + json.dumps(msgs, ensure_ascii=False)
    assert _messages(rendered) == msgs
    assert _messages("plain text") == [{"role": "user", "content": "plain text"}]

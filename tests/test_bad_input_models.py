"""Malformed inputs to the model layer, each ending in a clear error: model specs, --model-opt values, openai URLs,
ports and extra_body, and server replies of the wrong shape (from a tiny local HTTP server started here)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rrm_eval import cli
from rrm_eval._errors import RRMError
from rrm_eval.models import GenerateRequest, SamplingParams, ScoreRequest, load_model, parse_options, parse_spec
from rrm_eval.models._openai import ServerUnreachable
from rrm_eval.models._spec import check_model_options

GOOD_MODELS: Any = {"data": [{"id": "m", "max_model_len": 64}]}


# -- a tiny OpenAI-shaped server ----------------------------------------------------------------------------------
def chat_reply(kind: str, n: int) -> tuple[int, Any]:
    """(status, body) the fake server sends for a request whose prompt names ``kind``."""
    good = [{"message": {"role": "assistant", "content": f"answer {i}"}, "finish_reason": "stop"} for i in range(n)]
    return {
        "good": (200, {"choices": good, "usage": {"prompt_tokens": 3, "completion_tokens": 2 * n}}),
        "no_choices": (200, {"id": "cmpl-1", "object": "chat.completion"}),
        "empty_choices": (200, {"choices": []}),
        "string_choices": (200, {"choices": "answer"}),
        "list_body": (200, [{"choices": good}]),
        "non_json": (200, "<html>gateway says hi</html>"),
        "no_text": (200, {"choices": [{"message": {"role": "assistant"}, "finish_reason": "stop"}]}),
        "number_text": (200, {"choices": [{"message": {"content": 7}, "finish_reason": "stop"}]}),
        "error_body": (200, {"error": {"message": "model overloaded"}}),
        "few": (200, {"choices": good[:2]}),
        "unavailable": (503, {"error": {"message": "try later"}}),
        "bad_request": (400, {"error": {"message": "bad temperature"}}),
        "too_long": (400, {"error": {"message": "This model's maximum context length is 64 tokens"}}),
    }[kind]


def score_reply(kind: str, n_tokens: int) -> tuple[int, Any]:
    lps: list[Any] = [None] + [-0.5] * n_tokens  # the echoed prompt, then the generated token
    tokens = [f"t{i}" for i in range(n_tokens + 1)]
    good = {"choices": [{"text": "", "logprobs": {"token_logprobs": lps, "tokens": tokens}}]}
    return {
        "good": (200, good),
        "no_logprobs": (200, {"choices": [{"text": ""}]}),
        "string_logprobs": (200, {"choices": [{"text": "", "logprobs": "none"}]}),
        "text_values": (200, {"choices": [{"text": "", "logprobs": {"token_logprobs": ["x"] * 9, "tokens": []}}]}),
        "short": (200, {"choices": [{"text": "", "logprobs": {"token_logprobs": [None, -1.0], "tokens": ["a"]}}]}),
        "no_choices": (200, {"object": "text_completion"}),
    }[kind]


class FakeServer:
    """OpenAI-shaped replies on 127.0.0.1: the prompt (chat: the last message; completions: the first token id,
    a word-tokenizer id) names the shape of the reply."""

    def __init__(self, models: tuple[int, Any] = (200, GOOD_MODELS), kinds_by_id: dict[int, str] | None = None):
        self.hits: Counter[str] = Counter()
        self.kinds_by_id = kinds_by_id or {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def send(self, status: int, body: Any) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                outer.hits["models"] += 1
                self.send(*models)

            def do_POST(self) -> None:
                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path.endswith("/chat/completions"):
                    kind = req["messages"][-1]["content"]
                    outer.hits[kind] += 1
                    self.send(*chat_reply(kind, int(req.get("n", 1))))
                    return
                prompt = req["prompt"]
                first = prompt[0] if isinstance(prompt, list) else int(prompt.split()[0][1:])
                kind = outer.kinds_by_id.get(first, "good")
                outer.hits[kind] += 1
                self.send(*score_reply(kind, len(prompt) if isinstance(prompt, list) else len(prompt.split())))

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the driver opens up to 16 connections at once

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    srv = FakeServer()
    yield srv
    srv.close()


def serve_models(body: Any, status: int = 200) -> Callable[[], Any]:
    """A table case: load an openai model from a server whose /models reply is ``body``."""

    def run() -> Any:
        srv = FakeServer(models=(status, body))
        try:
            return load_model(f"openai:{srv.url}", max_retries=0)
        finally:
            srv.close()

    return run


def word_tokenizer_folder(tmp: Path) -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(100)}, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="t0", unk_token="t0", eos_token="t1")
    fast.save_pretrained(tmp)
    return str(tmp)


# -- the table: each malformed input, and what its error must say --------------------------------------------------
OPENAI = "openai:http://127.0.0.1:9/v1#m"  # port 9: never contacted, the option checks come first
CASES: list[tuple[str, Callable[[], Any], str]] = [
    # model specs
    ("empty spec", lambda: parse_spec(""), "has no backend prefix"),
    ("no prefix", lambda: parse_spec("./my-model"), "has no backend prefix"),
    ("prefix only", lambda: parse_spec("hf:"), "names no model after 'hf:'"),
    ("blank target", lambda: parse_spec("vllm:   "), "names no model after 'vllm:'"),
    ("typo prefix", lambda: parse_spec("vlm:/m"), "unknown model backend 'vlm'"),
    ("unknown preset", lambda: load_model("scripted:nope"), "unknown scripted preset"),
    ("preset with junk", lambda: load_model("scripted:first:x"), "unknown scripted preset 'first:x'"),
    ("accuracy not a number", lambda: load_model("scripted:accuracy:high"), "is not a probability"),
    ("accuracy above 1", lambda: load_model("scripted:accuracy:1.5"), "is not a probability"),
    ("accuracy nan", lambda: load_model("scripted:accuracy:nan"), "is not a probability"),
    ("missing gguf", lambda: load_model("hf:/nonexistent/judge.gguf"), "GGUF file '/nonexistent/judge.gguf'"),
    # --model-opt syntax
    ("no value", lambda: parse_options(["novalue"]), "bad model option 'novalue'"),
    ("no key", lambda: parse_options(["=3"]), "bad model option '=3'"),
    ("blank key", lambda: parse_options(["  =3"]), "bad model option"),
    ("key with space", lambda: parse_options(["batch size=3"]), "bad model option name 'batch size'"),
    ("key starting with digit", lambda: parse_options(["9x=1"]), "bad model option name '9x'"),
    ("duplicate key", lambda: parse_options(["delay=1", "delay=2"]), "'delay' is given twice"),
    # option values
    ("delay not a number", lambda: load_model("scripted:first", **parse_options(["delay=abc"])), "delay='abc'"),
    ("delay negative", lambda: load_model("scripted:first", delay=-1), "delay=-1 is not valid: out of range"),
    ("delay nan", lambda: load_model("scripted:first", **parse_options(["delay=nan"])), "not a finite number"),
    ("delay bool", lambda: load_model("scripted:first", delay=True), "delay=True is not valid: not a number"),
    ("unknown option", lambda: load_model("scripted:first", dealy=1), "unknown scripted model option 'dealy'"),
    ("chunk_size zero", lambda: load_model("scripted:first", chunk_size=0), "chunk_size=0"),
    ("chunk_size fraction", lambda: load_model("scripted:first", chunk_size=1.5), "chunk_size=1.5"),
    ("chunk_size text", lambda: load_model("scripted:first", chunk_size="many"), "chunk_size='many'"),
    ("hf dtype", lambda: load_model("hf:/nonexistent", dtype="int8"), "dtype='int8'"),
    ("hf batch_size", lambda: load_model("hf:/nonexistent", batch_size=0), "batch_size=0"),
    ("hf device", lambda: load_model("hf:/nonexistent", device="gpu"), "device='gpu'"),
    ("hf fast_path", lambda: load_model("hf:/nonexistent", fast_path="maybe"), "fast_path='maybe'"),
    ("hf chat_template missing", lambda: load_model("hf:/x", chat_template="/no/t.jinja"), "no such file"),
    ("vllm tensor_parallel_size", lambda: check_model_options("vllm:x", {"tensor_parallel_size": 0}), "[1, 1024]"),
    ("vllm tp text", lambda: check_model_options("vllm:x", {"tensor_parallel_size": "2x"}), "not an integer"),
    ("llamacpp n_ctx", lambda: check_model_options("llamacpp:x.gguf", {"n_ctx": -5}), "n_ctx=-5"),
    ("llamacpp n_batch", lambda: check_model_options("llamacpp:x.gguf", {"n_batch": 0.5}), "n_batch=0.5"),
    ("openai timeout zero", lambda: load_model(OPENAI, timeout=0), "timeout=0 is not valid"),
    ("openai timeout text", lambda: load_model(OPENAI, timeout="soon"), "timeout='soon'"),
    ("openai max_retries", lambda: load_model(OPENAI, max_retries=-1), "max_retries=-1"),
    ("openai max_concurrency", lambda: load_model(OPENAI, max_concurrency=1e9), "max_concurrency"),
    ("openai backoff", lambda: load_model(OPENAI, backoff=-0.5), "backoff=-0.5"),
    ("openai mode", lambda: load_model(OPENAI, mode="fast"), "mode='fast'"),
    ("openai api_key_env", lambda: load_model(OPENAI, api_key_env="MY KEY"), "api_key_env=<redacted>"),
    ("openai max_model_len", lambda: load_model(OPENAI, max_model_len=1), "max_model_len=1"),
    ("extra_body list", lambda: load_model(OPENAI, extra_body="[1, 2]"), "a JSON list, not an object"),
    ("extra_body not JSON", lambda: load_model(OPENAI, extra_body="{top_k: 2"), "not JSON"),
    ("extra_body number", lambda: load_model(OPENAI, extra_body=5), "extra_body=5"),
    ("extra_body reserved", lambda: load_model(OPENAI, extra_body='{"n": 4}'), "extra_body sets n"),
    ("extra_body stream", lambda: load_model(OPENAI, extra_body={"stream": True}), "extra_body sets stream"),
    # openai URLs and ports
    ("port too big", lambda: load_model("openai:http://127.0.0.1:99999/v1#m"), "is not a valid URL"),
    ("port zero", lambda: load_model("openai:http://127.0.0.1:0/v1#m"), "has port 0"),
    ("port text", lambda: load_model("openai:http://127.0.0.1:eighty/v1#m"), "is not a valid URL"),
    ("port empty", lambda: load_model("openai:http://127.0.0.1:/v1#m"), "empty port"),
    ("ftp scheme", lambda: load_model("openai:ftp://host/v1#m"), "is not an http(s) URL"),
    ("no scheme", lambda: load_model("openai:127.0.0.1:8000/v1#m"), "is not an http(s) URL"),
    ("no host", lambda: load_model("openai:http:///v1#m"), "is not an http(s) URL"),
    ("bad ipv6", lambda: load_model("openai:http://[::1/v1#m"), "is not a valid URL"),
    ("empty model", lambda: load_model("openai:http://127.0.0.1:8000/v1#"), "empty model name"),
    ("two hashes", lambda: load_model("openai:http://127.0.0.1:8000/v1#a#b"), "malformed model name"),
    ("credentials", lambda: load_model("openai:http://u:sk-1@127.0.0.1:8000/v1#m"), "holds credentials"),
    ("query", lambda: load_model("openai:http://127.0.0.1:8000/v1?x=1#m"), "query string"),
    # /models replies when the driver resolves the model name
    ("models list body", serve_models([{"id": "m"}]), "/models: the reply is a JSON list"),
    ("models no data", serve_models({"object": "list"}), "no 'data' list"),
    ("models data string", serve_models({"data": "m"}), "no 'data' list (it is string)"),
    ("models entry without id", serve_models({"data": [{"object": "model"}]}), "data[0] has no model 'id'"),
    ("models not JSON", serve_models("<html>login</html>"), "/models: the reply body is not JSON"),
    ("models none served", serve_models({"data": []}), "serves 0 models; say which one"),
    ("models unauthorized", serve_models({"error": "no key"}, status=401), "HTTP 401"),
]


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 35 and len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("name", "make", "needle"), CASES, ids=[c[0] for c in CASES])
def test_malformed_input_is_a_clear_error(name: str, make: Callable[[], Any], needle: str) -> None:
    with pytest.raises(RRMError) as err:
        make()
    assert needle in err.value.message, err.value.message
    assert err.value.hint, name
    assert "Traceback" not in str(err.value)


# -- through the CLI, in-process ------------------------------------------------------------------------------------
CLI_CASES = [
    (["--model", "openai:http://127.0.0.1:99999/v1#m"], "not a valid URL"),
    (["--model", "openai:http://127.0.0.1:8000/v1#m", "--model-opt", "extra_body=[1]"], "extra_body"),
    (["--model", "openai:http://127.0.0.1:8000/v1#m", "--model-opt", "max_concurrency=0"], "max_concurrency=0"),
    (["--model", "scripted:first", "--model-opt", "delay=abc"], "delay='abc'"),
    (["--model", "scripted:first", "--model-opt", "dealy=1"], "did you mean"),
    (["--model", "scripted:first", "--model-opt", "chunk_size=-3"], "chunk_size=-3"),
    (["--model", "scripted:first", "--model-opt", "delay=1", "--model-opt", "delay=2"], "given twice"),
    (["--model", "hf:"], "names no model"),
]


@pytest.mark.parametrize(("args", "needle"), CLI_CASES, ids=[c[1] for c in CLI_CASES])
def test_cli_reports_model_mistakes_with_a_hint(
    args: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli.main(["pairwise", *args, "--limit", "2", "--quiet", "--output-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("error:") and "\nhint: " in err and needle in err
    assert "Traceback" not in err


# -- server replies of the wrong shape: only the affected requests fail --------------------------------------------
BAD_CHAT = {
    "no_choices": "the reply has no 'choices'",
    "empty_choices": "the reply's 'choices' list is empty",
    "string_choices": "the reply's 'choices' is a JSON string, not a list",
    "list_body": "the reply is a JSON list, not an object",
    "non_json": "the reply body is not JSON",
    "no_text": "choices[0].message.content is missing",
    "number_text": "choices[0].message.content is a JSON number",
    "error_body": "the reply has no 'choices' (it says: model overloaded)",
}


def test_bad_replies_error_only_their_own_requests(server: FakeServer) -> None:
    # Retries on (they only ever fire on transport glitches here): bad shapes are never retried.
    model = load_model(f"openai:{server.url}#m", max_retries=2, backoff=0.01, chunk_size=64)
    kinds = ["good", *BAD_CHAT, "good", "bad_request", "too_long", "good"]
    reqs = [GenerateRequest(model.render([{"role": "user", "content": k}]), key=f"k{i}") for i, k in enumerate(kinds)]
    out = model.generate(reqs, SamplingParams(max_new_tokens=4))
    assert len(out) == len(kinds) and all(len(g) == 1 for g in out)
    assert all(server.hits[k] == 1 for k in BAD_CHAT), server.hits
    for kind, (c,) in zip(kinds, out, strict=True):
        if kind == "good":
            assert (c.text, c.finish_reason, c.error) == ("answer 0", "stop", None)
        elif kind == "too_long":
            assert c.finish_reason == "input_too_long" and "maximum context length" in (c.error or "")
        elif kind == "bad_request":
            assert c.finish_reason == "error" and c.error == "HTTP 400: bad temperature"
        else:
            assert (c.text, c.finish_reason) == ("", "error"), kind
            assert (c.error or "").startswith(f"malformed reply from the server: {BAD_CHAT[kind]}"), (kind, c.error)


def test_fewer_choices_than_n_is_an_error_for_that_request(server: FakeServer) -> None:
    model = load_model(f"openai:{server.url}#m", max_retries=0)
    reqs = [GenerateRequest(model.render([{"role": "user", "content": k}])) for k in ("few", "good")]
    few, good = model.generate(reqs, SamplingParams(n=3, temperature=1.0, max_new_tokens=4))
    assert [c.finish_reason for c in few] == ["error"] * 3
    assert few[0].error == "malformed reply from the server: the reply has 2 choices for n=3"
    assert [c.text for c in good] == ["answer 0", "answer 1", "answer 2"]


def test_exhausted_retries_error_only_their_own_request(server: FakeServer) -> None:
    model = load_model(f"openai:{server.url}#m", max_retries=2, backoff=0.01, max_concurrency=1)
    kinds = ["good", "unavailable", "good"]
    reqs = [
        GenerateRequest(model.render([{"role": "user", "content": k}]), key=k + str(i)) for i, k in enumerate(kinds)
    ]
    out = model.generate(reqs, SamplingParams(max_new_tokens=4))
    assert [g[0].text for g in out] == ["answer 0", "", "answer 0"]
    assert out[1][0].finish_reason == "error" and "no answer after 3 tries (HTTP 503" in (out[1][0].error or "")
    assert server.hits["unavailable"] == 3 and server.hits["good"] == 2


def test_a_chunk_that_never_reaches_the_server_stops_the_run(server: FakeServer) -> None:
    model = load_model(f"openai:{server.url}#m", max_retries=3, backoff=0.01, max_concurrency=1)
    reqs = [GenerateRequest(model.render([{"role": "user", "content": "unavailable"}]), key=f"u{i}") for i in range(5)]
    with pytest.raises(ServerUnreachable) as err:
        model.generate(reqs, SamplingParams(max_new_tokens=4))
    assert "no answer after" in err.value.message and "resume" in (err.value.hint or "")
    # Once the first request spent its 4 tries, the other four gave up after one try each (not 4 x 4 more).
    assert server.hits["unavailable"] == 4 + 4


def test_bad_score_replies_error_only_their_own_requests(tmp_path: Path) -> None:
    kinds = {3: "no_logprobs", 4: "string_logprobs", 5: "text_values", 6: "short", 7: "no_choices"}
    srv = FakeServer(kinds_by_id=kinds)
    try:
        model = load_model(f"openai:{srv.url}#m", tokenizer=word_tokenizer_folder(tmp_path / "tok"), max_retries=0)
        assert model.driver.context_length() == 64
        prompts = ["t2 t9 t9", "t3 t9", "t4 t9", "t5 t9", "t6 t9 t9 t9", "t7 t9", "t2 t8", "t2 " * 62]
        out = model.score([ScoreRequest(p, " t20 t21") for p in prompts])
    finally:
        srv.close()
    assert len(out) == len(prompts)
    good = [0, 6]
    for i in good:
        assert out[i].token_logprobs == [-0.5, -0.5] and out[i].failure is None and out[i].error is None
    for i in (1, 2, 3, 4, 5):
        assert out[i].token_logprobs == [] and out[i].failure == "backend_error", out[i]
    assert "no 'logprobs' object (it is null)" in (out[1].error or "")
    assert "no 'logprobs' object (it is string)" in (out[2].error or "")
    assert "token_logprobs is not a list of numbers" in (out[3].error or "")
    assert "echoed log-probs for 6 prompt tokens" in (out[4].error or "")
    assert "no 'choices'" in (out[5].error or "")
    assert out[7].failure == "input_too_long" and srv.hits["good"] == 2  # the long one was never sent

"""OpenAI-compatible servers: ``openai:http://host:port/v1#model``: vLLM, SGLang, llama.cpp, ``transformers serve``
or a hosted API.

Two ways to send a judge prompt (option ``mode``):

* ``completions`` (chosen when a local ``tokenizer=`` folder is given): we render the chat template and tokenize
  locally, exactly as the in-process engines do, and post the prompt to ``/completions`` as token ids (no second BOS;
  the same prompt on every engine). Servers that only take text prompts (llama_cpp.server) are detected on the first
  rejection and sent text with ``add_special_tokens: false``. Only this mode can ``score``: prompt + continuation
  with ``echo`` and ``logprobs`` (the log-prob of every prompt token comes back; works with vLLM's server).
* ``chat`` (the default without a tokenizer): the server applies its own chat template to the messages. The prompt we
  record is then the JSON message list the server received.

Requests run concurrently (``max_concurrency``, default 16) on one asyncio loop. Timeouts, dropped connections, 429 and
5xx are retried with exponential backoff (``max_retries``, ``backoff``, ``max_backoff``; ``Retry-After`` honoured).

Failures stay with the request they belong to, so a chunk never loses its finished calls:

* a request the server rejects (4xx) becomes an error completion, a context overflow an ``input_too_long`` one;
* a reply of the wrong shape (see :func:`parse_reply`) becomes an error completion naming what was wrong;
* a request that still cannot reach the server after its retries becomes an error completion too. Once one request
  has given up, the others of the chunk stop retrying (one try each), so a dead server costs one retry cycle, not
  one per request. When *no* request of a chunk reached the server, :class:`ServerUnreachable` is raised instead:
  the run stops with every finished chunk journalled, and the same command resumes.

The API key is read from the environment variable named by ``api_key_env`` (default ``OPENAI_API_KEY``) and is never
stored in options or run files.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import os
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar, overload
from urllib.parse import urlparse

from rrm_eval._errors import RRMError, require
from rrm_eval._seeding import stable_rng, stable_seed, text_hash
from rrm_eval.models._base import Driver
from rrm_eval.models._options import Option
from rrm_eval.models._types import (
    Completion,
    FinishReason,
    GenerateRequest,
    Message,
    SamplingParams,
    ScoreRequest,
    ScoreResult,
)

T = TypeVar("T")

CHAT_MARKER = "<<rrm-eval chat messages>>\n"
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
# What servers say when a prompt does not fit (vLLM, OpenAI, llama.cpp, SGLang wordings).
_TOO_LONG = re.compile(r"maximum context length|context length|context window|exceed|too long|n_ctx", re.I)
_MODES = ("auto", "completions", "chat")
# A request the server could not parse is never transient, whatever status it comes with (llama_cpp.server answers
# a token-id prompt with HTTP 500 and pydantic's "validation errors").
_INVALID = re.compile(r"validation error|Input should be|invalid request", re.I)
#: Request fields the driver sets itself: an ``extra_body`` overriding them would change what is asked, or (stream)
#: how the answer comes back.
_RESERVED_BODY = ("model", "prompt", "messages", "n", "stream", "echo", "logprobs")
_TARGET_HINT = (
    "write openai:http://127.0.0.1:8000/v1#model-name (the #model part may be left out when the server serves one "
    "model)"
)


class ServerUnreachable(RRMError):
    """The server did not answer after every retry."""


class BadReply(RRMError):
    """A 2xx reply whose body is not the shape its endpoint promises (the message says what was wrong)."""

    def __init__(self, message: str) -> None:
        super().__init__(
            message, hint="is the URL an OpenAI-compatible API (…/v1)? a proxy in between may rewrite the replies"
        )


def parse_target(target: str) -> tuple[str, str | None]:
    """``http://host:port/v1#model`` -> (base URL without trailing slash, model or None). Anything else raises
    :class:`RRMError`: the scheme must be http(s), with a host, a port in 1-65535 if given, no credentials, query or
    second ``#``, and a ``#model`` part that is not empty when present."""
    url, sep, model = target.strip().partition("#")

    def bad(problem: str) -> RRMError:
        return RRMError(f"openai backend target {target!r} {problem}", hint=_TARGET_HINT)

    try:
        parsed = urlparse(url)
        port = parsed.port  # raises ValueError for a port that is not an integer in 0-65535
    except ValueError as exc:
        raise bad(f"is not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise bad("is not an http(s) URL")
    if not parsed.hostname:
        raise bad("has no host")
    if port is not None and not 1 <= port <= 65535:
        raise bad(f"has port {port}; a port is an integer in 1-65535")
    if parsed.netloc.endswith(":"):
        raise bad("has an empty port after ':'")
    if parsed.username is not None or parsed.password is not None:
        raise RRMError(
            f"openai backend target {parsed.scheme}://<credentials>@{parsed.hostname}... holds credentials",
            hint="never put keys in the spec (it is written to run files): export the key and pass "
            "--model-opt api_key_env=VARIABLE_NAME",
        )
    if parsed.query or parsed.params:
        raise bad("has a query string; give the base URL only (e.g. .../v1)")
    if any(c.isspace() for c in url):
        raise bad("contains white space")
    if sep:
        if not model.strip():
            raise bad("has an empty model name after '#'")
        if "#" in model or model != model.strip() or any(ord(c) < 32 for c in model):
            raise bad(f"has a malformed model name {model!r} after '#'")
    return url.rstrip("/"), (model or None)


# -- replies ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplyChoice:
    text: str
    finish_reason: str | None


@dataclass(frozen=True)
class CompletionReply:
    """A /completions or /chat/completions answer: at least one choice, each with its text."""

    choices: list[ReplyChoice]
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class EchoReply:
    """The echoed prompt of a scoring request: one log-prob per token (the first may be None) and the tokens."""

    token_logprobs: list[float | None]
    tokens: list[str]
    prompt_tokens: int | None = None


@dataclass(frozen=True)
class ServedModel:
    id: str
    max_model_len: int | None = None


ReplyKind = Literal["chat", "completions", "score", "models"]


@overload
def parse_reply(body: object, kind: Literal["chat", "completions"]) -> CompletionReply: ...
@overload
def parse_reply(body: object, kind: Literal["score"]) -> EchoReply: ...
@overload
def parse_reply(body: object, kind: Literal["models"]) -> list[ServedModel]: ...
def parse_reply(body: object, kind: ReplyKind) -> CompletionReply | EchoReply | list[ServedModel]:
    """The typed content of a decoded JSON reply of ``kind``, or :class:`BadReply` saying what is wrong with it.

    ``chat`` / ``completions``: a non-empty ``choices`` list whose entries carry their text (``message.content`` or
    ``text``; a chat reply cut by ``length`` may have ``null`` content, read as ""). ``score``: a /completions reply
    with ``echo`` whose first choice has ``logprobs.token_logprobs`` (numbers or null) and ``logprobs.tokens``.
    ``models``: ``{"data": [{"id": ...}, ...]}``."""
    if not isinstance(body, dict):
        raise BadReply(f"the reply is a JSON {_json_type(body)}, not an object")
    if kind == "models":
        data = body.get("data")
        if not isinstance(data, list):
            raise BadReply(f"the /models reply has no 'data' list (it is {_json_type(data)})")
        served = []
        for i, card in enumerate(data):
            if not isinstance(card, dict) or not isinstance(card.get("id"), str) or not card["id"]:
                raise BadReply(f"the /models reply's data[{i}] has no model 'id' string")
            length = card.get("max_model_len")
            ok = isinstance(length, int) and not isinstance(length, bool) and length > 1
            served.append(ServedModel(card["id"], length if ok else None))
        return served
    choices = body.get("choices")
    if choices is None:
        err = body.get("error")
        detail = f" (it says: {str(err.get('message', err) if isinstance(err, dict) else err)[:200]})" if err else ""
        raise BadReply(f"the reply has no 'choices'{detail}")
    if not isinstance(choices, list):
        raise BadReply(f"the reply's 'choices' is a JSON {_json_type(choices)}, not a list")
    if not choices:
        raise BadReply("the reply's 'choices' list is empty")
    usage = body.get("usage")
    prompt_tokens = _count(usage, "prompt_tokens")
    if kind == "score":
        first = choices[0]
        lp = first.get("logprobs") if isinstance(first, dict) else None
        if not isinstance(lp, dict):
            raise BadReply(f"choices[0] has no 'logprobs' object (it is {_json_type(lp)})")
        values, tokens = lp.get("token_logprobs"), lp.get("tokens", [])
        if not isinstance(values, list) or not all(v is None or _is_number(v) for v in values):
            raise BadReply("choices[0].logprobs.token_logprobs is not a list of numbers")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise BadReply("choices[0].logprobs.tokens is not a list of strings")
        return EchoReply([None if v is None else float(v) for v in values], list(tokens), prompt_tokens)
    parsed = []
    for i, choice in enumerate(choices):
        if not isinstance(choice, dict):
            raise BadReply(f"choices[{i}] is a JSON {_json_type(choice)}, not an object")
        finish = choice.get("finish_reason")
        if finish is not None and not isinstance(finish, str):
            raise BadReply(f"choices[{i}].finish_reason is a JSON {_json_type(finish)}, not a string")
        if kind == "chat":
            message = choice.get("message")
            if not isinstance(message, dict):
                raise BadReply(f"choices[{i}] has no 'message' object")
            text = message.get("content")
            if text is None and finish == "length":  # cut before any answer text (e.g. inside a reasoning parser)
                text = ""
            where = f"choices[{i}].message.content"
        else:
            text = choice.get("text")
            where = f"choices[{i}].text"
        if not isinstance(text, str):
            raise BadReply(f"{where} is {'missing' if text is None else 'a JSON ' + _json_type(text)}, not a string")
        parsed.append(ReplyChoice(text, finish))
    return CompletionReply(parsed, prompt_tokens, _count(usage, "completion_tokens"))


def decode_body(text: str) -> object:
    """The JSON value of a reply body, or :class:`BadReply`."""
    try:
        return json.loads(text)
    except ValueError:
        raise BadReply(f"the reply body is not JSON: {text[:120]!r}") from None


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _count(usage: object, field: str) -> int | None:
    value = usage.get(field) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _json_type(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    return "object" if isinstance(v, dict) else type(v).__name__


def _run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, also when the caller already runs an event loop (notebooks)."""
    try:
        asyncio.get_running_loop()
        running = True
    except RuntimeError:
        running = False
    if not running:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


class _Rejected(Exception):
    """A 4xx answer that retrying cannot fix."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class _BadPrompt(Exception):
    """A chat-mode prompt whose message list cannot be read back."""


@dataclass
class _Outage:
    """Shared by the requests of one chunk: once one has exhausted its retries the server is taken as down, and the
    others give up after one failed try instead of a full retry cycle each (until a reply says otherwise)."""

    down: bool = False


class OpenAIDriver(Driver):
    """``openai:<base URL>#<model>``. Options: see ``accepted_options``."""

    prefix: ClassVar[str] = "openai"
    description: ClassVar[str] = "any OpenAI-compatible server: URL#model (async, retries)"
    # Journal every few hundred calls: a server that dies mid-chunk costs at most this many calls.
    preferred_batch: ClassVar[int] = 256
    score_reserve: ClassVar[int] = 1  # scoring asks for one generated token after the echoed prompt
    accepted_options: ClassVar[Mapping[str, Option]] = {
        "name": Option("str", "the model name written into results files (default: the served name)"),
        "tokenizer": Option("str", "the served model's HF tokenizer folder: render + tokenize here (completions mode)"),
        "mode": Option("choice", "completions (needs tokenizer), chat, or auto", "auto", choices=_MODES),
        "max_concurrency": Option("int", "requests in flight at once", 16, low=1, high=4096),
        "max_retries": Option("int", "retries of a timed-out, dropped, 429 or 5xx request", 6, low=0, high=100),
        "backoff": Option("float", "first retry delay in seconds (doubled per try, jittered)", 0.5, low=0.0),
        "max_backoff": Option("float", "longest retry delay in seconds", 30.0, low=0.0, high=3600.0),
        "timeout": Option("float", "seconds one request may take", 600.0, low=0.0, low_open=True, high=86400.0),
        "connect_timeout": Option("float", "seconds to open a connection", 10.0, low=0.0, low_open=True, high=3600.0),
        "api_key_env": Option(
            "str", "the environment variable holding the API key", "OPENAI_API_KEY", pattern=r"[A-Za-z_][A-Za-z0-9_]*"
        ),
        "max_model_len": Option("int", "context length in tokens, when the server does not report it", low=2),
        "extra_body": Option("json_object", "JSON object merged into every request body"),
    }

    def __init__(self, target: str, **options: Any) -> None:
        super().__init__(target, **options)
        self.base_url, model = parse_target(target)
        self._httpx: Any = require("httpx", "", "the OpenAI-compatible backend")
        self.concurrency = int(self.opt("max_concurrency"))
        self.max_retries = int(self.opt("max_retries"))
        self.backoff = float(self.opt("backoff"))
        self.max_backoff = float(self.opt("max_backoff"))
        self.timeout = float(self.opt("timeout"))
        self.connect_timeout = float(self.opt("connect_timeout"))
        self._key_env = str(self.opt("api_key_env"))
        self.extra_body: dict[str, Any] = dict(self.options.get("extra_body") or {})
        reserved = sorted(set(self.extra_body) & set(_RESERVED_BODY))
        if reserved:
            raise RRMError(
                f"model option extra_body sets {', '.join(reserved)}, which the driver sets itself",
                hint=f"leave {', '.join(_RESERVED_BODY)} out of extra_body (the judge and the spec decide them)",
            )
        self.tokenizer: Any = None
        if self.options.get("tokenizer"):
            transformers = require("transformers", "", "a local tokenizer for the OpenAI-compatible backend")
            try:
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.options["tokenizer"])
            except (OSError, ValueError) as exc:
                raise RRMError(
                    f"model option tokenizer={self.options['tokenizer']!r}: cannot load it ({exc})",
                    hint="give the served model's HF folder (tokenizer files and tokenizer_config.json)",
                ) from exc
        mode = str(self.opt("mode"))
        if mode == "auto":
            mode = "completions" if self.tokenizer is not None else "chat"
        if mode == "completions" and self.tokenizer is None:
            raise RRMError(
                "mode=completions needs a local tokenizer to render the chat template",
                hint="add --model-opt tokenizer=PATH_TO_HF_FOLDER (the served model's tokenizer)",
            )
        self.mode = mode
        self._prompt_as_ids = True  # switched off the first time a server refuses token-id prompts
        models = _run_sync(self._list_models)
        served = [m.id for m in models]
        if model is None:
            if len(served) != 1:
                raise RRMError(
                    f"{self.base_url} serves {len(served)} models; say which one",
                    hint=f"append #NAME to the URL; served: {', '.join(served) or 'none listed'}",
                )
            model = served[0]
        self.model = model
        card = next((m for m in models if m.id == model), None)
        self.max_model_len: int | None = self.options.get("max_model_len") or (card.max_model_len if card else None)

    # -- identity ---------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.options.get("name") or self.model)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(model=self.model, mode=self.mode, base_url=self.base_url)
        return out

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self._key_env) or "EMPTY"  # local servers accept any key
        return {"Authorization": f"Bearer {key}"}

    # -- prompts ----------------------------------------------------------------------------------------------
    def apply_chat_template(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        if self.mode == "completions":
            return str(
                self.tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=add_generation_prompt
                )
            )
        return CHAT_MARKER + json.dumps(messages, ensure_ascii=False)

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def context_length(self) -> int | None:
        return self.max_model_len if self.tokenizer is not None and self.mode == "completions" else None

    def count_tokens(self, text: str) -> int | None:
        return len(self._encode(text)) if self.tokenizer is not None and self.mode == "completions" else None

    # -- HTTP with retries ------------------------------------------------------------------------------------
    def _client(self) -> Any:
        httpx = self._httpx
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        return httpx.AsyncClient(base_url=self.base_url, timeout=timeout, limits=limits, headers=self._headers())

    async def _request(
        self,
        client: Any,
        method: str,
        path: str,
        key: str,
        body: dict[str, Any] | None = None,
        outage: _Outage | None = None,
    ) -> object:
        """The decoded JSON body of a 2xx answer. Raises :class:`_Rejected` (4xx, or a request the server cannot
        parse), :class:`BadReply` (a 2xx body that is not JSON) or :class:`ServerUnreachable` (retries spent)."""
        httpx = self._httpx
        last = ""
        tries = 0
        for attempt in range(self.max_retries + 1):
            tries = attempt + 1
            delay: float | None = None
            try:
                resp = await client.request(method, path, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}: {exc}".rstrip(": ")
            else:
                if resp.status_code < 300:
                    if outage is not None:
                        outage.down = False  # it answers again
                    return decode_body(resp.text)
                if (resp.status_code in _RETRY_STATUS or resp.status_code >= 500) and not _INVALID.search(
                    resp.text[:2000]
                ):
                    last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                    retry_after = resp.headers.get("retry-after", "")
                    if retry_after.replace(".", "", 1).isdigit():
                        delay = min(self.max_backoff, float(retry_after))
                else:
                    raise _Rejected(resp.status_code, _error_message(resp))
            if outage is not None and outage.down:
                break  # another request of this chunk already spent its retries on a server that does not answer
            if attempt < self.max_retries:
                if delay is None:
                    # Exponential backoff with jitter drawn from the request itself (no global RNG).
                    jitter = 0.5 + stable_rng("backoff", key, attempt).random()
                    delay = min(self.max_backoff, self.backoff * (2**attempt) * jitter)
                await asyncio.sleep(delay)
        if outage is not None:
            outage.down = True
        raise ServerUnreachable(
            f"{self.base_url}{path}: no answer after {tries} tries ({last})",
            hint="is the server running and reachable? finished records are kept; rerun the same command to resume",
        )

    async def _list_models(self) -> list[ServedModel]:
        async with self._client() as client:
            try:
                data = await self._request(client, "GET", "/models", "models")
            except _Rejected as exc:
                if exc.status in (404, 405):  # some servers have no /models: the spec must name the model
                    return []
                raise RRMError(f"{self.base_url}/models: {exc}", hint="check the URL and the API key") from exc
            except BadReply as exc:
                raise RRMError(f"{self.base_url}/models: {exc.message}", hint=exc.hint) from None
        try:
            return parse_reply(data, "models")
        except BadReply as exc:
            raise RRMError(f"{self.base_url}/models: {exc.message}", hint=exc.hint) from None

    async def _gather(
        self, jobs: list[Callable[[Any, _Outage], Awaitable[tuple[T, ServerUnreachable | None]]]]
    ) -> list[T]:
        """Run jobs with at most ``concurrency`` in flight. Each job turns its own failures into its own result;
        only when every job found the server unreachable is that raised (nothing finished is lost by it)."""
        sem = asyncio.Semaphore(self.concurrency)
        outage = _Outage()
        async with self._client() as client:

            async def one(
                job: Callable[[Any, _Outage], Awaitable[tuple[T, ServerUnreachable | None]]],
            ) -> tuple[T, ServerUnreachable | None]:
                async with sem:
                    return await job(client, outage)

            tasks = [asyncio.ensure_future(one(j)) for j in jobs]
            try:
                done = list(await asyncio.gather(*tasks))
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        failures = [err for _, err in done if err is not None]
        if done and len(failures) == len(done):
            raise failures[-1]
        return [result for result, _ in done]

    # -- generation -------------------------------------------------------------------------------------------
    def generate(self, requests: list[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
        jobs = [self._generate_job(r, params) for r in requests]
        return _run_sync(lambda: self._gather(jobs))

    def _generate_job(
        self, req: GenerateRequest, params: SamplingParams
    ) -> Callable[[Any, _Outage], Awaitable[tuple[list[Completion], ServerUnreachable | None]]]:
        key = req.key or text_hash(req.prompt)

        async def job(client: Any, outage: _Outage) -> tuple[list[Completion], ServerUnreachable | None]:
            # The wrapper has screened empty and over-long prompts already.
            ids = self._encode(req.prompt) if self.mode == "completions" else None
            n_prompt = len(ids) if ids is not None else 0

            def failed(reason: FinishReason, message: str) -> list[Completion]:
                return [Completion("", reason, n_prompt, 0, message) for _ in range(params.n)]

            want = 1 if params.greedy else params.n  # greedy samples are all the same answer
            out: list[Completion] = []
            try:
                while len(out) < want:
                    asked = want - len(out)
                    got = await self._complete(client, req, ids, params, asked, key, len(out), outage)
                    if 1 < len(got) < asked:
                        raise BadReply(f"the reply has {len(got)} choices for n={asked}")
                    # One choice for n > 1: the server ignores `n` (llama.cpp); ask again for the rest, new seed.
                    out.extend(got[:asked])
            except _Rejected as exc:
                if _TOO_LONG.search(exc.message):
                    return failed("input_too_long", f"truncated input: {exc}"), None
                return failed("error", str(exc)), None
            except BadReply as exc:
                return failed("error", f"malformed reply from the server: {exc.message}"), None
            except _BadPrompt as exc:
                return failed("error", str(exc)), None
            except ServerUnreachable as exc:
                return failed("error", exc.message), exc
            if params.greedy:
                out = out[:1] * params.n
            return out[: params.n], None

        return job

    async def _complete(
        self,
        client: Any,
        req: GenerateRequest,
        ids: list[int] | None,
        params: SamplingParams,
        n: int,
        key: str,
        done: int,
        outage: _Outage,
    ) -> list[Completion]:
        body: dict[str, Any] = {"model": self.model, "n": n, "temperature": params.temperature}
        if not params.greedy:
            body.update(top_p=params.top_p, seed=stable_seed(params.seed, key, params.first_sample + done) % (1 << 31))
        if params.stop:
            body["stop"] = list(params.stop)
        max_tokens = params.max_new_tokens
        if ids is not None and self.max_model_len:
            max_tokens = max(1, min(max_tokens, self.max_model_len - len(ids)))
        body["max_tokens"] = max_tokens
        body.update(self.extra_body)
        if self.mode == "chat":
            body["messages"] = _messages(req.prompt)
            reply = parse_reply(await self._request(client, "POST", "/chat/completions", key, body, outage), "chat")
        else:
            data = await self._post_prompt(client, body, ids or [], req.prompt, key, outage)
            reply = parse_reply(data, "completions")
        n_prompt = reply.prompt_tokens if reply.prompt_tokens is not None else (len(ids) if ids else 0)
        out = []
        for choice in reply.choices:
            finish = choice.finish_reason
            reason: FinishReason = (
                "length" if finish == "length" else "stop" if finish in ("stop", "eos", None) else "error"
            )
            if self.tokenizer is not None:
                n_gen = len(self._encode(choice.text)) + (1 if reason == "stop" else 0)
            else:
                n_gen = (reply.completion_tokens or 0) // len(reply.choices)
            err = None if reason != "error" else f"finish_reason={finish}"
            out.append(Completion(choice.text, reason, n_prompt, n_gen, err))
        return out

    async def _post_prompt(
        self, client: Any, body: dict[str, Any], ids: list[int], text: str, key: str, outage: _Outage
    ) -> object:
        """POST /completions with token ids; fall back to text (without added special tokens) for servers that
        reject id prompts."""
        if self._prompt_as_ids:
            try:
                return await self._request(client, "POST", "/completions", key, {**body, "prompt": ids}, outage)
            except _Rejected as exc:
                if _TOO_LONG.search(exc.message) or not (exc.status in (400, 422) or "prompt" in exc.message):
                    raise
                self._prompt_as_ids = False
        return await self._request(
            client, "POST", "/completions", key, {"add_special_tokens": False, **body, "prompt": text}, outage
        )

    # -- scoring ----------------------------------------------------------------------------------------------
    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        if self.mode != "completions":
            raise RRMError(
                "log-prob scoring through a server needs mode=completions",
                hint="add --model-opt tokenizer=PATH_TO_HF_FOLDER (the served model's tokenizer)",
            )
        jobs = [self._score_job(r) for r in requests]
        return _run_sync(lambda: self._gather(jobs))

    def _score_job(
        self, req: ScoreRequest
    ) -> Callable[[Any, _Outage], Awaitable[tuple[ScoreResult, ServerUnreachable | None]]]:
        key = req.key or text_hash(req.prompt + req.continuation)

        async def job(client: Any, outage: _Outage) -> tuple[ScoreResult, ServerUnreachable | None]:
            # The wrapper has screened empty and over-long inputs already.
            p_ids, c_ids = self._encode(req.prompt), self._encode(req.continuation)
            n = len(p_ids) + len(c_ids)
            body: dict[str, Any] = {"model": self.model, "max_tokens": 1, "temperature": 0.0, "echo": True}
            body["logprobs"] = 0
            body.update(self.extra_body)
            try:
                data = await self._post_prompt(client, body, p_ids + c_ids, req.prompt + req.continuation, key, outage)
                reply = parse_reply(data, "score")
            except _Rejected as exc:
                if _TOO_LONG.search(exc.message):
                    return ScoreResult([], [], len(p_ids), f"truncated input: {exc}", failure="input_too_long"), None
                return ScoreResult([], [], len(p_ids), str(exc), failure="backend_error"), None
            except BadReply as exc:
                msg = f"malformed reply from the server: {exc.message}"
                return ScoreResult([], [], len(p_ids), msg, failure="backend_error"), None
            except ServerUnreachable as exc:
                return ScoreResult([], [], len(p_ids), exc.message, failure="backend_error"), exc
            values, tokens = reply.token_logprobs, reply.tokens
            # The echo covers the prompt we sent, then the one generated token.
            span = values[len(p_ids) : n]
            if len(values) < n or any(v is None for v in span):
                msg = (
                    f"server returned {len(values)} echoed log-probs for {n} prompt tokens "
                    "(it does not support echo+logprobs, or tokenizes differently)"
                )
                return ScoreResult([], [], len(p_ids), msg, failure="backend_error"), None
            return ScoreResult([float(v) for v in span if v is not None], tokens[len(p_ids) : n], len(p_ids)), None

        return job


def _messages(prompt: str) -> list[Message]:
    if prompt.startswith(CHAT_MARKER):
        try:
            messages = json.loads(prompt[len(CHAT_MARKER) :])
        except ValueError:
            messages = None
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and all(isinstance(m.get(f), str) for f in ("role", "content")) for m in messages
        ):
            raise _BadPrompt("the chat prompt's message list is not valid JSON messages (was it edited?)")
        return [{"role": m["role"], "content": m["content"]} for m in messages]
    # A prompt rendered elsewhere: the best a chat endpoint can do is take it as one user turn.
    return [{"role": "user", "content": prompt}]


def _error_message(resp: Any) -> str:
    try:
        data = resp.json()
    except ValueError:
        return str(resp.text)[:500]
    err = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(err, dict):
        return str(err.get("message") or err.get("detail") or err)[:500]
    return str(err)[:500]

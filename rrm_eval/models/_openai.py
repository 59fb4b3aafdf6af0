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
A request that still cannot reach the server raises :class:`RRMError` for the whole chunk, so the run stops with
every finished chunk already journalled and resumes later; a request the server rejects (4xx) becomes an error
completion, and a context overflow an ``input_too_long`` one. The API key is read from the environment variable named
by ``api_key_env`` (default ``OPENAI_API_KEY``) and is never stored in options or run files.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlparse

from rrm_eval._errors import RRMError, require
from rrm_eval._seeding import stable_rng, stable_seed, text_hash
from rrm_eval.models._base import Driver
from rrm_eval.models._types import Completion, GenerateRequest, Message, SamplingParams, ScoreRequest, ScoreResult

T = TypeVar("T")

CHAT_MARKER = "<<rrm-eval chat messages>>\n"
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
# What servers say when a prompt does not fit (vLLM, OpenAI, llama.cpp, SGLang wordings).
_TOO_LONG = re.compile(r"maximum context length|context length|context window|exceed|too long|n_ctx", re.I)
_MODES = ("auto", "completions", "chat")
# A request the server could not parse is never transient, whatever status it comes with (llama_cpp.server answers
# a token-id prompt with HTTP 500 and pydantic's "validation errors").
_INVALID = re.compile(r"validation error|Input should be|invalid request", re.I)


class ServerUnreachable(RRMError):
    """The server did not answer after every retry."""


def parse_target(target: str) -> tuple[str, str | None]:
    """``http://host:port/v1#model`` -> (base URL without trailing slash, model or None)."""
    url, _, model = target.partition("#")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise RRMError(
            f"openai backend target {target!r} is not an http(s) URL",
            hint="write openai:http://127.0.0.1:8000/v1#model-name (the #model part may be left out when the "
            "server serves one model)",
        )
    return url.rstrip("/"), (model or None)


def _run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, also when the caller already runs an event loop (notebooks)."""
    try:
        asyncio.get_running_loop()
        running = True
    except RuntimeError:
        running = False
    if not running:
        return asyncio.run(factory())  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()  # type: ignore[arg-type]


class _Rejected(Exception):
    """A 4xx answer that retrying cannot fix."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class OpenAIDriver(Driver):
    """``openai:<base URL>#<model>``. Options: ``tokenizer`` (local HF folder: render + tokenize here),
    ``mode`` (auto|completions|chat), ``max_concurrency`` (16), ``max_retries`` (6), ``backoff`` (0.5 s, doubled per
    try), ``max_backoff`` (30 s), ``timeout`` (600 s per request), ``connect_timeout`` (10 s), ``api_key_env``
    (OPENAI_API_KEY), ``max_model_len`` (context, when the server does not report it), ``extra_body`` (JSON merged into
    every request)."""

    prefix: ClassVar[str] = "openai"
    description: ClassVar[str] = "any OpenAI-compatible server: URL#model (async, retries)"
    # Journal every few hundred calls: a server that dies mid-chunk costs at most this many calls.
    preferred_batch: ClassVar[int] = 256

    def __init__(self, target: str, **options: Any) -> None:
        super().__init__(target, **options)
        self._httpx = require("httpx", "", "the OpenAI-compatible backend")
        self.base_url, model = parse_target(target)
        self.concurrency = max(1, int(options.get("max_concurrency", 16)))
        self.max_retries = max(0, int(options.get("max_retries", 6)))
        self.backoff = float(options.get("backoff", 0.5))
        self.max_backoff = float(options.get("max_backoff", 30.0))
        self.timeout = float(options.get("timeout", 600.0))
        self.connect_timeout = float(options.get("connect_timeout", 10.0))
        self._key_env = str(options.get("api_key_env", "OPENAI_API_KEY"))
        extra = options.get("extra_body") or {}
        self.extra_body: dict[str, Any] = json.loads(extra) if isinstance(extra, str) else dict(extra)
        self.tokenizer: Any = None
        if options.get("tokenizer"):
            transformers = require("transformers", "hf", "a local tokenizer for the OpenAI-compatible backend")
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(options["tokenizer"])
        mode = str(options.get("mode", "auto"))
        if mode not in _MODES:
            raise RRMError(f"unknown openai mode {mode!r}", hint=f"use one of {', '.join(_MODES)}")
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
        served = [m.get("id") for m in models if m.get("id")]
        if model is None:
            if len(served) != 1:
                raise RRMError(
                    f"{self.base_url} serves {len(served)} models; say which one",
                    hint=f"append #NAME to the URL; served: {', '.join(map(str, served)) or 'none listed'}",
                )
            model = str(served[0])
        self.model = model
        card = next((m for m in models if m.get("id") == model), {})
        self.max_model_len: int | None = options.get("max_model_len") or card.get("max_model_len")

    # -- identity ---------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.options.get("name") or self.model

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
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        return CHAT_MARKER + json.dumps(messages, ensure_ascii=False)

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- HTTP with retries ------------------------------------------------------------------------------------
    def _client(self) -> Any:
        httpx = self._httpx
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        return httpx.AsyncClient(base_url=self.base_url, timeout=timeout, limits=limits, headers=self._headers())

    async def _request(self, client: Any, method: str, path: str, key: str, body: dict | None = None) -> dict:
        httpx = self._httpx
        last = ""
        for attempt in range(self.max_retries + 1):
            delay: float | None = None
            try:
                resp = await client.request(method, path, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}: {exc}".rstrip(": ")
            else:
                if resp.status_code < 300:
                    try:
                        return resp.json()
                    except ValueError:
                        last = f"HTTP {resp.status_code} with a body that is not JSON: {resp.text[:200]!r}"
                elif (resp.status_code in _RETRY_STATUS or resp.status_code >= 500) and not _INVALID.search(
                    resp.text[:2000]
                ):
                    last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                    retry_after = resp.headers.get("retry-after", "")
                    if retry_after.replace(".", "", 1).isdigit():
                        delay = min(self.max_backoff, float(retry_after))
                else:
                    raise _Rejected(resp.status_code, _error_message(resp))
            if attempt < self.max_retries:
                if delay is None:
                    # Exponential backoff with jitter drawn from the request itself (no global RNG).
                    jitter = 0.5 + stable_rng("backoff", key, attempt).random()
                    delay = min(self.max_backoff, self.backoff * (2**attempt) * jitter)
                await asyncio.sleep(delay)
        raise ServerUnreachable(
            f"{self.base_url}{path}: no answer after {self.max_retries + 1} tries ({last})",
            hint="is the server running and reachable? finished records are kept; rerun the same command to resume",
        )

    async def _list_models(self) -> list[dict]:
        async with self._client() as client:
            try:
                data = await self._request(client, "GET", "/models", "models")
            except _Rejected as exc:
                if exc.status in (404, 405):  # some servers have no /models: the spec must name the model
                    return []
                raise RRMError(f"{self.base_url}/models: {exc}", hint="check the URL and the API key") from exc
        return list(data.get("data") or [])

    async def _gather(self, jobs: list[Callable[[Any], Awaitable[T]]]) -> list[T]:
        """Run jobs with at most ``concurrency`` in flight; the first unreachable-server error cancels the rest."""
        sem = asyncio.Semaphore(self.concurrency)
        async with self._client() as client:

            async def one(job: Callable[[Any], Awaitable[T]]) -> T:
                async with sem:
                    return await job(client)

            tasks = [asyncio.ensure_future(one(j)) for j in jobs]
            try:
                return list(await asyncio.gather(*tasks))
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    # -- generation -------------------------------------------------------------------------------------------
    def generate(self, requests: list[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
        jobs = [self._generate_job(r, params) for r in requests]
        return _run_sync(lambda: self._gather(jobs))

    def _generate_job(self, req: GenerateRequest, params: SamplingParams) -> Callable[[Any], Awaitable]:
        key = req.key or text_hash(req.prompt)

        async def job(client: Any) -> list[Completion]:
            ids: list[int] | None = None
            if self.mode == "completions":
                ids = self._encode(req.prompt)
                n_prompt = len(ids)
                if self.max_model_len and n_prompt >= self.max_model_len:
                    msg = f"truncated input: {n_prompt} prompt tokens > {self.max_model_len - 1} usable context"
                    return [Completion("", "input_too_long", n_prompt, 0, msg) for _ in range(params.n)]
            else:
                n_prompt = 0
            want = 1 if params.greedy else params.n  # greedy samples are all the same answer
            out: list[Completion] = []
            try:
                while len(out) < want:
                    # Servers that ignore `n` (llama.cpp) answer one choice: ask again for the rest, new seed.
                    got = await self._complete(client, req, ids, params, want - len(out), key, len(out))
                    if not got:
                        break
                    out.extend(got)
            except _Rejected as exc:
                reason = "input_too_long" if _TOO_LONG.search(exc.message) else "error"
                prefix = "truncated input: " if reason == "input_too_long" else ""
                return [Completion("", reason, n_prompt, 0, f"{prefix}{exc}") for _ in range(params.n)]
            if params.greedy:
                out = out[:1] * params.n
            return out[: params.n]

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
    ) -> list[Completion]:
        body: dict[str, Any] = {"model": self.model, "n": n, "temperature": params.temperature}
        if not params.greedy:
            body.update(top_p=params.top_p, seed=stable_seed(params.seed, key, done) % (1 << 31))
        if params.stop:
            body["stop"] = list(params.stop)
        max_tokens = params.max_new_tokens
        if ids is not None and self.max_model_len:
            max_tokens = max(1, min(max_tokens, self.max_model_len - len(ids)))
        body["max_tokens"] = max_tokens
        body.update(self.extra_body)
        if self.mode == "chat":
            body["messages"] = _messages(req.prompt)
            data = await self._request(client, "POST", "/chat/completions", key, body)
            texts = [(c.get("message") or {}).get("content") or "" for c in data.get("choices", [])]
        else:
            data = await self._post_prompt(client, body, ids or [], req.prompt, key)
            texts = [c.get("text") or "" for c in data.get("choices", [])]
        choices = data.get("choices", [])
        usage = data.get("usage") or {}
        n_prompt = int(usage.get("prompt_tokens") or (len(ids) if ids else 0))
        out = []
        for text, choice in zip(texts, choices, strict=True):
            finish = choice.get("finish_reason")
            reason = "length" if finish == "length" else "stop" if finish in ("stop", "eos", None) else "error"
            if self.tokenizer is not None:
                n_gen = len(self._encode(text)) + (1 if reason == "stop" else 0)
            else:
                n_gen = int(usage.get("completion_tokens") or 0) // max(1, len(choices))
            err = None if reason != "error" else f"finish_reason={finish}"
            out.append(Completion(text, reason, n_prompt, n_gen, err))  # type: ignore[arg-type]
        return out

    async def _post_prompt(self, client: Any, body: dict, ids: list[int], text: str, key: str) -> dict:
        """POST /completions with token ids; fall back to text (without added special tokens) for servers that
        reject id prompts."""
        if self._prompt_as_ids:
            try:
                return await self._request(client, "POST", "/completions", key, {**body, "prompt": ids})
            except _Rejected as exc:
                if _TOO_LONG.search(exc.message) or not (exc.status in (400, 422) or "prompt" in exc.message):
                    raise
                self._prompt_as_ids = False
        return await self._request(
            client, "POST", "/completions", key, {"add_special_tokens": False, **body, "prompt": text}
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

    def _score_job(self, req: ScoreRequest) -> Callable[[Any], Awaitable]:
        key = req.key or text_hash(req.prompt + req.continuation)

        async def job(client: Any) -> ScoreResult:
            p_ids, c_ids = self._encode(req.prompt), self._encode(req.continuation)
            if not c_ids:
                return ScoreResult([], [], len(p_ids), error="empty continuation")
            if not p_ids:
                return ScoreResult([], [], 0, error="empty prompt")
            n = len(p_ids) + len(c_ids)
            if self.max_model_len and n >= self.max_model_len:
                return ScoreResult([], [], len(p_ids), error=f"truncated input: {n} tokens > {self.max_model_len - 1}")
            body = {"model": self.model, "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": 0}
            body.update(self.extra_body)
            try:
                data = await self._post_prompt(client, body, p_ids + c_ids, req.prompt + req.continuation, key)
            except _Rejected as exc:
                prefix = "truncated input: " if _TOO_LONG.search(exc.message) else ""
                return ScoreResult([], [], len(p_ids), error=f"{prefix}{exc}")
            lp = (data.get("choices") or [{}])[0].get("logprobs") or {}
            values, tokens = lp.get("token_logprobs") or [], lp.get("tokens") or []
            # The echo covers the prompt we sent, then the one generated token.
            if len(values) < n or any(v is None for v in values[len(p_ids) : n]):
                return ScoreResult(
                    [],
                    [],
                    len(p_ids),
                    error=f"server returned {len(values)} echoed log-probs for {n} prompt tokens "
                    "(it does not support echo+logprobs, or tokenizes differently)",
                )
            return ScoreResult([float(v) for v in values[len(p_ids) : n]], list(tokens[len(p_ids) : n]), len(p_ids))

        return job


def _messages(prompt: str) -> list[Message]:
    if prompt.startswith(CHAT_MARKER):
        return json.loads(prompt[len(CHAT_MARKER) :])
    # A prompt rendered elsewhere: the best a chat endpoint can do is take it as one user turn.
    return [{"role": "user", "content": prompt}]


def _error_message(resp: Any) -> str:
    try:
        data = resp.json()
    except ValueError:
        return resp.text[:500]
    err = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(err, dict):
        return str(err.get("message") or err.get("detail") or err)[:500]
    return str(err)[:500]

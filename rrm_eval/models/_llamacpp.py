"""llama.cpp backend (in-process ``llama-cpp-python``): GGUF models on a laptop CPU, no server.

* Prompts are the chat template of the GGUF itself (``tokenizer.chat_template`` metadata, rendered with a sandboxed
  jinja2 like transformers does), or of an HF tokenizer folder given as ``tokenizer=``. They are tokenized with
  ``special=True`` and without an added BOS: the rendered text already carries it.
* llama.cpp runs one sequence at a time; ``n`` samples of a prompt reuse its KV cache (prefix match), each with its
  own seed ``stable_seed(seed, key, sample)``. Greedy ``n > 1`` runs once and repeats the answer.
* Scoring does not use ``echo=True`` log-probs, which are misaligned by one token when the prompt does not start with
  BOS (REFERENCE.md): a second context with ``logits_all=True`` ``eval``s prompt + continuation and reads ``scores``
  row ``t-1`` for token ``t``. Consecutive requests that share the prompt reuse its KV cache.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from rrm_eval._errors import RRMError, require
from rrm_eval._seeding import stable_seed, text_hash
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


def render_jinja_chat(
    template: str, messages: list[Message], add_generation_prompt: bool, bos_token: str, eos_token: str
) -> str:
    """Render a HF-style chat template (the GGUF metadata holds the same jinja text as tokenizer_config.json)."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    try:
        return str(_render(env, template, messages, add_generation_prompt, bos_token, eos_token))
    except TemplateError as exc:
        raise RRMError(
            f"the chat template failed on these messages: {exc}",
            hint="check the roles the template allows, or pass --model-opt chat_template=PATH.jinja",
        ) from exc


def _render(
    env: Any, template: str, messages: list[Message], add_generation_prompt: bool, bos_token: str, eos_token: str
) -> Any:
    return env.from_string(template).render(
        messages=messages, add_generation_prompt=add_generation_prompt, bos_token=bos_token, eos_token=eos_token
    )


class LlamaCppDriver(Driver):
    """``llamacpp:/path/model.gguf``. Options: see ``accepted_options``."""

    prefix: ClassVar[str] = "llamacpp"
    description: ClassVar[str] = "llama-cpp-python in-process, GGUF files"
    # One sequence at a time: small chunks keep the journal close behind.
    preferred_batch: ClassVar[int] = 16
    accepted_options: ClassVar[Mapping[str, Option]] = {
        "name": Option("str", "the model name written into results files"),
        "n_ctx": Option("int", "context length (0: the model's, capped at 8192)", 0, low=0),
        "n_threads": Option("int", "CPU threads (default: llama.cpp's choice)", low=1),
        "n_batch": Option("int", "prompt tokens per eval call", 512, low=1),
        "n_gpu_layers": Option("int", "layers offloaded to the GPU (-1: all)", 0, low=-1),
        "tokenizer": Option("str", "HF folder whose chat template and tokenizer to use"),
        "chat_template": Option("file", "a jinja chat template file used instead of the GGUF's"),
        "seed": Option("int", "engine seed (requests carry their own seeds)", 0, low=0, high=2**31 - 1),
        "verbose": Option("bool", "llama.cpp's own logging", False),
    }

    def __init__(self, target: str, **options: Any) -> None:
        super().__init__(target, **options)
        self._llama_cpp = require("llama_cpp", "llamacpp", "the llama.cpp backend")
        if not os.path.isfile(target):
            raise RRMError(f"GGUF file {target!r} does not exist", hint="write llamacpp:/path/to/model.gguf")
        self._hf_tokenizer = None
        if options.get("tokenizer"):
            transformers = require("transformers", "llamacpp", "an HF tokenizer for the llama.cpp backend")
            self._hf_tokenizer = transformers.AutoTokenizer.from_pretrained(options["tokenizer"])
        self.llm = self._open(logits_all=False)
        self.n_ctx = int(self.llm.n_ctx())
        self._scorer: Any = None
        self._template = self._chat_template()

    def _open(self, logits_all: bool) -> Any:
        opts = self.options
        n_ctx = int(self.opt("n_ctx"))
        kwargs: dict[str, Any] = dict(
            model_path=self.target,
            n_ctx=n_ctx,
            n_batch=int(self.opt("n_batch")),
            n_gpu_layers=int(self.opt("n_gpu_layers")),
            seed=int(self.opt("seed")),
            logits_all=logits_all,
            verbose=bool(self.opt("verbose")),
        )
        if opts.get("n_threads"):
            kwargs["n_threads"] = int(opts["n_threads"])
        try:
            llm = self._llama_cpp.Llama(**kwargs)
        except (ValueError, RuntimeError) as exc:
            raise RRMError(f"llama.cpp cannot load {self.target!r}: {exc}", hint="is it a valid GGUF file?") from exc
        if n_ctx == 0 and llm.n_ctx() > 8192:
            # The trained context of modern models (32k-128k) would allocate GBs of KV cache (and of logits for the
            # scoring context): cap it unless asked for.
            kwargs["n_ctx"] = 8192
            llm = self._llama_cpp.Llama(**kwargs)
        return llm

    @property
    def name(self) -> str:
        return str(self.options.get("name") or os.path.splitext(os.path.basename(self.target))[0])

    def context_length(self) -> int | None:
        return self.n_ctx

    def count_tokens(self, text: str) -> int | None:
        return len(self._encode(text))

    # -- prompts ----------------------------------------------------------------------------------------------
    def _chat_template(self) -> str | None:
        if self.options.get("chat_template"):
            with open(self.options["chat_template"], encoding="utf-8") as fh:
                return fh.read()
        template = self.llm.metadata.get("tokenizer.chat_template")
        return str(template) if template else None

    def _token_text(self, token_id: int) -> str:
        if token_id < 0:
            return ""
        return str(self.llm.detokenize([token_id], special=True).decode("utf-8", errors="replace"))

    def apply_chat_template(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        if self._hf_tokenizer is not None and not self.options.get("chat_template"):
            return str(
                self._hf_tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=add_generation_prompt
                )
            )
        if not self._template:
            raise RRMError(
                f"{self.target!r} has no chat template in its metadata",
                hint="pass --model-opt chat_template=PATH.jinja or tokenizer=HF_FOLDER",
            )
        return render_jinja_chat(
            self._template,
            messages,
            add_generation_prompt,
            self._token_text(self.llm.token_bos()),
            self._token_text(self.llm.token_eos()),
        )

    def _encode(self, text: str) -> list[int]:
        if self._hf_tokenizer is not None:
            return list(self._hf_tokenizer(text, add_special_tokens=False)["input_ids"])
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    # -- generation -------------------------------------------------------------------------------------------
    def generate(self, requests: list[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
        out: list[list[Completion]] = []
        for r in requests:  # the wrapper has screened empty and over-long prompts already
            ids = self._encode(r.prompt)
            max_tokens = max(1, min(params.max_new_tokens, self.n_ctx - len(ids)))
            runs = 1 if params.greedy else params.n
            group = [
                self._sample(
                    ids,
                    params,
                    max_tokens,
                    stable_seed(params.seed, r.key or text_hash(r.prompt), params.first_sample + s),
                )
                for s in range(runs)
            ]
            out.append(group * params.n if runs == 1 else group)
        return out

    def _sample(self, ids: list[int], params: SamplingParams, max_tokens: int, seed: int) -> Completion:
        # Plain temperature / nucleus sampling like the other engines: llama.cpp's default top-k 40, min-p 0.05
        # and repetition penalty are switched off.
        try:
            res = self.llm.create_completion(
                prompt=ids,
                max_tokens=max_tokens,
                temperature=0.0 if params.greedy else params.temperature,
                top_p=1.0 if params.greedy else params.top_p,
                top_k=0,
                min_p=0.0,
                typical_p=1.0,
                repeat_penalty=1.0,
                seed=seed % (1 << 31),
                stop=list(params.stop) or None,
            )
        except (RuntimeError, ValueError) as exc:  # a failed decode errors this request, not the chunk
            return Completion("", "error", len(ids), 0, f"llama.cpp: {exc}")
        choice = res["choices"][0]
        reason: FinishReason = "length" if choice.get("finish_reason") == "length" else "stop"
        n_gen = int(res["usage"]["completion_tokens"])
        if reason == "stop" and not params.stop:
            n_gen += 1  # llama.cpp leaves the EOS out of its count; the other engines count it
        return Completion(str(choice["text"]), reason, len(ids), n_gen)

    # -- scoring ----------------------------------------------------------------------------------------------
    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        import numpy as np

        if self._scorer is None:
            self._scorer = self._open(logits_all=True)
        sc = self._scorer
        out: list[ScoreResult] = []
        for r in requests:  # the wrapper has screened empty and over-long inputs already
            p_ids, c_ids = self._encode(r.prompt), self._encode(r.continuation)
            ids = p_ids + c_ids
            fed = ids[:-1]  # the last token is only predicted
            keep = 0
            for a, b in zip(sc.input_ids[: sc.n_tokens], fed, strict=False):
                if a != b:
                    break
                keep += 1
            # Rows before `keep` still hold the logits of the shared prefix; eval() drops the KV cache after it.
            sc.n_tokens = keep
            try:
                sc.eval(fed[keep:])
            except (RuntimeError, ValueError) as exc:  # a failed decode (e.g. KV cache full) errors this request
                sc.n_tokens = 0  # nothing cached can be trusted after a failed eval
                out.append(ScoreResult([], [], len(p_ids), error=f"llama.cpp: {exc}", failure="backend_error"))
                continue
            rows = np.asarray(sc.scores[len(p_ids) - 1 : len(fed)], dtype=np.float64)
            shift = rows.max(axis=1, keepdims=True)
            logz = np.log(np.exp(rows - shift).sum(axis=1)) + shift[:, 0]
            lps = [float(rows[k, t] - logz[k]) for k, t in enumerate(c_ids)]
            tokens = [self._token_text(t) for t in c_ids]
            out.append(ScoreResult(lps, tokens, len(p_ids)))
        return out

    def close(self) -> None:
        for attr in ("llm", "_scorer"):
            obj = getattr(self, attr, None)
            if obj is not None and hasattr(obj, "close"):
                obj.close()
            setattr(self, attr, None)

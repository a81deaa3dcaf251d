"""Check model weights on disk before anything runs: clear errors, nothing half-written.

A weights directory holds `config.json` (a JSON object) and `model.safetensors`. The check
reads the safetensors header (8-byte little-endian length, then a JSON table of tensors with
byte offsets) and compares it with the file size, so a truncated or garbled download is caught
without loading torch. Pickled checkpoints are never read.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

from tradelab.errors import ModelUnavailableError

__all__ = [
    "DOWNLOAD_HINTS",
    "check_weights_dir",
    "require_modules",
]

# What to download for each model family, shown in every "unavailable" message.
DOWNLOAD_HINTS: dict[str, str] = {
    "toto": (
        "download Datadog/Toto-Open-Base-1.0 from Hugging Face, e.g. `huggingface-cli download "
        "Datadog/Toto-Open-Base-1.0 --local-dir {path}`, and set model.weights_dir to it"
    ),
    "kronos": (
        "download NeoQuasar/Kronos-small, e.g. `huggingface-cli download NeoQuasar/Kronos-small "
        "--local-dir {path}`, and set model.weights_dir to it"
    ),
    "kronos_tokenizer": (
        "download NeoQuasar/Kronos-Tokenizer-base, e.g. `huggingface-cli download "
        "NeoQuasar/Kronos-Tokenizer-base --local-dir {path}`, and set model.tokenizer_dir to it"
    ),
}

_SAFETENSORS_DTYPES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}


def check_weights_dir(path: str | Path, family: str) -> Path:
    """Return `path` if it holds a readable config.json and an intact model.safetensors.

    Raises ModelUnavailableError saying what is wrong and what to download (`family` keys
    `DOWNLOAD_HINTS`).
    """
    folder = Path(path).expanduser()
    hint = DOWNLOAD_HINTS.get(family, "provide the model files").format(path=folder)
    label = family.replace("_", " ")
    if not folder.is_dir():
        raise ModelUnavailableError(
            f"{label} weights not found: {folder} is not a directory; {hint}"
        )
    config = folder / "config.json"
    weights = folder / "model.safetensors"
    missing = [p.name for p in (config, weights) if not p.is_file()]
    if missing:
        raise ModelUnavailableError(
            f"{label} weights incomplete in {folder}: missing {', '.join(missing)}; {hint}"
        )
    try:
        parsed = json.loads(config.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelUnavailableError(f"{label} config {config} is corrupt ({exc}); {hint}") from exc
    if not isinstance(parsed, dict):
        raise ModelUnavailableError(f"{label} config {config} is not a JSON object; {hint}")
    problem = _safetensors_problem(weights)
    if problem:
        raise ModelUnavailableError(f"{label} weights {weights} are corrupt: {problem}; {hint}")
    return folder


def _safetensors_problem(path: Path) -> str | None:
    """Describe what is wrong with a safetensors file (None: the header is consistent)."""
    size = path.stat().st_size
    if size < 8:
        return f"file is {size} bytes long"
    with path.open("rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        if header_len <= 0 or 8 + header_len > size:
            return "header length points past the end of the file"
        try:
            header = json.loads(fh.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return "header is not JSON"
    if not isinstance(header, dict):
        return "header is not a JSON object"
    data_len = size - 8 - header_len
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    if not tensors:
        return "no tensors"
    for name, info in tensors.items():
        try:
            begin, end = (int(x) for x in info["data_offsets"])
            itemsize = _SAFETENSORS_DTYPES[str(info["dtype"])]
            count = 1
            for dim in info["shape"]:
                count *= int(dim)
        except (KeyError, TypeError, ValueError):
            return f"tensor {name!r} has a malformed entry"
        if not 0 <= begin <= end <= data_len or end - begin != count * itemsize:
            return f"tensor {name!r} lies outside the file (truncated download?)"
    return None


def require_modules(family: str, modules: tuple[str, ...]) -> None:
    """Raise ModelUnavailableError when a library the family needs is not installed."""
    absent = [m for m in modules if not _importable(m)]
    if absent:
        raise ModelUnavailableError(
            f"{family.replace('_', ' ')} needs {', '.join(absent)}, which is not installed: "
            "install the forecast extra (`make forecast`: torch, toto-ts --no-deps, "
            "gluonts --no-deps, sktime --no-deps and their runtime dependencies)"
        )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False

"""Atomic file writes: a temporary file in the target's folder, fsync, then `os.replace`.

Readers never see a partial file, and a failure leaves the previous file (or none) in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "write_bytes_atomic",
    "write_if_changed",
    "write_json_atomic",
    "write_metrics_json",
    "write_table",
    "write_text_atomic",
]


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; when the block succeeds it replaces `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; return the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any, *, sort_keys: bool = False) -> Path:
    """Write `obj` as indented JSON atomically (values JSON cannot hold become strings)."""
    return write_text_atomic(
        path, json.dumps(obj, indent=2, default=str, sort_keys=sort_keys) + "\n"
    )


def write_if_changed(path: str | Path, text: str) -> bool:
    """Write `text` atomically unless the file already holds it; return whether it changed."""
    path = Path(path)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    write_text_atomic(path, text)
    return True


def _metric_values(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Floats for JSON (NaN, which JSON lacks, is null), nested mappings kept."""
    return {
        str(k): _metric_values(v) if isinstance(v, Mapping) else (None if v != v else float(v))
        for k, v in metrics.items()
    }


def write_metrics_json(
    path: str | Path, metrics: Mapping[str, Any], *, sort_keys: bool = False
) -> bool:
    """Write a metrics file (numbers, possibly nested by target) as indented JSON, NaN as null,
    atomically and only when its text changes (an unchanged file keeps its time, so DVC and
    `make` see nothing new); return whether it changed."""
    text = json.dumps(_metric_values(metrics), indent=2, sort_keys=sort_keys) + "\n"
    return write_if_changed(path, text)


def write_table(frame: Any, path: str | Path) -> Path:
    """Write a DataFrame as Parquet or CSV (by suffix), without its index, atomically."""
    path = Path(path)
    if path.suffix not in (".parquet", ".csv"):
        raise ValueError(f"unsupported table format {path.suffix!r}: use .parquet or .csv")
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
    return path

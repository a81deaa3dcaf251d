"""Atomic file writes: a temporary file in the target folder, then os.replace."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["write_csv_atomic", "write_json_atomic", "write_text_atomic"]


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` to `path` so readers never see a partial file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write `obj` as indented JSON (non-JSON values as strings)."""
    return write_text_atomic(path, json.dumps(obj, indent=2, default=str) + "\n")


def write_csv_atomic(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write `frame` as CSV without its index."""
    return write_text_atomic(path, frame.to_csv(index=False))

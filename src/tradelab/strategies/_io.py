"""Atomic writes used by the studies (see `tradelab.atomic`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tradelab.atomic import write_json_atomic, write_text_atomic

__all__ = ["write_csv_atomic", "write_json_atomic", "write_text_atomic"]


def write_csv_atomic(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write `frame` as CSV without its index."""
    return write_text_atomic(path, frame.to_csv(index=False))

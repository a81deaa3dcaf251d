"""Output tree and atomic writes: a reader never sees a half-written result file.

Layout under the results root (configurable, `paths.results_dir`):

    <root>/<SYMBOL>/candidates_<strategy>_<grid>.parquet   (or .csv)
    <root>/<SYMBOL>/plateaus_<strategy>_<grid>.png
    <root>/<SYMBOL>/plateaus_<strategy>_<grid>.csv
    <root>/<SYMBOL>/phase5_refine_<TS-NAME>_rank<k>.csv
    <root>/<SYMBOL>/phase5_refine_config.csv
    <root>/<SYMBOL>/Refinement_Analysis_<SYMBOL>.xlsx
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from tradelab.atomic import atomic_path
from tradelab.data.symbols import validate_symbol

__all__ = [
    "atomic_path",
    "check_name",
    "symbol_dir",
    "write_table",
]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,79}$")


def check_name(name: str, field: str) -> str:
    """Return `name` (a strategy, grid or TradeStation name) if it is safe in a file name."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise ValueError(
            f"{field} {name!r} cannot be used in a file name: use letters, digits, '.', '-', '_'"
        )
    return name


def symbol_dir(root: str | Path, symbol: str) -> Path:
    """Return (creating it) the results folder `<root>/<SYMBOL>`."""
    path = Path(root) / validate_symbol(symbol)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write `frame` as Parquet or CSV (by suffix) atomically; return the path."""
    path = Path(path)
    writers: dict[str, Callable[[Path], None]] = {
        ".parquet": lambda p: frame.to_parquet(p, index=False),
        ".csv": lambda p: frame.to_csv(p, index=False),
    }
    if path.suffix not in writers:
        raise ValueError(f"unsupported table format {path.suffix!r}: use .parquet or .csv")
    with atomic_path(path) as tmp:
        writers[path.suffix](tmp)
    return path

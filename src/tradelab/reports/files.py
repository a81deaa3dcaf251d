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

from pathlib import Path

from tradelab.data.symbols import validate_symbol

__all__ = ["symbol_dir"]


def symbol_dir(root: str | Path, symbol: str) -> Path:
    """Return (creating it) the results folder `<root>/<SYMBOL>`."""
    path = Path(root) / validate_symbol(symbol)
    path.mkdir(parents=True, exist_ok=True)
    return path

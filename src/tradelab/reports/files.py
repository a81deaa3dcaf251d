"""Output tree and atomic writes: a reader never sees a half-written result file.

Layout under the results root (configurable, `paths.results_dir`); `<sweep>` is
`<grid>-<phases>` (e.g. `phase1_slim-default`), so sweeps of other grids or phase layouts on
the same symbol never overwrite or delete each other's files:

    <root>/<SYMBOL>/candidates_<strategy>_<sweep>.parquet   (or .csv)
    <root>/<SYMBOL>/plateaus_<strategy>_<sweep>.png
    <root>/<SYMBOL>/plateaus_<strategy>_<sweep>.csv
    <root>/<SYMBOL>/phase5_refine/<sweep>/phase5_refine_<TS-NAME>_rank<k>.csv
    <root>/<SYMBOL>/phase5_refine_config.csv                 (every sweep; grid, phases columns)
    <root>/<SYMBOL>/wfo/<strategy>/<sweep>/phase<k>/          (the phase cache)
    <root>/<SYMBOL>/phase5_results/[<sweep>/]*.csv            (TradeStation results, the user's)
    <root>/<SYMBOL>/Refinement_Analysis_<SYMBOL>.xlsx
    <root>/<SYMBOL>/headline.json      (the latest job's numbers of every strategy it swept)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tradelab.atomic import write_metrics_json
from tradelab.data.symbols import check_name, validate_symbol
from tradelab.errors import ConfigError

__all__ = [
    "REFINE_DIR",
    "WFO_HEADLINE",
    "read_wfo_headlines",
    "sweep_name",
    "symbol_dir",
    "write_wfo_headline",
]

log = logging.getLogger("tradelab.reports")

REFINE_DIR = "phase5_refine"
WFO_HEADLINE = "headline.json"


def write_wfo_headline(
    root: str | Path, target: str, headline: Mapping[str, Mapping[str, float]]
) -> Path:
    """Write the latest WFO job's headline numbers of every strategy it swept, `{strategy:
    {metric: value}}`, to `<root>/<target>/headline.json` (the DVC metrics file keeps the
    requested strategy's only, under the same keys for every target)."""
    path = symbol_dir(root, target) / WFO_HEADLINE
    write_metrics_json(path, headline)
    return path


def read_wfo_headlines(root: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Every target's `headline.json` under `root`: `{target: {strategy: {metric: value}}}`;
    an unreadable one is skipped with a warning naming it (a report shows what it can)."""
    found = {}
    for path in sorted(Path(root).glob(f"*/{WFO_HEADLINE}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("%s skipped: %s (re-run the WFO job of %s)", path, exc, path.parent.name)
            continue
        if isinstance(data, dict):
            found[path.parent.name] = data
    return found


def symbol_dir(root: str | Path, symbol: str) -> Path:
    """Return (creating it) the results folder `<root>/<SYMBOL>`."""
    path = Path(root) / validate_symbol(symbol)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sweep_name(grid_name: str, phases_name: str) -> str:
    """Return `<grid>-<phases>`, the name that keys one sweep's files and cache folder."""
    for key, name in (("grid.name", grid_name), ("phases", phases_name)):
        try:
            check_name(name, key)
        except ValueError as exc:
            raise ConfigError(key, str(exc)) from None
    return f"{grid_name}-{phases_name}"

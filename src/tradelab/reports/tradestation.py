"""TradeStation refinement exports: optimizer ranges per plateau and the combined job index.

`phase5_refine/<grid>-<phases>/phase5_refine_<TS-NAME>_rank<k>.csv` (one folder per sweep, so
sweeps of other grids or phase layouts keep theirs), one row per strategy input:

    ts_input    TradeStation input name (from the strategy config's `ts_input`)
    parameter   tradelab parameter name
    tier        1 = searched in refinement; 2 or 3 = fixed
    optimize    true for tier 1 (enter start/stop/step in the optimizer), false otherwise
    start       tier 1: smallest value in the plateau's refinement set; fixed: the value of
                the plateau's best combination, so the exported grid contains it
    stop        tier 1: largest value in the refinement set; fixed: as start
    step        tier 1: the largest step that reaches every grid level inside [start, stop]
                from start (their spacings' common divisor; of all the grid's levels when one
                lies inside; 1 when the grid has one level), so TradeStation tries every level
                of the plateau, the best combination's included; fixed: 0
    count       values the optimizer will try: (stop - start) / step + 1 (1 when fixed)
    median      median over the refinement set, moved to a value present in it
    best        value of the plateau's best-scoring combination

`phase5_refine_config.csv` beside the folders, one row per refinement job of the symbol (every
sweep and strategy written so far; rewriting a (grid, phases, strategy) replaces its rows, and
rows whose file is gone are dropped): job, symbol, grid, phases, strategy, ts_name, rank,
regime, file (relative to the config's folder), n_cells, n_combos, n_top, median_score,
best_score, n_optimized, refine_combos (the product of the tier-1 counts: how many backtests
the TradeStation optimization runs). Rows of a config written before the grid and phases
columns existed keep empty values there. Numbers are written with up to 10 significant digits.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradelab import faults
from tradelab.atomic import atomic_path
from tradelab.data.symbols import check_name, validate_symbol
from tradelab.errors import ConfigError, DataError
from tradelab.reports.files import REFINE_DIR, sweep_name
from tradelab.search.grid import Grid
from tradelab.wfo.plateaus import Plateau

__all__ = [
    "CONFIG_FILE",
    "refine_file_name",
    "refinement_ranges",
    "write_refinement_exports",
]

CONFIG_FILE = "phase5_refine_config.csv"
RANGE_WRITTEN = faults.declare(
    "wfo.exports.refine", "the TradeStation exports after the k-th range file (@k)"
)
RANGES_WRITTEN = faults.declare(
    "wfo.exports.config", "the TradeStation exports after the range files, before the config"
)
RANGE_COLUMNS = (
    "ts_input",
    "parameter",
    "tier",
    "optimize",
    "start",
    "stop",
    "step",
    "count",
    "median",
    "best",
)
CONFIG_COLUMNS = (
    "job",
    "symbol",
    "grid",
    "phases",
    "strategy",
    "ts_name",
    "rank",
    "regime",
    "file",
    "n_cells",
    "n_combos",
    "n_top",
    "median_score",
    "best_score",
    "n_optimized",
    "refine_combos",
)


def refine_file_name(ts_name: str, rank: int) -> str:
    """Return `phase5_refine_<TS-NAME>_rank<k>.csv`."""
    return f"phase5_refine_{check_name(ts_name, 'ts_name')}_rank{int(rank)}.csv"


def _step(name: str, start: float, stop: float, grid: Grid | None, observed: np.ndarray) -> float:
    if grid is not None and name in grid.names:
        levels = np.unique(np.asarray(grid.levels[grid.index_of(name)], dtype=np.float64))
    else:
        levels = np.unique(observed)
    inside = levels[(levels >= start - 1e-12) & (levels <= stop + 1e-12)]
    diffs = np.diff(inside if inside.size > 1 else levels)
    diffs = diffs[diffs > 1e-12]
    if not diffs.size:
        return 1.0
    return _common_step(diffs)


def _common_step(diffs: np.ndarray, scale: float = 1e6) -> float:
    """The largest step dividing every spacing in `diffs` (to 1 / `scale`): 2 for 4, 6, 8."""
    units = np.rint(diffs * scale).astype(np.int64)
    return float(np.gcd.reduce(units)) / scale


def _spec(parameters: Mapping[str, Any], name: str) -> tuple[int, str, Any]:
    item = parameters[name]
    get = (
        item.get if hasattr(item, "get") else lambda key, default=None: getattr(item, key, default)
    )
    tier, ts_input = get("tier"), get("ts_input")
    if tier is None or ts_input is None:
        raise ConfigError(f"strategy.parameters.{name}", "needs 'tier' (1/2/3) and 'ts_input'")
    if int(tier) not in (1, 2, 3):
        raise ConfigError(f"strategy.parameters.{name}.tier", f"must be 1, 2 or 3, got {tier}")
    return int(tier), str(ts_input), get("default")


def refinement_ranges(
    plateau: Plateau, parameters: Mapping[str, Any], grid: Grid | None = None
) -> pd.DataFrame:
    """Return the optimizer ranges of one plateau (columns as in the module docstring).

    `parameters`: name -> {tier, ts_input[, default]} as in the strategy config. A parameter
    of the mapping that the plateau does not vary is written fixed at its `default` (skipped
    when there is none); every plateau parameter needs an entry.
    """
    missing = [name for name in plateau.bounds if name not in parameters]
    if missing:
        raise ConfigError(
            f"strategy.parameters.{missing[0]}",
            "grid parameter has no tier/ts_input entry in the strategy config",
        )
    rows = []
    for name in parameters:
        tier, ts_input, default = _spec(parameters, name)
        if name not in plateau.bounds:
            if default is None:
                continue
            value = float(default)
            rows.append((ts_input, name, tier, False, value, value, 0.0, 1, value, value))
            continue
        lo, hi = plateau.bounds[name]
        median, best = plateau.medians[name], plateau.best[name]
        if tier == 1:
            observed = plateau.top[name].to_numpy(dtype=np.float64)
            step = _step(name, lo, hi, grid, observed)
            count = math.floor((hi - lo) / step + 1e-9) + 1
            rows.append((ts_input, name, tier, True, lo, hi, step, count, median, best))
        else:
            rows.append((ts_input, name, tier, False, best, best, 0.0, 1, median, best))
    return pd.DataFrame(rows, columns=list(RANGE_COLUMNS))


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.10g")
    return path


def write_refinement_exports(
    plateaus: Sequence[Plateau],
    parameters: Mapping[str, Any],
    *,
    out_dir: str | Path,
    symbol: str,
    strategy: str,
    ts_name: str,
    grid_name: str,
    phases_name: str,
    grid: Grid | None = None,
) -> list[Path]:
    """Write one range file per plateau into `phase5_refine/<grid>-<phases>/` of `out_dir` and
    update `out_dir/phase5_refine_config.csv`; return the paths.

    Range files of this `ts_name` in this sweep's folder from an earlier run with more plateaus
    are removed, so the folder and the config always agree; other sweeps' files stay. While
    the range files are rewritten the config lists none of this job's files, so a crash
    between two of them never leaves it pointing at files of another run.
    """
    validate_symbol(symbol)
    check_name(strategy, "strategy")
    check_name(ts_name, "ts_name")
    out = Path(out_dir)
    folder = out / REFINE_DIR / sweep_name(grid_name, phases_name)
    mine = (grid_name, phases_name, ts_name)
    tables = [(p, refinement_ranges(p, parameters, grid)) for p in plateaus]
    if (out / CONFIG_FILE).exists():  # unlist this job's files while they are rewritten
        _update_config(out, [], mine)
    written: list[Path] = []
    jobs = []
    for plateau, ranges in tables:
        folder.mkdir(parents=True, exist_ok=True)
        path = _write_csv(ranges, folder / refine_file_name(ts_name, plateau.rank))
        faults.fault(RANGE_WRITTEN)
        written.append(path)
        optimized = ranges[ranges["optimize"]]
        jobs.append(
            {
                "job": f"{ts_name}_rank{plateau.rank}",
                "symbol": symbol,
                "grid": grid_name,
                "phases": phases_name,
                "strategy": strategy,
                "ts_name": ts_name,
                "rank": plateau.rank,
                "regime": plateau.regime,
                "file": path.relative_to(out).as_posix(),
                "n_cells": plateau.n_cells,
                "n_combos": plateau.n_combos,
                "n_top": len(plateau.top),
                "median_score": plateau.median_score,
                "best_score": plateau.best_score,
                "n_optimized": len(optimized),
                "refine_combos": int(np.prod(optimized["count"].to_numpy(dtype=np.int64))),
            }
        )
    _remove_stale(folder, ts_name, {p.name for p in written})
    faults.fault(RANGES_WRITTEN)
    written.append(_update_config(out, jobs, mine))
    return written


def _remove_stale(folder: Path, ts_name: str, keep: set[str]) -> None:
    pattern = re.compile(rf"^phase5_refine_{re.escape(ts_name)}_rank\d+\.csv$")
    for stale in folder.glob(f"phase5_refine_{ts_name}_rank*.csv"):
        if pattern.match(stale.name) and stale.name not in keep:
            stale.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when nothing is left in it


def _read_config(path: Path) -> pd.DataFrame:
    """The config's rows; a config from before the grid and phases columns gets empty ones."""
    try:
        old = pd.read_csv(path, dtype={"grid": str, "phases": str, "ts_name": str, "file": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot parse: {exc}", file=path) from None
    for column in ("grid", "phases"):
        if column not in old.columns:
            old[column] = ""
    missing = [c for c in CONFIG_COLUMNS if c not in old.columns]
    if missing:
        raise DataError(
            f"not a refinement config (columns {list(CONFIG_COLUMNS)})", file=path, field=missing[0]
        )
    old[["grid", "phases"]] = old[["grid", "phases"]].fillna("")
    return old


def _update_config(out: Path, jobs: list[dict[str, Any]], mine: tuple[str, str, str]) -> Path:
    """Replace the rows of sweep and strategy `mine` in the config with `jobs`; drop rows whose
    file no longer exists."""
    config_path = out / CONFIG_FILE
    frames = []
    if config_path.exists():
        old = _read_config(config_path)
        same = (old["grid"] == mine[0]) & (old["phases"] == mine[1]) & (old["ts_name"] == mine[2])
        present = old["file"].map(lambda f: isinstance(f, str) and (out / f).is_file())
        frames.append(old[~same & present])
    frames.append(pd.DataFrame(jobs, columns=list(CONFIG_COLUMNS)))
    frames = [f for f in frames if len(f)]
    combined = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=list(CONFIG_COLUMNS))
    )
    if len(combined):
        combined = combined.sort_values(["grid", "phases", "ts_name", "rank"], kind="stable")
    return _write_csv(combined[list(CONFIG_COLUMNS)], config_path)

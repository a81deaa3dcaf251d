"""What the `tradelab-tune` jobs share: how a job opens tracked runs, where data and results
live, and the metrics files DVC reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tradelab.atomic import write_if_changed
from tradelab.data import ParquetStore
from tradelab.errors import DataError
from tradelab.jobs.base import OpenJob
from tradelab.tracking.settings import TrackingConfig

__all__ = ["OpenJob", "TuneContext", "load_bars", "write_metrics"]


@dataclass(frozen=True)
class TuneContext:
    """Where a tune job reads and writes, and how it records runs.

    `results_dir` receives `<study>/<target>/`; `metrics_file` (None: none) the headline
    metrics per target that `dvc metrics show` reads; `max_trial_runs` caps the child runs per
    job; `progress` shows progress bars.
    """

    store: ParquetStore
    open_job: OpenJob
    results_dir: Path
    metrics_file: Path | None = None
    max_trial_runs: int = TrackingConfig.max_trial_runs
    progress: bool = True


def load_bars(store: ParquetStore, symbol: str, timeframe: str) -> pd.DataFrame:
    """Read one symbol's bars, with a hint when the store lacks them."""
    try:
        return store.get(symbol, timeframe)
    except DataError as exc:
        raise DataError(f"{exc} (run tradelab-ingest first, or check the symbol)") from exc


def _clean(metrics: dict[str, Any]) -> dict[str, Any]:
    """Floats for JSON (NaN -> null), nested tables kept."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        out[k] = _clean(v) if isinstance(v, dict) else (None if v != v else float(v))
    return out


def write_metrics(path: Path | None, metrics: dict[str, Any]) -> None:
    """Write `metrics` as sorted JSON to `path` (nothing when None; unchanged files kept)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(path, json.dumps(_clean(metrics), indent=2, sort_keys=True) + "\n")

"""`tradelab-ingest`: raw data (synthetic market, flat files, CSV, the TradeStation and
Massive APIs) -> validated Parquet store."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig

from tradelab.apps._runtime import job_for, plain, run_hydra_app, settings, tracker_for
from tradelab.apps.schema import AppConfig
from tradelab.data import ParquetStore
from tradelab.data.settings import DATA_SOURCES, ApiDataConfig, UniverseConfig, data_config
from tradelab.errors import ConfigError
from tradelab.jobs.ingest import IngestJobConfig, IngestResult, run_ingest
from tradelab.settings import from_plain

__all__ = ["GROUPS", "IngestAppConfig", "IngestStep", "run"]


class IngestStep(StrEnum):
    all = "all"
    raw = "raw"
    ingest = "ingest"
    bars = "bars"


@dataclass
class IngestAppConfig(AppConfig):
    """`tradelab-ingest`: generate or read raw data, validate it, fill the Parquet store.

    `step`: `raw` writes the synthetic flat files, `ingest` fills the 1min/1day datasets,
    `bars` derives the other `timeframes`; `all` does the three. Ingesting another synthetic
    market (`data.mode`, `data.seed`, `data.end`, `data.daily_years`) or another source into a
    symbol's datasets refuses; `replace=true` rebuilds the ingested symbols' datasets from this
    data alone. All or nothing: every dataset the call writes (all timeframes and symbols, the
    derived bars) is staged and validated first, then committed at once; the summary prints
    the rows not stored per reason (invalid symbol, outside universe, dropped, duplicate).
    """

    data: Any = MISSING
    universe: Any = MISSING
    step: IngestStep = IngestStep.all
    symbols: list[str] = field(default_factory=list)
    timeframes: list[str] = field(default_factory=lambda: list(IngestJobConfig.timeframes))
    offline: bool = False
    progress: bool = True
    replace: bool = IngestJobConfig.replace


GROUPS: dict[str, dict[str, type]] = {
    "data": dict(DATA_SOURCES),
    "universe": {"universe": UniverseConfig},
}


def run(cfg: DictConfig) -> str:
    """Run the configured ingestion steps; return the store's content hash."""
    data = data_config(plain(cfg.data))
    universe = settings(UniverseConfig, cfg.universe, "universe")
    job_settings = from_plain(
        IngestJobConfig,
        {
            "step": str(cfg.step),
            "symbols": list(cfg.symbols),
            "timeframes": list(cfg.timeframes),
            "progress": bool(cfg.progress),
            "replace": bool(cfg.replace),
        },
    )
    if cfg.offline and isinstance(data, ApiDataConfig):
        raise ConfigError(
            "offline", f"data={data.source} downloads from its API: drop offline=true"
        )
    store = ParquetStore(cfg.paths.store_dir, offline=bool(cfg.offline))
    open_job = functools.partial(job_for, tracker_for(cfg), cfg, reads_data=True)
    result = run_ingest(data, universe, job_settings, store, open_job)
    _print_summary(result, store.root)
    return result.data_hash


def _print_summary(result: IngestResult, root: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    by_tf: dict[str, list[dict[str, Any]]] = {}
    for row in result.coverage:
        by_tf.setdefault(row["timeframe"], []).append(row)
    table = Table(title=f"Parquet store {root} (data hash {result.data_hash})")
    for col in ("timeframe", "symbols", "rows", "from", "to"):
        table.add_column(col)
    for tf, rows in by_tf.items():
        start = min(date.fromisoformat(r["coverage_start"]) for r in rows)
        end = max(date.fromisoformat(r["coverage_end"]) for r in rows)
        table.add_row(tf, str(len(rows)), f"{sum(r['rows'] for r in rows):,}", str(start), str(end))
    console.print(table)
    changed = result.committed
    console.print(f"committed: {changed.moved} files written, {changed.deleted} deleted")
    if result.skipped:
        skipped = Table(title="Rows not stored")
        skipped.add_column("reason")
        skipped.add_column("rows", justify="right")
        for reason, count in sorted(result.skipped.items()):
            skipped.add_row(reason, f"{count:,}")
        console.print(skipped)
    else:
        console.print("rows not stored: none")


main = run_hydra_app("ingest", run, IngestAppConfig, GROUPS)

if __name__ == "__main__":
    main()

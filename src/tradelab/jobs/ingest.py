"""Ingestion as a tracked job: raw data (synthetic market, flat files, CSV) -> validated
Parquet store -> derived timeframes, with the store's coverage logged."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tradelab.atomic import write_bytes_atomic
from tradelab.data import (
    MarketSpec,
    ParquetStore,
    generate_market,
    ingest_flat_files,
    read_long_table,
    read_wide_closes,
    universe_symbols,
    validate_symbols,
    write_day_files,
)
from tradelab.data.flatfiles import DAY_KIND, MINUTE_KIND
from tradelab.data.settings import (
    CsvDataConfig,
    CsvLayout,
    DataConfig,
    FlatFilesDataConfig,
    SyntheticDataConfig,
    UniverseConfig,
)
from tradelab.jobs.base import OpenJob
from tradelab.progress import progress_callback
from tradelab.tracking import Job

__all__ = [
    "GENERATOR_VERSION",
    "IngestJobConfig",
    "market_spec",
    "run_ingest",
    "store_coverage",
    "write_synthetic_raw",
]

log = logging.getLogger("tradelab.ingest")
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class IngestJobConfig:
    """`step`: `raw` writes the synthetic flat files, `ingest` fills the 1min/1day datasets,
    `bars` derives the other `timeframes`, `all` does the three. `symbols`: only these (empty:
    the source's or the universe's)."""

    step: str = "all"
    symbols: tuple[str, ...] = ()
    timeframes: tuple[str, ...] = ("5min", "1day")
    progress: bool = True


def market_spec(data: SyntheticDataConfig) -> MarketSpec:
    """Build the synthetic market spec the data settings describe."""
    return MarketSpec(
        seed=data.seed,
        mode=data.mode.value,
        end=data.end,
        daily_years=data.daily_years,
        minute_days=data.minute_days,
        symbols=tuple(data.symbols),
        filler_tickers=data.filler_tickers,
    )


def write_synthetic_raw(spec: MarketSpec, raw_dir: Path) -> dict[str, Any]:
    """Write the synthetic flat files unless `raw_dir` already holds exactly this spec."""
    manifest_path = raw_dir / "manifest.json"
    wanted = {"generator_version": GENERATOR_VERSION, "spec": spec.to_dict()}
    if manifest_path.exists():
        current = json.loads(manifest_path.read_text())
        if {k: current.get(k) for k in wanted} == wanted:
            log.info("synthetic raw files in %s are up to date", raw_dir)
            return current
    market = generate_market(spec)
    files = write_day_files(market.bars.daily, market.bars.minute, raw_dir)
    manifest = {**wanted, "files": files, "symbols": spec.universe(), "planted": market.planted}
    if market.planted:
        write_bytes_atomic(raw_dir / "planted.json", json.dumps(market.planted, indent=2).encode())
    write_bytes_atomic(manifest_path, json.dumps(manifest, indent=2).encode())
    return manifest


def _wanted_symbols(
    data: DataConfig, universe: UniverseConfig, symbols: tuple[str, ...]
) -> list[str] | None:
    if symbols:
        return validate_symbols(list(symbols))
    if isinstance(data, SyntheticDataConfig):
        return market_spec(data).universe()
    if isinstance(data, FlatFilesDataConfig):
        if data.symbols:
            return validate_symbols(list(data.symbols))
        return universe_symbols(
            {k: list(v) for k, v in universe.sectors.items()}, list(universe.extra)
        )
    return None


def _ingest_tables(
    data: CsvDataConfig, wanted: list[str] | None, store: ParquetStore, job: Job
) -> None:
    on_bad = data.on_bad_rows.value
    if data.layout is CsvLayout.wide:
        frames = read_wide_closes(
            data.path,
            date_column=data.columns.get("timestamp", "date"),
            date_format=data.date_format,
            on_bad=on_bad,
        )
    else:
        frames = read_long_table(
            data.path,
            columns=data.columns,
            symbol=data.symbol,
            symbol_column=data.symbol_column,
            timeframe=data.timeframe,
            date_format=data.date_format,
            timezone=data.timezone,
            adjust_close_column=data.adjust_close_column,
            on_bad=on_bad,
        )
    rows = {}
    for symbol, frame in frames.items():
        if wanted is not None and symbol not in wanted:
            continue
        store.merge(symbol, data.timeframe, frame, source=f"csv:{Path(data.path).name}")
        rows[symbol] = len(frame)
    job.log_metrics({"rows_ingested": sum(rows.values()), "symbols": len(rows)})


def _ingest_flat(
    store: ParquetStore,
    root: Path,
    globs: dict[str, str],
    wanted: list[str] | None,
    data: SyntheticDataConfig | FlatFilesDataConfig,
    progress: bool,
) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for timeframe, pattern in globs.items():
        with progress_callback(f"ingest {timeframe}", enabled=progress, unit="files") as bar:
            summary = ingest_flat_files(
                store,
                root,
                pattern,
                timeframe,
                wanted,
                on_bad=data.on_bad_rows.value,
                source=data.source,
                progress=bar,
            )
        metrics.update(
            {
                f"files_read_{timeframe}": summary.files_read,
                f"files_skipped_{timeframe}": summary.files_skipped,
                f"rows_{timeframe}": summary.rows,
                f"rows_per_s_{timeframe}": summary.rows_per_second,
                f"duplicates_{timeframe}": summary.report.duplicates,
                f"dropped_rows_{timeframe}": sum(summary.report.dropped.values()),
            }
        )
        log.info(
            "%s: %d files read, %d skipped, %d rows (%.0f rows/s)",
            timeframe,
            summary.files_read,
            summary.files_skipped,
            summary.rows,
            summary.rows_per_second,
        )
    return metrics


def _derive_bars(store: ParquetStore, timeframes: tuple[str, ...]) -> int:
    derived = 0
    for timeframe in timeframes:
        if timeframe in ("1min",) or (timeframe == "1day" and store.symbols("1day")):
            continue
        for symbol in store.symbols("1min"):
            store.derive(symbol, timeframe)
            derived += 1
    return derived


def store_coverage(store: ParquetStore) -> list[dict[str, Any]]:
    """One row per dataset of the store: symbol, timeframe, rows, coverage, source, hash."""
    rows = []
    for tf in sorted(p.name for p in store.root.glob("*") if p.is_dir()):
        for symbol in store.symbols(tf):
            meta = store.meta(symbol, tf)
            if meta is None:
                continue
            rows.append(
                {
                    "symbol": symbol,
                    "timeframe": tf,
                    "rows": meta.rows,
                    "coverage_start": meta.coverage_start,
                    "coverage_end": meta.coverage_end,
                    "source": meta.source,
                    "content_hash": meta.content_hash,
                }
            )
    return rows


def run_ingest(
    data: DataConfig,
    universe: UniverseConfig,
    settings: IngestJobConfig,
    store: ParquetStore,
    open_job: OpenJob,
) -> tuple[str, list[dict[str, Any]]]:
    """Run the ingestion steps in one tracked run; return the store's hash and coverage."""
    step = settings.step
    wanted = _wanted_symbols(data, universe, settings.symbols)
    with open_job(experiment=f"ingest/{data.source}", run_name=f"ingest-{step}") as job:
        metrics: dict[str, float] = {}
        root, globs = Path(), {}
        if isinstance(data, SyntheticDataConfig):
            root = Path(data.raw_dir)
            globs = {"1min": f"{MINUTE_KIND}/**/*.csv.gz", "1day": f"{DAY_KIND}/**/*.csv.gz"}
            if step in ("all", "raw"):
                manifest = write_synthetic_raw(market_spec(data), root)
                metrics["raw_files"] = manifest["files"]
                if manifest.get("planted"):
                    job.log_dict(manifest["planted"], "planted.json")
        elif isinstance(data, FlatFilesDataConfig):
            root = Path(data.path)
            pairs = (("1min", data.minute_glob), ("1day", data.day_glob))
            globs = {tf: g for tf, g in pairs if g}
        if step in ("all", "ingest"):
            if isinstance(data, CsvDataConfig):
                _ingest_tables(data, wanted if settings.symbols else None, store, job)
            else:
                metrics.update(_ingest_flat(store, root, globs, wanted, data, settings.progress))
        if step in ("all", "bars"):
            metrics["derived_datasets"] = _derive_bars(store, settings.timeframes)
        coverage = store_coverage(store)
        data_hash = store.content_hash()
        metrics["datasets"] = len(coverage)
        job.log_metrics(metrics)
        job.set_tags({"data_hash": data_hash, "store_dir": str(store.root)})
        with tempfile.TemporaryDirectory() as tmp:
            table = Path(tmp) / "coverage.csv"
            pd.DataFrame(coverage).to_csv(table, index=False)
            job.log_artifact(table)
    return data_hash, coverage

"""`tradelab-ingest`: raw data (synthetic market, flat files, CSV) -> validated Parquet store."""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from tradelab.apps._runtime import job_for, run_hydra_app, tracker_for
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
from tradelab.progress import progress_callback
from tradelab.settings import to_plain
from tradelab.tracking import Job

log = logging.getLogger("tradelab.ingest")
GENERATOR_VERSION = 1


def market_spec(data: DictConfig) -> MarketSpec:
    """Build the synthetic market spec from `cfg.data`."""
    return MarketSpec(
        seed=int(data.seed),
        mode=str(data.mode),
        end=str(data.end),
        daily_years=float(data.daily_years),
        minute_days=int(data.minute_days),
        symbols=tuple(data.symbols),
        filler_tickers=int(data.filler_tickers),
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


def _wanted_symbols(cfg: DictConfig) -> list[str] | None:
    if cfg.symbols:
        return validate_symbols(list(cfg.symbols))
    if cfg.data.source == "synthetic":
        return market_spec(cfg.data).universe()
    if cfg.data.source == "flatfiles" and cfg.data.symbols:
        return validate_symbols(list(cfg.data.symbols))
    if cfg.data.source == "flatfiles":
        return universe_symbols(to_plain(cfg.universe.sectors), list(cfg.universe.extra))
    return None


def _ingest_tables(cfg: DictConfig, store: ParquetStore, job: Job) -> dict[str, int]:
    data = cfg.data
    on_bad = str(data.on_bad_rows)
    if str(data.layout) == "wide":
        frames = read_wide_closes(data.path, date_column=data.columns.get("timestamp", "date"),
                                  date_format=data.date_format, on_bad=on_bad)  # fmt: skip
    else:
        frames = read_long_table(
            data.path, columns=to_plain(data.columns), symbol=data.symbol, symbol_column=data.symbol_column,
            timeframe=data.timeframe, date_format=data.date_format, timezone=data.timezone,
            adjust_close_column=data.adjust_close_column, on_bad=on_bad,
        )  # fmt: skip
    wanted = _wanted_symbols(cfg)
    rows = {}
    for symbol, frame in frames.items():
        if cfg.symbols and symbol not in (wanted or []):
            continue
        store.merge(symbol, data.timeframe, frame, source=f"csv:{Path(data.path).name}")
        rows[symbol] = len(frame)
    job.log_metrics({"rows_ingested": sum(rows.values()), "symbols": len(rows)})
    return rows


def run(cfg: DictConfig) -> str:
    """Run the configured ingestion steps; return the store's content hash."""
    store = ParquetStore(cfg.paths.store_dir, offline=bool(cfg.offline))
    step = str(cfg.step)
    source = str(cfg.data.source)
    tracker = tracker_for(cfg)
    with job_for(tracker, cfg, experiment=f"ingest/{source}", run_name=f"ingest-{step}") as job:
        metrics: dict[str, float] = {}
        bases: list[str] = []
        if source == "synthetic":
            spec = market_spec(cfg.data)
            raw_dir = Path(cfg.data.raw_dir)
            if step in ("all", "raw"):
                manifest = write_synthetic_raw(spec, raw_dir)
                metrics["raw_files"] = manifest["files"]
                if manifest.get("planted"):
                    job.log_dict(manifest["planted"], "planted.json")
            globs = {"1min": f"{MINUTE_KIND}/**/*.csv.gz", "1day": f"{DAY_KIND}/**/*.csv.gz"}
            root = raw_dir
        elif source == "flatfiles":
            root = Path(cfg.data.path)
            globs = {
                tf: g
                for tf, g in (("1min", cfg.data.minute_glob), ("1day", cfg.data.day_glob))
                if g
            }
        else:
            root, globs = Path(), {}

        if step in ("all", "ingest"):
            if source == "csv":
                _ingest_tables(cfg, store, job)
            else:
                symbols = _wanted_symbols(cfg)
                for timeframe, pattern in globs.items():
                    with progress_callback(
                        f"ingest {timeframe}", enabled=bool(cfg.progress), unit="files"
                    ) as bar:
                        summary = ingest_flat_files(store, root, pattern, timeframe, symbols,
                                                    on_bad=str(cfg.data.on_bad_rows), source=source, progress=bar)  # fmt: skip
                    bases.append(timeframe)
                    metrics.update({
                        f"files_read_{timeframe}": summary.files_read,
                        f"files_skipped_{timeframe}": summary.files_skipped,
                        f"rows_{timeframe}": summary.rows,
                        f"rows_per_s_{timeframe}": summary.rows_per_second,
                        f"duplicates_{timeframe}": summary.report.duplicates,
                        f"dropped_rows_{timeframe}": sum(summary.report.dropped.values()),
                    })  # fmt: skip
                    log.info("%s: %d files read, %d skipped, %d rows (%.0f rows/s)", timeframe,
                             summary.files_read, summary.files_skipped, summary.rows, summary.rows_per_second)  # fmt: skip

        if step in ("all", "bars"):
            derived = 0
            for timeframe in cfg.timeframes:
                if timeframe in ("1min",) or (timeframe == "1day" and store.symbols("1day")):
                    continue
                for symbol in store.symbols("1min"):
                    store.derive(symbol, timeframe)
                    derived += 1
            metrics["derived_datasets"] = derived

        coverage = [
            {"symbol": s, "timeframe": tf, "rows": m.rows, "coverage_start": m.coverage_start,
             "coverage_end": m.coverage_end, "source": m.source, "content_hash": m.content_hash}
            for tf in sorted(p.name for p in store.root.glob("*") if p.is_dir())
            for s in store.symbols(tf)
            if (m := store.meta(s, tf)) is not None
        ]  # fmt: skip
        data_hash = store.content_hash()
        metrics["datasets"] = len(coverage)
        job.log_metrics(metrics)
        job.set_tags({"data_hash": data_hash, "store_dir": str(store.root)})
        with tempfile.TemporaryDirectory() as tmp:
            table = Path(tmp) / "coverage.csv"
            pd.DataFrame(coverage).to_csv(table, index=False)
            job.log_artifact(table)
        _print_summary(coverage, store.root, data_hash)
        return data_hash


def _print_summary(coverage: list[dict[str, Any]], root: Path, data_hash: str) -> None:
    from rich.console import Console
    from rich.table import Table

    by_tf: dict[str, list[dict[str, Any]]] = {}
    for row in coverage:
        by_tf.setdefault(row["timeframe"], []).append(row)
    table = Table(title=f"Parquet store {root} (data hash {data_hash})")
    for col in ("timeframe", "symbols", "rows", "from", "to"):
        table.add_column(col)
    for tf, rows in by_tf.items():
        start = min(date.fromisoformat(r["coverage_start"]) for r in rows)
        end = max(date.fromisoformat(r["coverage_end"]) for r in rows)
        table.add_row(tf, str(len(rows)), f"{sum(r['rows'] for r in rows):,}", str(start), str(end))
    Console(stderr=True).print(table)


main = run_hydra_app("ingest", run)

if __name__ == "__main__":
    main()

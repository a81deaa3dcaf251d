"""Ingestion as a tracked job: raw data (synthetic market, flat files, CSV) -> validated
Parquet store -> derived timeframes, with the store's coverage logged.

All or nothing: one call stages every dataset it writes (every timeframe and symbol, the
incremental state of the day files, the derived bars of the `bars` step), validates it all,
then commits it in one journal (`tradelab.data.staging`). A bad file anywhere, or a crash
before the commit, leaves the store as it was; a crash during the commit is completed at the
next open of the store. Rows not stored are counted per reason (`rows_skipped/<reason>`).

A synthetic market's identity (`MarketSpec.identity`: generator version, mode, seed, end,
years) is recorded in every dataset it writes. Ingesting data of another market (or another
source) into a symbol's datasets refuses before anything is written, unless `replace`: then
the symbols' datasets are rebuilt from this data alone, and their datasets of the old market
that the new data does not rewrite are removed, in the same commit.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tradelab import faults
from tradelab.atomic import write_bytes_atomic
from tradelab.data import (
    GENERATOR_VERSION,
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
from tradelab.data.fetchers import api_fetcher, history_span
from tradelab.data.flatfiles import DAY_KIND, MINUTE_KIND, OUTSIDE_UNIVERSE
from tradelab.data.settings import (
    ApiDataConfig,
    CsvDataConfig,
    CsvLayout,
    DataConfig,
    FlatFilesDataConfig,
    SyntheticDataConfig,
    UniverseConfig,
)
from tradelab.data.staging import CommitSummary, StoreTransaction, store_transaction
from tradelab.data.store import Fetcher
from tradelab.data.validation import ValidationReport
from tradelab.errors import DataError
from tradelab.jobs.base import OpenJob
from tradelab.progress import progress_callback
from tradelab.tracking import DIAGNOSTICS, Job

__all__ = [
    "GENERATOR_VERSION",
    "IngestJobConfig",
    "IngestResult",
    "market_spec",
    "run_ingest",
    "store_coverage",
    "synthetic_identity",
    "write_synthetic_raw",
]

log = logging.getLogger("tradelab.ingest")
TIMEFRAME = faults.declare(
    "ingest.timeframe", "an ingestion after the k-th timeframe's day files are staged (@k)"
)
DERIVED = faults.declare("ingest.derived", "the bars step after the k-th derived dataset (@k)")
STAGED = faults.declare(
    "ingest.staged", "an ingestion after everything is staged and validated, before the commit"
)


@dataclass(frozen=True)
class IngestJobConfig:
    """`step`: `raw` writes the synthetic flat files, `ingest` fills the 1min/1day datasets,
    `bars` derives the other `timeframes`, `all` does the three. `symbols`: only these (empty:
    the source's or the universe's). `replace`: replace the ingested symbols' datasets that
    hold another market or source instead of refusing."""

    step: str = "all"
    symbols: tuple[str, ...] = ()
    timeframes: tuple[str, ...] = ("5min", "1day")
    progress: bool = True
    replace: bool = False


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
    if isinstance(data, FlatFilesDataConfig | ApiDataConfig):
        if data.symbols:
            return validate_symbols(list(data.symbols))
        return universe_symbols(
            {k: list(v) for k, v in universe.sectors.items()}, list(universe.extra)
        )
    return None


def synthetic_identity(data: SyntheticDataConfig) -> dict[str, Any]:
    """Return the identity of the market in `data.raw_dir`, checked against the settings."""
    spec = market_spec(data)
    manifest_path = Path(data.raw_dir) / "manifest.json"
    if not manifest_path.exists():
        raise DataError("no synthetic market here: run step=raw (or all) first", file=manifest_path)
    current = json.loads(manifest_path.read_text())
    have, want = current.get("spec") or {}, spec.to_dict()
    found = [f"data.{k}={have.get(k)}" for k in want if have.get(k) != want[k]]
    asked = [f"data.{k}={want[k]}" for k in want if have.get(k) != want[k]]
    if current.get("generator_version") != GENERATOR_VERSION:
        found.append(f"generator v{current.get('generator_version')}")
        asked.append(f"generator v{GENERATOR_VERSION}")
    if found:
        raise DataError(
            f"the raw files hold {', '.join(found)}, not the requested {', '.join(asked)}: "
            "run step=raw (or all)",
            file=manifest_path,
        )
    return spec.identity()


def _read_tables(data: CsvDataConfig, report: ValidationReport) -> dict[str, pd.DataFrame]:
    on_bad = data.on_bad_rows.value
    if data.layout is CsvLayout.wide:
        return read_wide_closes(
            data.path,
            date_column=data.date_column,
            date_format=data.date_format,
            on_bad=on_bad,
            report=report,
        )
    return read_long_table(
        data.path,
        columns=data.columns,
        symbol=data.symbol,
        symbol_column=data.symbol_column,
        timeframe=data.timeframe,
        date_format=data.date_format,
        timezone=data.timezone,
        adjust_close_column=data.adjust_close_column,
        on_bad=on_bad,
        report=report,
    )


def _ingest_tables(
    data: CsvDataConfig,
    wanted: list[str] | None,
    txn: StoreTransaction,
    replace: bool,
    report: ValidationReport,
) -> dict[str, float]:
    """Stage the CSV/Parquet table's symbols (with `replace`, from this data alone)."""
    tables = _read_tables(data, report)
    frames = {s: f for s, f in tables.items() if wanted is None or s in wanted}
    outside = sum(len(f) for s, f in tables.items() if s not in frames)
    if outside:
        report.skipped[OUTSIDE_UNIVERSE] = report.skipped.get(OUTSIDE_UNIVERSE, 0) + outside
    source = f"csv:{Path(data.path).name}"
    if not replace:
        txn.store.require_market(frames, None, source)
        for symbol, frame in frames.items():
            txn.view.merge(symbol, data.timeframe, frame, source=source)
    else:
        for symbol, frame in frames.items():
            txn.fresh.write(symbol, data.timeframe, frame, source=source)
        conflicts = txn.store.market_conflicts(frames, None, derived=True)
        txn.remove((m.symbol, m.timeframe) for m in conflicts)
    return {"rows_ingested": sum(len(f) for f in frames.values()), "symbols": len(frames)}


def _ingest_api(
    data: ApiDataConfig,
    wanted: list[str],
    txn: StoreTransaction,
    settings: IngestJobConfig,
    fetcher: Fetcher,
) -> dict[str, float]:
    """Stage what the store lacks of `data.start`..`data.end` for every symbol, fetched
    through the API (with `replace`, everything, into fresh datasets)."""
    start, end = history_span(data)
    if not wanted:
        raise DataError(
            f"no symbols to download from {data.source}: set symbols=[...] or data.symbols"
        )
    if settings.replace:
        target = txn.fresh
        conflicts = txn.store.market_conflicts(wanted, None, derived=True)
        txn.remove((m.symbol, m.timeframe) for m in conflicts)
    else:
        txn.store.require_market(wanted, None, data.source)
        target = txn.view
    fetched = rows = 0
    label = f"download {data.timeframe} {start}..{end}"
    with progress_callback(label, enabled=settings.progress, unit="symbols") as update:
        for k, symbol in enumerate(wanted):
            before = _rows(target, symbol, data.timeframe)
            gaps = target.fill(
                symbol, data.timeframe, start, end, fetcher, on_bad=data.on_bad_rows.value
            )
            fetched += len(gaps)
            rows += _rows(target, symbol, data.timeframe) - before
            log.info("%s %s: %d range(s) fetched", symbol, data.timeframe, len(gaps))
            update(k + 1, len(wanted))
    return {"symbols": len(wanted), "ranges_fetched": fetched, "rows_fetched": rows}


def _rows(store: ParquetStore, symbol: str, timeframe: str) -> int:
    meta = store.meta(symbol, timeframe)
    return 0 if meta is None else meta.rows


def _ingest_globs(
    store: ParquetStore,
    root: Path,
    globs: dict[str, str],
    wanted: list[str] | None,
    data: SyntheticDataConfig | FlatFilesDataConfig,
    progress: bool,
    market: dict[str, Any] | None,
    report: ValidationReport,
) -> dict[str, float]:
    """Stage every timeframe's day files into `store` (a staged store of the transaction)."""
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
                market=market,
            )
        report.add(summary.report)
        metrics.update(
            {
                f"files_read_{timeframe}": summary.files_read,
                f"files_skipped_{timeframe}": summary.files_skipped,
                f"rows_{timeframe}": summary.rows,
                f"{DIAGNOSTICS}rows_per_s_{timeframe}": summary.rows_per_second,
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
        faults.fault(TIMEFRAME)
    return metrics


def _ingest_flat(
    txn: StoreTransaction,
    root: Path,
    globs: dict[str, str],
    wanted: list[str],
    data: SyntheticDataConfig | FlatFilesDataConfig,
    settings: IngestJobConfig,
    report: ValidationReport,
) -> dict[str, float]:
    """Stage the day files; refuse (or, with `replace`, swap out) datasets of another market."""
    market = synthetic_identity(data) if isinstance(data, SyntheticDataConfig) else None
    store, progress = txn.store, settings.progress
    if not settings.replace:
        store.require_market(wanted, market, data.source)  # before anything is read
        return _ingest_globs(txn.view, root, globs, wanted, data, progress, market, report)
    metrics = _ingest_globs(txn.fresh, root, globs, wanted, data, progress, market, report)
    fresh = txn.fresh
    written = {s for tf in fresh.timeframes() for s in fresh.symbols(tf)}
    conflicts = store.market_conflicts(sorted(written | set(wanted)), market, derived=True)
    txn.remove((m.symbol, m.timeframe) for m in conflicts)
    txn.reset(globs)
    metrics["replaced_datasets"] = len(conflicts)
    return metrics


def _derive_bars(store: ParquetStore, timeframes: tuple[str, ...]) -> int:
    """Stage the derived `timeframes` of every 1min dataset that needs rebuilding."""
    derived = 0
    for timeframe in timeframes:
        if timeframe in ("1min",) or (timeframe == "1day" and store.symbols("1day")):
            continue
        for symbol in store.symbols("1min"):
            store.derive(symbol, timeframe)
            derived += 1
            faults.fault(DERIVED)
    return derived


def _skip_metrics(report: ValidationReport) -> dict[str, float]:
    """`rows_skipped/<reason>` for every reason a row was not stored, and their total."""
    counts = report.rows_not_stored()
    out = {
        f"rows_skipped/{re.sub(r'[^a-z0-9]+', '_', k.lower()).strip('_')}": float(v)
        for k, v in counts.items()
    }
    out["rows_skipped"] = float(sum(counts.values()))
    return out


def store_coverage(store: ParquetStore) -> list[dict[str, Any]]:
    """One row per dataset of the store: symbol, timeframe, rows, coverage, source, hash."""
    rows = []
    for tf in store.timeframes():
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
                    "ranges": len(meta.ranges),
                    "source": meta.source,
                    "content_hash": meta.content_hash,
                }
            )
    return rows


@dataclass(frozen=True)
class IngestResult:
    """What an ingest call left: the store's hash and coverage, the rows not stored per
    reason, and the files its commit moved into (or deleted from) the store."""

    data_hash: str
    coverage: list[dict[str, Any]]
    skipped: dict[str, int] = field(default_factory=dict)
    committed: CommitSummary = field(default_factory=CommitSummary)


def _raw_step(
    data: DataConfig,
    settings: IngestJobConfig,
    store: ParquetStore,
    wanted: list[str] | None,
    job: Job,
    metrics: dict[str, float],
) -> tuple[Path, dict[str, str]]:
    """Write the synthetic raw files (step raw/all); return the day files' root and globs."""
    if isinstance(data, SyntheticDataConfig):
        root = Path(data.raw_dir)
        globs = {"1min": f"{MINUTE_KIND}/**/*.csv.gz", "1day": f"{DAY_KIND}/**/*.csv.gz"}
        if settings.step == "all" and not settings.replace:  # refuse before rewriting raw files
            store.require_market(wanted or [], market_spec(data).identity(), data.source)
        if settings.step in ("all", "raw"):
            manifest = write_synthetic_raw(market_spec(data), root)
            metrics["raw_files"] = manifest["files"]
            if manifest.get("planted"):
                job.log_dict(manifest["planted"], "planted.json")
        return root, globs
    if isinstance(data, FlatFilesDataConfig):
        pairs = (("1min", data.minute_glob), ("1day", data.day_glob))
        return Path(data.path), {tf: g for tf, g in pairs if g}
    return Path(), {}


def _stage_and_commit(
    data: DataConfig,
    settings: IngestJobConfig,
    store: ParquetStore,
    wanted: list[str] | None,
    source: tuple[Path, dict[str, str]],
    report: ValidationReport,
    metrics: dict[str, float],
    fetcher: Fetcher | None,
) -> CommitSummary:
    """Stage the ingest and bars steps, validate everything, then commit it all at once."""
    step = settings.step
    if step == "raw":
        return CommitSummary()
    with store_transaction(store) as txn:
        if step in ("all", "ingest"):
            if isinstance(data, CsvDataConfig):
                chosen = wanted if settings.symbols else None
                metrics.update(_ingest_tables(data, chosen, txn, settings.replace, report))
            elif isinstance(data, ApiDataConfig):
                assert wanted is not None and fetcher is not None
                metrics.update(_ingest_api(data, wanted, txn, settings, fetcher))
            else:
                assert wanted is not None
                metrics.update(_ingest_flat(txn, *source, wanted, data, settings, report))
        if step in ("all", "bars"):
            metrics["derived_datasets"] = _derive_bars(txn.view, settings.timeframes)
        faults.fault(STAGED)
        return txn.commit()


def run_ingest(
    data: DataConfig,
    universe: UniverseConfig,
    settings: IngestJobConfig,
    store: ParquetStore,
    open_job: OpenJob,
    fetcher: Fetcher | None = None,
) -> IngestResult:
    """Run the ingestion steps in one tracked run, writing the store all or nothing.

    A REST source (`data=tradestation|massive`) downloads through `fetcher` (default: the one
    its settings configure) what the store lacks of `data.start`..`data.end`.
    """
    wanted = _wanted_symbols(data, universe, settings.symbols)
    if fetcher is None:
        fetcher = api_fetcher(data)
    with open_job(experiment=f"ingest/{data.source}", run_name=f"ingest {settings.step}") as job:
        metrics: dict[str, float] = {}
        report = ValidationReport(source=data.source)
        source = _raw_step(data, settings, store, wanted, job, metrics)
        committed = _stage_and_commit(
            data, settings, store, wanted, source, report, metrics, fetcher
        )
        coverage = store_coverage(store)
        data_hash = store.content_hash()
        metrics.update(_skip_metrics(report))
        metrics["datasets"] = len(coverage)
        metrics["files_committed"] = committed.moved
        metrics["files_deleted"] = committed.deleted
        job.log_metrics(metrics)
        job.set_tags({"data_hash": data_hash, "store_dir": str(store.root)})
        with tempfile.TemporaryDirectory() as tmp:
            table = Path(tmp) / "coverage.csv"
            pd.DataFrame(coverage).to_csv(table, index=False)
            job.log_artifact(table)
    return IngestResult(data_hash, coverage, report.rows_not_stored(), committed)

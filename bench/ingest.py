"""Flat-file ingestion throughput: tradelab's one-pass ingestion vs the notebook approach.

Universe: 50 symbols x 60 sessions of 1-minute bars, written as Massive-style day files that
also hold `--filler` other tickers (real day files hold thousands). Baseline: the seed
notebook's loader (for each symbol, pandas `read_csv` of every day file, keep the symbol); it is
timed on `--baseline-symbols` symbols and scaled to 50 (its cost is linear in symbols: every
symbol re-reads every file). tradelab's figure includes staging every dataset and the
journaled commit that makes the ingest all-or-nothing. Run: `.venv/bin/python bench/ingest.py`.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from tradelab.data import (
    MarketSpec,
    ParquetStore,
    generate_market,
    ingest_flat_files,
    write_day_files,
)
from tradelab.data.flatfiles import MINUTE_KIND
from tradelab.data.synthetic import default_universe


def notebook_load(files: list[Path], symbol: str) -> pd.DataFrame:
    """The seed's approach: read every day file for one symbol."""
    parts = []
    for path in files:
        with gzip.open(path, "rt") as handle:
            df = pd.read_csv(handle)
        part = df[df["ticker"] == symbol].copy()
        if part.empty:
            continue
        part["datetime"] = pd.to_datetime(part["window_start"], unit="ns", utc=True)
        parts.append(part.set_index("datetime")[["open", "high", "low", "close", "volume"]])
    out = pd.concat(parts).sort_index()
    return out[~out.index.duplicated(keep="first")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--filler", type=int, default=150)
    parser.add_argument("--baseline-symbols", type=int, default=3)
    args = parser.parse_args()

    symbols = tuple(default_universe()[: args.symbols])
    spec = MarketSpec(
        seed=1,
        symbols=symbols,
        daily_years=args.days / 240 + 0.05,
        minute_days=args.days,
        filler_tickers=args.filler,
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        market = generate_market(spec)
        write_day_files(market.bars.daily.iloc[:0], market.bars.minute, root / "raw")
        gen_s = time.perf_counter() - t0
        files = sorted((root / "raw" / MINUTE_KIND).rglob("*.csv.gz"))
        total_rows = len(market.bars.minute)
        kept_rows = int(market.bars.minute["ticker"].isin(symbols).sum())
        print(
            f"universe: {len(symbols)} symbols + {args.filler} other tickers, "
            f"{len(files)} day files, {total_rows:,} rows in the files ({kept_rows:,} wanted); "
            f"generated in {gen_s:.1f}s"
        )

        store = ParquetStore(root / "store")
        t0 = time.perf_counter()
        summary = ingest_flat_files(
            store, root / "raw", f"{MINUTE_KIND}/**/*.csv.gz", "1min", symbols
        )
        ours_s = time.perf_counter() - t0
        assert summary.rows == kept_rows
        ours = kept_rows / ours_s
        print(
            "tradelab one-pass ingest (read + validate + staged write + commit): "
            f"{ours_s:.2f}s, {ours:,.0f} rows/s"
        )
        skipped = summary.report.rows_not_stored()
        assert skipped.get("outside universe", 0) == total_rows - kept_rows
        print(f"rows not stored, per reason: {skipped}")

        t0 = time.perf_counter()
        sample = symbols[: args.baseline_symbols]
        for s in sample:
            frame = notebook_load(files, s)
            assert len(frame) == len(store.read(s, "1min"))
        base_s = (time.perf_counter() - t0) * len(symbols) / len(sample)
        base = kept_rows / base_s
        print(
            "notebook approach (per-symbol read_csv of every file, timed on "
            f"{len(sample)} symbols, scaled to {len(symbols)}): {base_s:.1f}s, {base:,.0f} rows/s"
        )
        print(f"ratio: {ours / base:.1f}x")
        rerun_t0 = time.perf_counter()
        again = ingest_flat_files(
            store, root / "raw", f"{MINUTE_KIND}/**/*.csv.gz", "1min", symbols
        )
        print(
            f"incremental rerun (nothing new): {time.perf_counter() - rerun_t0:.2f}s, "
            f"{again.files_read} files read"
        )
        shutil.rmtree(root / "store")


if __name__ == "__main__":
    main()

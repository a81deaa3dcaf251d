from __future__ import annotations

import gzip

from tradelab.data import ingest_flat_files
from tradelab.data.flatfiles import DAY_KIND, MINUTE_KIND


def test_rerun_skips_ingested_days_and_reads_only_new_ones(raw_dir, store) -> None:
    files = sorted((raw_dir / MINUTE_KIND).rglob("*.csv.gz"))
    held_back = files[-1].read_bytes()
    files[-1].unlink()
    first = ingest_flat_files(store, raw_dir, f"{MINUTE_KIND}/**/*.csv.gz", "1min", ["SPY", "RIOT"])
    assert first.files_read == 2 and first.rows == 2 * 2 * 390
    again = ingest_flat_files(store, raw_dir, f"{MINUTE_KIND}/**/*.csv.gz", "1min", ["SPY", "RIOT"])
    assert again.files_read == 0 and again.files_skipped == 2 and again.rows == 0
    files[-1].write_bytes(held_back)
    third = ingest_flat_files(store, raw_dir, f"{MINUTE_KIND}/**/*.csv.gz", "1min", ["SPY", "RIOT"])
    assert third.files_read == 1 and third.files_skipped == 2
    assert len(store.read("SPY", "1min")) == 3 * 390
    meta = store.meta("SPY", "1min")
    assert meta.coverage_start == files[0].name[:10] and meta.coverage_end == files[-1].name[:10]


def test_changed_day_file_replaces_its_session(raw_dir, store) -> None:
    ingest_flat_files(store, raw_dir, f"{DAY_KIND}/**/*.csv.gz", "1day", ["SPY"])
    last = sorted((raw_dir / DAY_KIND).rglob("*.csv.gz"))[-1]
    lines = gzip.decompress(last.read_bytes()).decode().splitlines(keepends=True)
    lines = [
        line.replace(line.split(",")[1], "12345", 1) if line.startswith("SPY,") else line
        for line in lines
    ]
    last.write_bytes(gzip.compress("".join(lines).encode()))
    summary = ingest_flat_files(store, raw_dir, f"{DAY_KIND}/**/*.csv.gz", "1day", ["SPY"])
    assert summary.files_read == 1
    assert store.read("SPY", "1day")["volume"].iloc[-1] == 12345.0

from __future__ import annotations

import json
import os
from datetime import date

import pandas as pd
import pytest

from tradelab.data import ParquetStore, SyntheticFetcher
from tradelab.data.synthetic import MarketSpec
from tradelab.errors import DataError, DataValidationError

from .conftest import SMALL, snapshot


class CountingFetcher(SyntheticFetcher):
    def __init__(self, spec):
        super().__init__(spec)
        self.calls: list[tuple[str, str, date, date]] = []

    def fetch(self, symbol, timeframe, start, end):
        self.calls.append((symbol, timeframe, start, end))
        return super().fetch(symbol, timeframe, start, end)


@pytest.fixture
def fetcher() -> CountingFetcher:
    return CountingFetcher(SMALL)


def test_full_miss_then_hit_then_partial_miss(tmp_path, fetcher) -> None:
    store = ParquetStore(tmp_path, fetcher)
    mid = store.get("SPY", "1day", "2025-06-02", "2025-12-31")
    assert fetcher.calls == [("SPY", "1day", date(2025, 6, 2), date(2025, 12, 31))]
    again = store.get("SPY", "1day", "2025-07-01", "2025-09-30")
    assert len(fetcher.calls) == 1  # cache hit
    assert len(again) < len(mid)
    wide = store.get("SPY", "1day", "2025-01-02", "2026-03-31")
    assert fetcher.calls[1:] == [
        ("SPY", "1day", date(2025, 1, 2), date(2025, 6, 1)),
        ("SPY", "1day", date(2026, 1, 1), date(2026, 3, 31)),
    ]
    direct = fetcher.fetch("SPY", "1day", date(2025, 1, 2), date(2026, 3, 31))
    pd.testing.assert_frame_equal(wide, direct)
    meta = store.meta("SPY", "1day")
    assert (meta.coverage_start, meta.coverage_end) == ("2025-01-02", "2026-03-31")
    on_disk = json.loads(store.meta_path("SPY", "1day").read_text())
    assert on_disk["content_hash"] == meta.content_hash and on_disk["rows"] == len(wide)


def test_offline_never_fetches(tmp_path, fetcher) -> None:
    ParquetStore(tmp_path, fetcher).get("SPY", "1day", "2025-06-02", "2025-06-30")
    offline = ParquetStore(tmp_path, fetcher, offline=True)
    calls = len(fetcher.calls)
    part = offline.get("SPY", "1day", "2025-05-01", "2025-07-31")
    assert len(fetcher.calls) == calls
    assert part["timestamp"].min() >= pd.Timestamp("2025-06-02", tz="America/New_York")
    with pytest.raises(DataError, match="offline"):
        offline.get("QQQ", "1day", "2025-06-02", "2025-06-30")


def test_derived_timeframe_is_rebuilt_only_when_its_base_changes(tmp_path, fetcher) -> None:
    store = ParquetStore(tmp_path, fetcher)
    five = store.get("RIOT", "5min")
    assert len(five) == SMALL.minute_days * 78
    meta = store.meta("RIOT", "5min")
    assert store.derive("RIOT", "5min") == meta  # up to date: untouched
    assert meta.derived_from == store.meta("RIOT", "1min").content_hash


def test_failed_write_leaves_the_old_file(tmp_path, fetcher, monkeypatch) -> None:
    store = ParquetStore(tmp_path, fetcher)
    store.get("SPY", "1day", "2025-06-02", "2025-06-30")
    before = snapshot(tmp_path)

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        store.get("SPY", "1day", "2025-06-02", "2025-08-29")
    monkeypatch.undo()
    assert snapshot(tmp_path) == before
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_invalid_frame_never_enters(tmp_path) -> None:
    store = ParquetStore(tmp_path)
    bad = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2025-01-02", "2025-01-03"], utc=True),
            "open": [1.0, 2.0],
            "high": [1.0, 1.5],
            "low": [1.0, 1.0],
            "close": [1.0, 2.0],
            "volume": [1.0, 1.0],
        }
    )
    with pytest.raises(DataValidationError, match="row 2"):
        store.write("ABC", "1day", bad, source="test")
    assert snapshot(tmp_path) == {}


def test_content_hash_tracks_content(tmp_path, fetcher) -> None:
    store = ParquetStore(tmp_path, fetcher)
    store.get("SPY", "1day", "2025-06-02", "2025-06-30")
    h1 = store.content_hash()
    store.get("SPY", "1day", "2025-06-02", "2025-07-31")
    assert store.content_hash() != h1
    other = ParquetStore(
        tmp_path / "b",
        CountingFetcher(MarketSpec(seed=12, symbols=SMALL.symbols, daily_years=2, minute_days=3)),
    )
    other.get("SPY", "1day", "2025-06-02", "2025-07-31")
    assert other.content_hash() != store.content_hash()


def test_a_store_file_from_an_older_version_with_its_write_time_still_reads(
    tmp_path, fetcher
) -> None:
    import pyarrow.parquet as pq

    store = ParquetStore(tmp_path, fetcher)
    store.get("SPY", "1day", "2025-06-02", "2025-06-30")
    path = store.source_path("SPY", "1day")
    table = pq.read_table(path)
    (key,) = [k for k in table.schema.metadata if b"tradelab" in k]
    fields = {**json.loads(table.schema.metadata[key]), "updated": "2026-01-05T10:00:00+00:00"}
    pq.write_table(table.replace_schema_metadata({key: json.dumps(fields).encode()}), path)

    meta = store.meta("SPY", "1day")
    assert meta is not None and meta.symbol == "SPY" and meta.rows == len(store.read("SPY", "1day"))

"""The store tells the truth: coverage is a set of ranges, gaps are misses, and datasets of
different synthetic markets never merge."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tradelab.data import (
    FlatFileFetcher,
    ParquetStore,
    StoreMeta,
    SyntheticFetcher,
    generate_market,
    ingest_flat_files,
    write_day_files,
)
from tradelab.data.coverage import merge_ranges, missing_ranges, ranges_of_days
from tradelab.data.flatfiles import DAY_KIND
from tradelab.data.synthetic import MarketSpec, SyntheticMarket
from tradelab.errors import DataError

from .conftest import SMALL, snapshot

D = date.fromisoformat
DAY_GLOB = f"{DAY_KIND}/**/*.csv.gz"


def _ws_days(frame: pd.DataFrame) -> pd.Series:
    ws = pd.to_datetime(frame["window_start"], unit="ns", utc=True)
    return ws.dt.tz_convert("America/New_York").dt.date


def _raw_period(market: SyntheticMarket, root: Path, start: str, end: str) -> Path:
    """Write the day files of `start`..`end` only (a separate flat-file folder)."""
    daily = market.bars.daily
    days = _ws_days(daily)
    part = daily.loc[((days >= D(start)) & (days <= D(end))).to_numpy()].reset_index(drop=True)
    write_day_files(part, market.bars.minute.iloc[:0], root)
    return root


@pytest.fixture
def two_periods(tmp_path: Path, small_market: SyntheticMarket) -> ParquetStore:
    """A store that ingested Jan-Feb 2025 and, separately, May-Jun 2025 day files."""
    store = ParquetStore(tmp_path / "store")
    for name, start, end in (("a", "2025-01-02", "2025-02-28"), ("b", "2025-05-01", "2025-06-30")):
        root = _raw_period(small_market, tmp_path / name, start, end)
        ingest_flat_files(store, root, DAY_GLOB, "1day", ["SPY"])
    return store


def test_range_arithmetic_counts_only_sessions() -> None:
    # Friday and the Monday after are one range; a weekend is never missing
    assert merge_ranges(
        [(D("2025-01-10"), D("2025-01-10")), (D("2025-01-13"), D("2025-01-14"))]
    ) == [(D("2025-01-10"), D("2025-01-14"))]
    # Thursday 2025-01-09 (Carter mourning) is no session: Wednesday and Friday join
    assert ranges_of_days([D("2025-01-08"), D("2025-01-10")]) == [
        (D("2025-01-08"), D("2025-01-10"))
    ]
    assert ranges_of_days([D("2025-01-07"), D("2025-01-10")]) == [
        (D("2025-01-07"), D("2025-01-07")),
        (D("2025-01-10"), D("2025-01-10")),
    ]
    have = [(D("2025-01-02"), D("2025-01-31")), (D("2025-03-03"), D("2025-03-31"))]
    assert missing_ranges(have, D("2025-01-15"), D("2025-03-10")) == [
        (D("2025-02-01"), D("2025-03-02"))
    ]
    assert missing_ranges(have, D("2025-02-01"), D("2025-02-02")) == []  # a weekend
    assert missing_ranges(have, D("2025-03-15"), D("2025-04-02")) == [
        (D("2025-04-01"), D("2025-04-02"))
    ]


def test_two_disjoint_ingests_leave_the_gap_uncovered(two_periods: ParquetStore) -> None:
    meta = two_periods.meta("SPY", "1day")
    assert meta.ranges == (("2025-01-02", "2025-02-28"), ("2025-05-01", "2025-06-30"))
    assert not meta.covers(D("2025-03-03"), D("2025-03-31"))
    assert meta.covers(D("2025-01-06"), D("2025-02-14")) and meta.covers(
        D("2025-05-01"), D("2025-06-30")
    )
    assert meta.missing(D("2025-02-03"), D("2025-05-09")) == [(D("2025-03-01"), D("2025-04-30"))]
    on_disk = json.loads(two_periods.meta_path("SPY", "1day").read_text())
    assert on_disk["ranges"] == [["2025-01-02", "2025-02-28"], ["2025-05-01", "2025-06-30"]]


def test_request_inside_the_gap_without_a_fetcher_names_the_missing_range(
    two_periods: ParquetStore,
) -> None:
    with pytest.raises(DataError) as info:
        two_periods.get("SPY", "1day", "2025-03-03", "2025-03-31")
    message = str(info.value)
    assert "SPY 1day" in message and "2025-03-03..2025-03-31" in message
    assert info.value.file == str(two_periods.dataset_path("SPY", "1day"))


def test_request_across_the_gap_without_a_fetcher_refuses_a_hole(
    two_periods: ParquetStore,
) -> None:
    with pytest.raises(DataError, match=r"2025-03-01\.\.2025-04-30"):
        two_periods.get("SPY", "1day", "2025-02-03", "2025-05-09")
    with pytest.raises(DataError, match=r"2025-03-01\.\.2025-04-30"):
        two_periods.get("SPY", "1day")  # everything: the hole is still a hole
    served = two_periods.get("SPY", "1day", "2025-05-01", "2025-07-31")  # an edge: served
    assert served["timestamp"].max() < pd.Timestamp("2025-07-01", tz="America/New_York")


def test_request_inside_the_gap_is_fetched(
    tmp_path: Path, two_periods: ParquetStore, small_market: SyntheticMarket
) -> None:
    full = _raw_period(small_market, tmp_path / "full", "2024-01-01", "2026-12-31")
    fetcher = FlatFileFetcher(full, minute_glob=None, day_glob=DAY_GLOB)
    store = ParquetStore(two_periods.root, fetcher)
    got = store.get("SPY", "1day", "2025-03-03", "2025-03-31")
    assert len(got) == 21  # the sessions of March 2025
    pd.testing.assert_frame_equal(
        got, fetcher.fetch("SPY", "1day", D("2025-03-03"), D("2025-03-31"))
    )
    # Friday 2025-02-28 and Monday 2025-03-03 are adjacent sessions: one range
    assert store.meta("SPY", "1day").ranges == (
        ("2025-01-02", "2025-03-31"),
        ("2025-05-01", "2025-06-30"),
    )


def test_disjoint_fetches_fetch_only_what_was_asked(tmp_path: Path) -> None:
    calls = []

    class Counting(SyntheticFetcher):
        def fetch(self, symbol, timeframe, start, end):
            calls.append((start, end))
            return super().fetch(symbol, timeframe, start, end)

    store = ParquetStore(tmp_path, Counting(SMALL))
    store.get("SPY", "1day", "2025-01-02", "2025-01-31")
    store.get("SPY", "1day", "2025-06-02", "2025-06-30")
    assert calls == [(D("2025-01-02"), D("2025-01-31")), (D("2025-06-02"), D("2025-06-30"))]
    assert len(store.meta("SPY", "1day").ranges) == 2
    store.get("SPY", "1day", "2025-03-03", "2025-03-07")
    assert calls[-1] == (D("2025-03-03"), D("2025-03-07"))


def test_a_meta_without_ranges_is_one_range(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path, SyntheticFetcher(SMALL))
    store.get("SPY", "1day", "2025-06-02", "2025-06-30")
    path = store.dataset_path("SPY", "1day")
    table = pq.read_table(path)
    legacy = json.loads(table.schema.metadata[b"tradelab.meta"])
    for key in ("ranges", "market"):
        legacy.pop(key)
    table = table.replace_schema_metadata(
        {**table.schema.metadata, b"tradelab.meta": json.dumps(legacy).encode()}
    )
    pq.write_table(table, path)
    old = ParquetStore(tmp_path, offline=True)
    meta = old.meta("SPY", "1day")
    assert meta.ranges == (("2025-06-02", "2025-06-30"),) and meta.market is None
    assert len(old.get("SPY", "1day", "2025-06-09", "2025-06-13")) == 5
    assert StoreMeta(**legacy).covers(D("2025-06-02"), D("2025-06-30"))


def test_another_synthetic_market_never_merges(tmp_path: Path, small_market) -> None:
    raw = tmp_path / "raw"
    write_day_files(small_market.bars.daily, small_market.bars.minute, raw)
    store = ParquetStore(tmp_path / "store")
    mine = SMALL.identity()
    ingest_flat_files(store, raw, DAY_GLOB, "1day", ["SPY"], market=mine)
    assert store.meta("SPY", "1day").market == mine
    planted_spec = MarketSpec(**{**SMALL.to_dict(), "mode": "planted", "symbols": SMALL.symbols})
    planted = generate_market(planted_spec)
    write_day_files(planted.bars.daily, planted.bars.minute, raw)  # the raw folder is rewritten
    before = snapshot(store.root)
    with pytest.raises(DataError) as info:
        ingest_flat_files(store, raw, DAY_GLOB, "1day", ["SPY"], market=planted_spec.identity())
    message = str(info.value)
    assert "data.mode=planted" in message and "data.mode=market" in message
    assert "data.seed=11" in message and "replace=true" in message
    assert snapshot(store.root) == before
    with pytest.raises(DataError, match="not a synthetic market"):
        store.merge("SPY", "1day", store.read("SPY", "1day"), source="csv:x.csv")
    store.require_market(["SPY", "QQQ"], mine)
    assert snapshot(store.root) == before


def test_a_fetcher_of_another_market_is_refused(tmp_path: Path) -> None:
    ParquetStore(tmp_path, SyntheticFetcher(SMALL)).get("SPY", "1day", "2025-06-02", "2025-06-30")
    other = MarketSpec(**{**SMALL.to_dict(), "seed": 12, "symbols": SMALL.symbols})
    store = ParquetStore(tmp_path, SyntheticFetcher(other))
    assert len(store.get("SPY", "1day", "2025-06-09", "2025-06-13")) == 5  # a hit: nothing new
    with pytest.raises(DataError, match=r"data\.seed=12.*data\.seed=11"):
        store.get("SPY", "1day", "2025-06-02", "2025-07-31")


def test_derived_datasets_keep_the_market_and_the_ranges(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path, SyntheticFetcher(SMALL))
    store.get("RIOT", "5min")
    base, five = store.meta("RIOT", "1min"), store.meta("RIOT", "5min")
    assert five.market == base.market == SMALL.identity()
    assert five.ranges == base.ranges

"""generate -> write flat files -> ingest -> get -> resample gives the generator's bars exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradelab.data import ingest_flat_files, resample_bars
from tradelab.data.fetchers import flat_to_bars
from tradelab.data.flatfiles import DAY_KIND, MINUTE_KIND


def _expected(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    return flat_to_bars(frame.loc[frame["ticker"] == symbol]).reset_index(drop=True)


def test_round_trip_is_exact(raw_dir, store, small_market) -> None:
    symbols = ["SPY", "TQQQ", "RIOT"]
    ingest_flat_files(store, raw_dir, f"{MINUTE_KIND}/**/*.csv.gz", "1min", symbols)
    ingest_flat_files(store, raw_dir, f"{DAY_KIND}/**/*.csv.gz", "1day", symbols)
    for symbol in symbols:
        minute = store.get(symbol, "1min")
        daily = store.get(symbol, "1day")
        pd.testing.assert_frame_equal(minute, _expected(small_market.bars.minute, symbol))
        pd.testing.assert_frame_equal(daily, _expected(small_market.bars.daily, symbol))
        # the minute days' daily bars are exactly the aggregation of their minutes
        from_minutes = resample_bars(minute, "1day")
        tail = daily.iloc[-len(from_minutes) :].reset_index(drop=True)
        pd.testing.assert_frame_equal(from_minutes, tail)
        five = store.get(symbol, "5min")
        assert len(five) == 3 * 78
        assert np.isclose(five["volume"].sum(), minute["volume"].sum())

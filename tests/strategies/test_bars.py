"""Bar helpers: aggregation to N minutes, bars per year, period ends, the small-cap filter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradelab.errors import DataValidationError
from tradelab.strategies.bars import (
    aggregate_bars,
    bar_minutes,
    bars_per_year,
    filter_universe,
    period_ends,
)


def _minutes(n: int = 30, start: str = "2026-10-01 13:30") -> pd.DataFrame:
    times = pd.date_range(start, periods=n, freq="1min", tz="UTC")
    close = np.arange(n, dtype=float) + 10.0
    return pd.DataFrame(
        {
            "timestamp": times,
            "open": close - 0.5,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": np.ones(n),
        }
    )


def test_aggregate_to_five_minutes() -> None:
    bars = _minutes().drop(index=[10, 11, 12, 13, 14])  # one 5-minute bin has no bars
    out = aggregate_bars(bars, 5)
    assert len(out) == 5
    first = out.iloc[0]
    assert first["open"] == 9.5 and first["close"] == 14.0
    assert first["high"] == 15.0 and first["low"] == 9.0 and first["volume"] == 5.0
    assert bar_minutes(pd.DatetimeIndex(out["timestamp"])) == 5.0


def test_bars_per_year_from_the_bar_size() -> None:
    assert bars_per_year(5) == pytest.approx(252 * 78)
    assert bars_per_year(1) == pytest.approx(252 * 390)
    assert bars_per_year(15, session_minutes=390, trading_days=252) == pytest.approx(252 * 26)
    assert bars_per_year(1440) == pytest.approx(252)
    with pytest.raises(ValueError, match="minutes"):
        bars_per_year(0)


def test_period_ends_mark_last_bar_of_each_day() -> None:
    times = pd.DatetimeIndex(
        ["2026-10-01 14:00", "2026-10-01 19:55", "2026-10-02 13:30", "2026-10-02 20:00"], tz="UTC"
    )
    assert list(period_ends(times)) == [False, True, False, True]
    daily = pd.bdate_range("2026-01-01", periods=4, tz="UTC")
    assert period_ends(daily).all()


def test_small_cap_filter_sorts_by_price() -> None:
    frames = {"RIOT": _minutes(150), "SPY": _minutes(150).assign(close=450.0), "NEW": _minutes(20)}
    kept = filter_universe(frames, max_last_price=200.0, min_bars=100)
    assert kept == [("RIOT", 159.0)]
    assert [s for s, _ in filter_universe(frames, None, 100)] == ["RIOT", "SPY"]


def test_bad_bars() -> None:
    with pytest.raises(DataValidationError, match="timestamp"):
        bar_minutes(pd.DatetimeIndex(["2026-01-01"]))
    with pytest.raises(DataValidationError):
        aggregate_bars(_minutes().drop(columns=["volume"]), 5)

"""Forecasts are stamped on the next trading sessions after the last bar: weekends and NYSE
holidays skipped, the bars' time of day (New York) kept, intraday bars inside the sessions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradelab.promotion import family_forecast

NY = "America/New_York"


def _ny(*stamps: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(s, tz=NY).tz_convert("UTC") for s in stamps]


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        # Thursday 2026-07-02: Friday 07-03 is Independence Day observed, then the weekend
        ("2026-07-01", ["2026-07-02", "2026-07-06", "2026-07-07"]),
        ("2026-07-02", ["2026-07-06", "2026-07-07", "2026-07-08"]),
        # Thanksgiving (11-26) and a weekend
        ("2026-11-25", ["2026-11-27", "2026-11-30", "2026-12-01"]),
        # Christmas (Friday 12-25), New Year's Day (Friday 2027-01-01)
        ("2026-12-24", ["2026-12-28", "2026-12-29", "2026-12-30"]),
        ("2026-12-31", ["2027-01-04", "2027-01-05", "2027-01-06"]),
        # Good Friday 2026-04-03
        ("2026-04-02", ["2026-04-06", "2026-04-07", "2026-04-08"]),
    ],
)
def test_daily_forecasts_fall_on_the_next_sessions(last: str, expected: list[str]) -> None:
    got = family_forecast.future_times(_ny(last)[0], 3)
    assert list(got) == _ny(*expected)


def test_daily_bars_keep_their_new_york_time_of_day_across_a_clock_change() -> None:
    last = pd.Timestamp("2026-03-06 16:00", tz=NY).tz_convert("UTC")  # Friday, EST (21:00 UTC)
    got = family_forecast.future_times(last, 2)
    assert list(got) == _ny("2026-03-09 16:00", "2026-03-10 16:00")  # EDT: 20:00 UTC
    assert [t.hour for t in got] == [20, 20]


def test_intraday_forecasts_continue_in_the_next_session() -> None:
    last = pd.Timestamp("2026-07-02 15:50", tz=NY).tz_convert("UTC")
    got = family_forecast.future_times(last, 3, "5min")
    assert list(got) == _ny("2026-07-02 15:55", "2026-07-06 09:30", "2026-07-06 09:35")


def _baseline_config(horizon: int) -> dict[str, Any]:
    study = {"horizon": horizon, "seed": 7, "timeframe": "1day", "baselines": {}}
    return {"symbol": "SPY", "name": "drift", "kind": "baseline", "params": {}, "study": study}


def test_predict_stamps_the_forecast_on_the_next_sessions() -> None:
    config = _baseline_config(3)
    days = pd.bdate_range(end="2026-07-02", periods=60).tz_localize(NY)  # ends on a Thursday
    close = 100.0 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, len(days))))
    bars = pd.DataFrame({"timestamp": days.tz_convert("UTC"), "close": close})
    out = family_forecast.predict_forecast(config, bars)
    assert list(out["timestamp"]) == _ny("2026-07-06", "2026-07-07", "2026-07-08")
    assert list(out["step"]) == [1, 2, 3]


def test_intraday_forecasts_stop_at_an_early_close() -> None:
    """2024-11-29 closes at 13:00: the bars after 12:50 are 12:55, then Monday's open."""
    got = family_forecast.future_times(_ny("2024-11-29 12:50")[0], 3, "5min")
    assert list(got) == _ny("2024-11-29 12:55", "2024-12-02 09:30", "2024-12-02 09:35")


def test_daily_forecasts_skip_special_closures() -> None:
    """2025-01-09 (national day of mourning) is no session."""
    got = family_forecast.future_times(_ny("2025-01-08")[0], 2)
    assert list(got) == _ny("2025-01-10", "2025-01-13")

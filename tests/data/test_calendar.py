"""The NYSE calendar (exchange_calendars XNYS): special closures, early closes, next sessions,
and the synthetic market and resampling that follow it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tradelab.data import MarketSpec, generate_market, resample_bars
from tradelab.data.calendar import (
    last_complete_session,
    minute_starts,
    next_sessions,
    session_hours,
    sessions,
)

NY = "America/New_York"


def _in(day: str) -> bool:
    return pd.Timestamp(day) in sessions(day, day)


@pytest.mark.parametrize(
    "day",
    [
        "2001-09-11",  # the attacks: closed four days
        "2001-09-12",
        "2001-09-13",
        "2001-09-14",
        "2012-10-29",  # Hurricane Sandy
        "2012-10-30",
        "2018-12-05",  # national day of mourning, President Bush
        "2025-01-09",  # national day of mourning, President Carter
        "2024-11-28",  # Thanksgiving
        "2026-11-26",
    ],
)
def test_special_closures_and_holidays_are_not_sessions(day: str) -> None:
    assert not _in(day)


def test_the_days_around_the_closures_are_sessions() -> None:
    assert _in("2001-09-10") and _in("2001-09-17")
    assert _in("2018-12-04") and _in("2018-12-06")
    assert list(sessions("2001-09-07", "2001-09-18").strftime("%m-%d")) == [
        "09-07",
        "09-10",
        "09-17",
        "09-18",
    ]


def test_sessions_outside_the_default_span_are_computed() -> None:
    old = sessions("1968-12-20", "1968-12-31")  # Christmas on a Wednesday
    assert list(old.strftime("%d")) == ["20", "23", "24", "26", "27", "30", "31"]
    late = sessions("2061-12-20", "2061-12-31")  # Christmas on a Sunday, observed Monday
    assert list(late.strftime("%d")) == ["20", "21", "22", "23", "27", "28", "29", "30"]


def test_early_close_has_210_minutes_and_ends_at_13_00() -> None:
    stamps = pd.to_datetime(minute_starts(pd.Timestamp("2024-11-29")), utc=True).tz_convert(NY)
    assert len(stamps) == 210
    assert str(stamps[0].time()) == "09:30:00" and str(stamps[-1].time()) == "12:59:00"
    assert len(minute_starts(pd.Timestamp("2024-11-27"))) == 390
    opens, closes = session_hours(pd.DatetimeIndex(["2024-11-29", "2024-12-24", "2024-11-28"]))
    assert opens.tolist() == [570, 570, -1] and closes.tolist() == [780, 780, -1]
    with pytest.raises(ValueError, match="2024-11-28"):
        minute_starts(pd.Timestamp("2024-11-28"))


def test_next_sessions_skip_weekends_holidays_and_closures() -> None:
    got = next_sessions(pd.Timestamp("2024-12-20"), 5)  # a Friday; Christmas on Wednesday
    assert list(got.strftime("%Y-%m-%d")) == [
        "2024-12-23",
        "2024-12-24",
        "2024-12-26",
        "2024-12-27",
        "2024-12-30",
    ]
    assert list(next_sessions(pd.Timestamp("2025-01-08"), 2).strftime("%m-%d")) == [
        "01-10",
        "01-13",
    ]
    assert got.tz is None and (got == got.normalize()).all()


def test_next_sessions_of_an_aware_time_count_from_its_new_york_date() -> None:
    # 2024-12-31 21:00 UTC is 16:00 in New York; the next session is after New Year's Day
    after = pd.Timestamp("2024-12-31 21:00", tz="UTC")
    assert next_sessions(after, 1)[0] == pd.Timestamp("2025-01-02")
    # 2025-01-03 03:00 UTC is still 2025-01-02 in New York
    assert next_sessions(pd.Timestamp("2025-01-03 03:00", tz="UTC"), 1)[0] == pd.Timestamp(
        "2025-01-03"
    )


def test_next_sessions_many_and_none() -> None:
    many = next_sessions(pd.Timestamp("2039-06-01"), 600)  # runs past the cached span
    assert len(many) == 600 and many.is_monotonic_increasing and many.is_unique
    assert (many.day_of_week < 5).all() and many[0] > pd.Timestamp("2039-06-01")
    assert many.equals(sessions(many[0], many[-1]))
    assert len(next_sessions(pd.Timestamp("2025-01-08"), 0)) == 0
    with pytest.raises(ValueError, match="n must be"):
        next_sessions(pd.Timestamp("2025-01-08"), -1)


def test_the_calendar_needs_no_network() -> None:
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from tradelab.data.calendar import sessions\n"
        "assert len(sessions('1980-01-01', '2070-12-31')) > 20000\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_synthetic_market_follows_the_calendar_with_early_closes() -> None:
    spec = MarketSpec(
        seed=3, symbols=("SPY", "RIOT"), end="2024-12-02", daily_years=1, minute_days=3
    )
    market = generate_market(spec)
    days = market.sessions.tz_localize("UTC").tz_convert(NY).tz_localize(None)
    assert pd.Timestamp("2024-11-28") not in days and pd.Timestamp("2024-11-29") in days
    minute = market.bars.minute
    for symbol in ("SPY", "RIOT"):
        bars = minute.loc[minute["ticker"] == symbol]
        local = pd.to_datetime(bars["window_start"], unit="ns", utc=True).dt.tz_convert(NY)
        per_day = bars.groupby(local.dt.date.to_numpy()).size()
        assert per_day.tolist() == [390, 210, 390]
        short = bars.loc[(local.dt.date == pd.Timestamp("2024-11-29").date()).to_numpy()]
        assert local.loc[short.index].max().strftime("%H:%M") == "12:59"
        daily = market.bars.daily
        day = daily.loc[
            (daily["ticker"] == symbol)
            & (daily["window_start"] == pd.Timestamp("2024-11-29", tz=NY).value)
        ].iloc[0]
        assert day["close"] == short["close"].iloc[-1] and day["open"] == short["open"].iloc[0]
        assert day["high"] == short["high"].max() and day["low"] == short["low"].min()
        assert day["volume"] == short["volume"].sum()


def test_long_synthetic_history_skips_the_special_closures() -> None:
    market = generate_market(MarketSpec(seed=1, symbols=("SPY",), daily_years=26, minute_days=0))
    days = set(market.sessions.tz_localize("UTC").tz_convert(NY).strftime("%Y-%m-%d"))
    assert "2001-09-10" in days and "2001-09-17" in days
    assert not {"2001-09-11", "2001-09-14", "2012-10-29", "2018-12-05", "2025-01-09"} & days


def _minutes(day: str, count: int) -> pd.DataFrame:
    ts = pd.date_range(pd.Timestamp(f"{day} 09:30", tz=NY), periods=count, freq="1min")
    close = 100 + np.arange(count) * 0.01
    return pd.DataFrame(
        {
            "timestamp": ts.tz_convert("UTC").as_unit("ns"),
            "open": close,
            "high": close + 0.05,
            "low": close - 0.05,
            "close": close,
            "volume": np.ones(count),
            "transactions": np.ones(count, dtype=np.int64),
        }
    )


def test_regular_session_resampling_ends_early_closes_at_13_00() -> None:
    # a feed's 2024-11-29 bars run to 16:00; after 13:00 they are after-hours
    bars = pd.concat([_minutes("2024-11-27", 390), _minutes("2024-11-29", 390)])
    bars = bars.reset_index(drop=True)
    daily = resample_bars(bars, "1day")
    assert daily["volume"].tolist() == [390.0, 210.0]
    assert daily["close"].iloc[1] == bars["close"].iloc[390 + 209]
    five = resample_bars(bars, "5min")
    assert len(five) == 78 + 42
    assert len(resample_bars(bars, "1day", session="all")) == 2
    assert resample_bars(bars, "1day", session="all")["volume"].tolist() == [390.0, 390.0]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-12-07 14:00", "2026-12-04"),  # Monday morning: Friday is the last complete
        ("2026-12-07 21:30", "2026-12-04"),  # 16:30 New York: today's bar still settling
        ("2026-12-07 22:00", "2026-12-07"),  # an hour after the close
        ("2026-12-05 12:00", "2026-12-04"),  # Saturday
        ("2026-11-27 17:30", "2026-11-25"),  # early close at 13:00, Thanksgiving before it
        ("2026-11-27 19:00", "2026-11-27"),
        ("2026-12-25 20:00", "2026-12-24"),  # Christmas
    ],
)
def test_last_complete_session(now: str, expected: str) -> None:
    got = last_complete_session(pd.Timestamp(now, tz="UTC"))
    assert got == pd.Timestamp(expected)


def test_last_complete_session_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        last_complete_session(pd.Timestamp("2026-12-07 14:00"))

"""Resampling 1-minute bars to N-minute and daily bars.

Bins never cross a session: intraday bins are anchored at the session open (09:30
America/New_York for `session="regular"`, midnight for `session="all"`). `session="regular"`
also drops bars outside the NYSE regular hours of their day (09:30-16:00, 09:30-13:00 on an
early close; a date the exchange calendar has no session for keeps 09:30-16:00). Daily bars
group by the New York date and are stamped at its midnight. OHLCV rules: open first, high max,
low min, close last, volume and transactions summed; empty bins are dropped (no bar is
invented).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from tradelab.data.bars import EXCHANGE_TZ, empty_bars, timeframe_minutes, timestamps_ns
from tradelab.data.calendar import session_hours

__all__ = ["resample_bars"]

_NS_MIN = 60_000_000_000
_OPEN_MIN, _CLOSE_MIN = 9 * 60 + 30, 16 * 60


def resample_bars(
    bars: pd.DataFrame, timeframe: str, *, session: Literal["regular", "all"] = "regular"
) -> pd.DataFrame:
    """Aggregate canonical 1-minute `bars` into `timeframe` ('<N>min' or '1day')."""
    if len(bars) == 0:
        return empty_bars()
    minutes = timeframe_minutes(timeframe)
    ts = timestamps_ns(bars["timestamp"])
    local = bars["timestamp"].dt.tz_convert(EXCHANGE_TZ)
    local_midnight = local.dt.normalize()
    minute_of_day = ((timestamps_ns(local.dt.tz_localize(None)) // _NS_MIN) % 1440).astype(np.int64)
    keep = np.ones(len(bars), dtype=bool)
    if session == "regular":
        opens, closes = _regular_hours(local_midnight)
        keep = (minute_of_day >= opens) & (minute_of_day < closes)
    anchor = _OPEN_MIN if session == "regular" else 0

    if minutes is None:
        day_utc = timestamps_ns(local_midnight.dt.tz_convert("UTC"))
        key, label = day_utc, day_utc
    else:
        offset = (minute_of_day - anchor) % minutes
        label = ts - offset * _NS_MIN - (ts % _NS_MIN)
        key = label
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        return empty_bars()
    key = key[idx]
    starts = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
    if (np.diff(key) < 0).any():
        raise ValueError("bars must be sorted by timestamp before resampling")
    ends = np.r_[starts[1:], len(idx)]
    col = {
        c: bars[c].to_numpy()[idx]
        for c in ("open", "high", "low", "close", "volume", "transactions")
    }
    out = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(label[idx][starts], unit="ns", utc=True),
            "open": col["open"][starts],
            "high": np.maximum.reduceat(col["high"], starts),
            "low": np.minimum.reduceat(col["low"], starts),
            "close": col["close"][ends - 1],
            "volume": np.add.reduceat(col["volume"], starts),
            "transactions": np.add.reduceat(col["transactions"], starts).astype(np.int64),
        }
    )
    out["timestamp"] = out["timestamp"].astype("datetime64[ns, UTC]")
    return out


def _regular_hours(local_midnight: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return each bar's session open and close (minutes of the New York day)."""
    days, where = np.unique(timestamps_ns(local_midnight.dt.tz_localize(None)), return_inverse=True)
    opens, closes = session_hours(pd.DatetimeIndex(days.astype("datetime64[ns]")))
    unknown = opens < 0
    opens[unknown], closes[unknown] = _OPEN_MIN, _CLOSE_MIN
    return opens[where], closes[where]

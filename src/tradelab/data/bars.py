"""The canonical bar frame every part of tradelab reads.

Columns: timestamp (datetime64[ns, UTC], bar start), open, high, low, close, volume (float64),
transactions (int64, 0 when the source does not say). Daily bars are stamped at midnight
America/New_York of the session date, expressed in UTC. Rows are sorted and unique in time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "BAR_COLUMNS",
    "EXCHANGE_TZ",
    "PRICE_COLUMNS",
    "TIMEFRAMES",
    "empty_bars",
    "timeframe_minutes",
    "timestamps_ns",
]

EXCHANGE_TZ = "America/New_York"
PRICE_COLUMNS = ("open", "high", "low", "close")
BAR_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume", "transactions")
TIMEFRAMES = ("1min", "5min", "15min", "30min", "60min", "1day")


def timeframe_minutes(timeframe: str) -> int | None:
    """Return the bar length in minutes of an intraday timeframe, None for `1day`."""
    if timeframe == "1day":
        return None
    if timeframe.endswith("min") and timeframe[:-3].isdigit() and int(timeframe[:-3]) > 0:
        return int(timeframe[:-3])
    raise ValueError(f"unknown timeframe {timeframe!r}: use '<N>min' or '1day'")


def empty_bars() -> pd.DataFrame:
    """Return a canonical frame with no rows."""
    return pd.DataFrame(
        {
            "timestamp": pd.Series([], dtype="datetime64[ns, UTC]"),
            **{c: pd.Series([], dtype=np.float64) for c in (*PRICE_COLUMNS, "volume")},
            "transactions": pd.Series([], dtype=np.int64),
        }
    )


def timestamps_ns(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Return tz-aware timestamps as int64 nanoseconds since the epoch (UTC), without copies
    through Python objects."""
    array = values.array if isinstance(values, pd.Series) else values
    return np.asarray(array.as_unit("ns").asi8)

"""Bar helpers for the studies: timestamps, aggregation, bars per year, the small-cap filter."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from tradelab.errors import DataValidationError

__all__ = [
    "aggregate_bars",
    "bar_minutes",
    "bars_per_year",
    "filter_universe",
    "period_ends",
    "timestamps",
]

_OHLCV = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def timestamps(frame: pd.DataFrame | pd.Series) -> pd.DatetimeIndex:
    """Return a frame's bar times: its `timestamp` column, else its DatetimeIndex."""
    if isinstance(frame, pd.DataFrame) and "timestamp" in frame.columns:
        return pd.DatetimeIndex(frame["timestamp"])
    if isinstance(frame.index, pd.DatetimeIndex):
        return frame.index
    raise DataValidationError(
        "bars need a 'timestamp' column or a DatetimeIndex", field="timestamp"
    )


def bar_minutes(times: pd.DatetimeIndex) -> float:
    """Return the typical bar length in minutes (median spacing of `times`)."""
    if len(times) < 2:
        raise DataValidationError("need at least two bars to infer the bar size", field="timestamp")
    diffs = np.diff(times.as_unit("ns").asi8) / 6e10
    positive = diffs[diffs > 0]
    if positive.size == 0:
        raise DataValidationError("timestamps do not increase", field="timestamp")
    return float(np.median(positive))


def bars_per_year(
    minutes: float, session_minutes: float = 390.0, trading_days: float = 252.0
) -> float:
    """Return bars per year: trading_days * session_minutes / minutes for intraday bars,
    trading_days per day-long bar otherwise (daily bars: 252)."""
    if minutes <= 0:
        raise ValueError(f"bar minutes: must be > 0, got {minutes}")
    if minutes < session_minutes:
        return trading_days * session_minutes / minutes
    return trading_days * 1440.0 / max(minutes, 1440.0)


def aggregate_bars(frame: pd.DataFrame, minutes: int) -> pd.DataFrame:
    """Resample OHLCV bars to `minutes`-minute bars (seed 000: empty bins dropped)."""
    times = timestamps(frame)
    data = frame.drop(columns=["timestamp"], errors="ignore").set_axis(times, axis=0)
    missing = [c for c in _OHLCV if c not in data.columns]
    if missing:
        raise DataValidationError(f"bars lack columns {missing}", field=missing[0])
    out = data.resample(f"{int(minutes)}min").agg(_OHLCV).dropna(subset=["close"])
    return out.rename_axis("timestamp").reset_index()


def period_ends(times: pd.DatetimeIndex, tz: str | None = "America/New_York") -> np.ndarray:
    """Return a bool per bar: True on the last bar of each calendar day (in `tz`)."""
    if len(times) == 0:
        return np.zeros(0, dtype=bool)
    local = times.tz_convert(tz) if (tz and times.tz is not None) else times
    days = local.normalize().asi8
    out = np.ones(len(days), dtype=bool)
    out[:-1] = days[1:] != days[:-1]
    return out


def filter_universe(
    frames: Mapping[str, pd.DataFrame],
    max_last_price: float | None = 25.0,
    min_bars: int = 100,
) -> list[tuple[str, float]]:
    """Return (symbol, last close) of frames with enough bars and a low enough last close,
    cheapest first (seed 000's small-cap filter)."""
    kept = []
    for symbol, frame in frames.items():
        if frame is None or len(frame) < min_bars or "close" not in frame:
            continue
        last = float(frame["close"].iloc[-1])
        if max_last_price is None or last < max_last_price:
            kept.append((symbol, last))
    return sorted(kept, key=lambda item: item[1])

"""Daily and 1-minute OHLCV bars from simulated daily paths.

Daily bars: the open gaps from the previous close, high/low extend beyond the body by random
excursions scaled by the day's volatility, volume rises with the size of the move. The last
`minute_days` sessions also get their regular-session 1-minute bars (390 on a full session, 210
on an early close that ends at 13:00): a Brownian bridge from the open to the close with
U-shaped intraday volatility and volume over the session; their daily bars are exactly the
aggregation of those minutes. Prices are rounded to 4 decimals, volumes to whole shares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradelab.data.bars import EXCHANGE_TZ
from tradelab.data.calendar import minute_starts
from tradelab.data.synthetic.market import DailyPaths
from tradelab.data.synthetic.profiles import SymbolProfile, symbol_rng

__all__ = ["SyntheticBars", "build_bars"]

_MINUTES = 390  # the longest session; shorter ones use its first minutes
FLAT_COLUMNS = ["ticker", "volume", "open", "close", "high", "low", "window_start", "transactions"]


@dataclass(frozen=True)
class SyntheticBars:
    """Bars in the flat-file column layout (`FLAT_COLUMNS`), sorted by time then ticker."""

    daily: pd.DataFrame
    minute: pd.DataFrame


@dataclass(frozen=True)
class _MinuteGrid:
    """The minute sessions, padded to `_MINUTES` columns; `live` marks the real minutes.

    `vol_w` / `volume_w` (n_days, _MINUTES): each session's intraday variance and volume shares
    (U-shaped over its own length, summing to 1, zero past its close).
    """

    stamps: np.ndarray
    live: np.ndarray
    last: np.ndarray
    vol_w: np.ndarray
    volume_w: np.ndarray


def _u_shape(count: int, curvature: float) -> np.ndarray:
    u = np.linspace(-1.0, 1.0, count)
    weights = 1.0 + curvature * u**2
    return np.pad(weights / weights.sum(), (0, _MINUTES - count))


def _minute_grid(days: pd.DatetimeIndex) -> _MinuteGrid:
    starts = [minute_starts(day) for day in days]
    counts = np.array([len(s) for s in starts], dtype=np.int64)
    stamps = np.zeros((len(days), _MINUTES), dtype=np.int64)
    for i, s in enumerate(starts):
        stamps[i, : len(s)] = s
    return _MinuteGrid(
        stamps=stamps,
        live=np.arange(_MINUTES)[None, :] < counts[:, None],
        last=counts - 1,
        vol_w=np.stack([_u_shape(c, 1.5) for c in counts]).reshape(len(days), _MINUTES),
        volume_w=np.stack([_u_shape(c, 3.0) for c in counts]).reshape(len(days), _MINUTES),
    )


def _r4(x: np.ndarray) -> np.ndarray:
    return np.round(x, 4)


def _day_stamps(dates: pd.DatetimeIndex) -> np.ndarray:
    return dates.tz_localize(EXCHANGE_TZ).tz_convert("UTC").as_unit("ns").asi8


def _minute_bars(
    rng: np.random.Generator,
    grid: _MinuteGrid,
    day: dict[str, np.ndarray],
    trade_size: float,
    extra: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Simulate one symbol's minutes; `day` holds its open, close, sigma and volume per day.

    Returns the live minutes (flattened, time order) and the days' new close, high, low,
    volume and transactions.
    """
    rows = np.arange(len(grid.last))
    steps = rng.standard_normal(grid.live.shape) * np.sqrt(grid.vol_w)
    steps *= 0.9 * day["sigma"][:, None]
    target = np.log(day["close"] / day["open"])
    steps += grid.vol_w * (target - steps.sum(axis=1))[:, None]
    m_close = day["open"][:, None] * np.exp(np.cumsum(steps, axis=1))
    if extra is None:
        m_close[rows, grid.last] = day["close"]
    else:
        m_close *= np.exp(extra[:, :_MINUTES])
    m_close = _r4(m_close)
    m_open = np.concatenate([day["open"][:, None], m_close[:, :-1]], axis=1)
    excursion = 0.3 * day["sigma"][:, None] * np.sqrt(grid.vol_w)
    m_high = _r4(
        np.maximum(m_open, m_close) * np.exp(excursion * np.abs(rng.standard_normal(m_close.shape)))
    )
    m_low = _r4(
        np.minimum(m_open, m_close)
        * np.exp(-excursion * np.abs(rng.standard_normal(m_close.shape)))
    )
    m_vol = np.round(
        day["volume"][:, None] * grid.volume_w * np.exp(0.3 * rng.standard_normal(m_close.shape))
    )
    m_trans = np.where(m_vol > 0, np.maximum(1, np.round(m_vol / trade_size)), 0).astype(np.int64)
    live = grid.live
    return {
        "day_close": m_close[rows, grid.last],
        "day_high": np.where(live, m_high, -np.inf).max(axis=1),
        "day_low": np.where(live, m_low, np.inf).min(axis=1),
        "day_volume": np.where(live, m_vol, 0.0).sum(axis=1),
        "day_trans": np.where(live, m_trans, 0).sum(axis=1),
        "volume": m_vol[live],
        "open": m_open[live],
        "close": m_close[live],
        "high": m_high[live],
        "low": m_low[live],
        "window_start": grid.stamps[live],
        "transactions": m_trans[live],
    }


def _daily_bars(
    rng: np.random.Generator, close: np.ndarray, sig: np.ndarray, base_volume: float
) -> tuple[dict[str, np.ndarray], float]:
    """Return one symbol's daily open, close, high, low, volume, transactions and trade size."""
    n = len(close)
    prev = np.r_[close[0] * np.exp(-sig[0] * rng.standard_normal()), close[:-1]]
    opens = _r4(prev * np.exp(0.25 * sig * rng.standard_normal(n)))
    closes = _r4(close)
    body_hi, body_lo = np.maximum(opens, closes), np.minimum(opens, closes)
    highs = _r4(body_hi * np.exp(0.5 * sig * np.abs(rng.standard_normal(n))))
    lows = _r4(body_lo * np.exp(-0.5 * sig * np.abs(rng.standard_normal(n))))
    move = np.abs(np.log(closes / prev)) / np.maximum(sig, 1e-6)
    volume = np.round(base_volume * np.exp(0.35 * rng.standard_normal(n)) * (0.6 + 0.8 * move))
    trade_size = float(rng.uniform(60.0, 250.0))
    trans = np.maximum(1, np.round(volume / trade_size)).astype(np.int64)
    bars = {"open": opens, "close": closes, "high": highs, "low": lows, "volume": volume}
    return {**bars, "transactions": trans}, trade_size


def _combine(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame({c: [] for c in FLAT_COLUMNS})
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(["window_start", "ticker"], kind="stable").reset_index(drop=True)


def build_bars(
    paths: DailyPaths,
    profiles: list[SymbolProfile],
    seed: int,
    minute_days: int,
    intraday_extra: dict[str, np.ndarray] | None = None,
) -> SyntheticBars:
    """Turn daily paths into daily bars and 1-minute bars for the last `minute_days` sessions.

    `intraday_extra[symbol]` (minute_days, 390) is added to that symbol's 1-minute log path
    (a planted intraday component; an early close uses its first minutes); the day's close then
    follows the minutes.
    """
    n = len(paths.dates)
    minute_days = min(minute_days, n)
    d = slice(n - minute_days, n)
    grid = _minute_grid(paths.dates[d]) if minute_days else None
    day_ws = _day_stamps(paths.dates)
    daily_parts, minute_parts = [], []
    for j, prof in enumerate(profiles):
        rng = symbol_rng(seed, prof.symbol, stream=5)
        bars, trade_size = _daily_bars(rng, paths.close[:, j], paths.sigma[:, j], prof.base_volume)
        if grid is not None:
            day = {k: bars[k][d] for k in ("open", "close", "volume")}
            day["sigma"] = paths.sigma[d, j]
            extra = (intraday_extra or {}).get(prof.symbol)
            m = _minute_bars(symbol_rng(seed, prof.symbol, stream=6), grid, day, trade_size, extra)
            for key in ("close", "high", "low", "volume"):
                bars[key][d] = m.pop(f"day_{key}")
            bars["transactions"][d] = m.pop("day_trans")
            minute_parts.append(pd.DataFrame({"ticker": prof.symbol, **m}, columns=FLAT_COLUMNS))
        daily = {"ticker": prof.symbol, **bars, "window_start": day_ws}
        daily_parts.append(pd.DataFrame(daily, columns=FLAT_COLUMNS))
    return SyntheticBars(daily=_combine(daily_parts), minute=_combine(minute_parts))

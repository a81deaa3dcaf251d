"""Daily and 1-minute OHLCV bars from simulated daily paths.

Daily bars: the open gaps from the previous close, high/low extend beyond the body by random
excursions scaled by the day's volatility, volume rises with the size of the move. The last
`minute_days` sessions also get 390 regular-session 1-minute bars (a Brownian bridge from the
open to the close with U-shaped intraday volatility and volume); their daily bars are exactly the
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

_MINUTES = 390
_u = np.linspace(-1.0, 1.0, _MINUTES)
_VOL_WEIGHTS = (1.0 + 1.5 * _u**2) / (1.0 + 1.5 * _u**2).sum()  # intraday variance share
_VOLUME_WEIGHTS = (1.0 + 3.0 * _u**2) / (1.0 + 3.0 * _u**2).sum()  # intraday volume share
FLAT_COLUMNS = ["ticker", "volume", "open", "close", "high", "low", "window_start", "transactions"]


@dataclass(frozen=True)
class SyntheticBars:
    """Bars in the flat-file column layout (`FLAT_COLUMNS`), sorted by time then ticker."""

    daily: pd.DataFrame
    minute: pd.DataFrame


def _r4(x: np.ndarray) -> np.ndarray:
    return np.round(x, 4)


def _day_stamps(dates: pd.DatetimeIndex) -> np.ndarray:
    return dates.tz_localize(EXCHANGE_TZ).tz_convert("UTC").as_unit("ns").asi8


def build_bars(
    paths: DailyPaths,
    profiles: list[SymbolProfile],
    seed: int,
    minute_days: int,
    intraday_extra: dict[str, np.ndarray] | None = None,
) -> SyntheticBars:
    """Turn daily paths into daily bars and 1-minute bars for the last `minute_days` sessions.

    `intraday_extra[symbol]` (minute_days, 390) is added to that symbol's 1-minute log path
    (a planted intraday component); the day's close then follows the minutes.
    """
    n, _k = paths.close.shape
    minute_days = min(minute_days, n)
    first_minute_day = n - minute_days
    day_ws = _day_stamps(paths.dates)
    daily_parts, minute_parts = [], []
    for j, prof in enumerate(profiles):
        rng = symbol_rng(seed, prof.symbol, stream=5)
        close = paths.close[:, j]
        sig = paths.sigma[:, j]
        prev = np.r_[close[0] * np.exp(-sig[0] * rng.standard_normal()), close[:-1]]
        opens = _r4(prev * np.exp(0.25 * sig * rng.standard_normal(n)))
        closes = _r4(close)
        body_hi, body_lo = np.maximum(opens, closes), np.minimum(opens, closes)
        highs = _r4(body_hi * np.exp(0.5 * sig * np.abs(rng.standard_normal(n))))
        lows = _r4(body_lo * np.exp(-0.5 * sig * np.abs(rng.standard_normal(n))))
        move = np.abs(np.log(closes / prev)) / np.maximum(sig, 1e-6)
        volume = np.round(
            prof.base_volume * np.exp(0.35 * rng.standard_normal(n)) * (0.6 + 0.8 * move)
        )
        trade_size = rng.uniform(60.0, 250.0)
        trans = np.maximum(1, np.round(volume / trade_size)).astype(np.int64)

        if minute_days:
            mrng = symbol_rng(seed, prof.symbol, stream=6)
            d = slice(first_minute_day, n)
            o_day, c_day, s_day = opens[d], closes[d], sig[d]
            steps = mrng.standard_normal((minute_days, _MINUTES)) * np.sqrt(_VOL_WEIGHTS)
            steps *= 0.9 * s_day[:, None]
            target = np.log(c_day / o_day)
            steps += _VOL_WEIGHTS[None, :] * (target - steps.sum(axis=1))[:, None]
            m_close = o_day[:, None] * np.exp(np.cumsum(steps, axis=1))
            extra = (intraday_extra or {}).get(prof.symbol)
            if extra is None:
                m_close[:, -1] = c_day
            else:
                m_close *= np.exp(extra)
            m_close = _r4(m_close)
            closes[d] = m_close[:, -1]
            m_open = np.concatenate([o_day[:, None], m_close[:, :-1]], axis=1)
            excursion = 0.3 * s_day[:, None] * np.sqrt(_VOL_WEIGHTS)[None, :]
            m_high = _r4(
                np.maximum(m_open, m_close)
                * np.exp(excursion * np.abs(mrng.standard_normal(m_close.shape)))
            )
            m_low = _r4(
                np.minimum(m_open, m_close)
                * np.exp(-excursion * np.abs(mrng.standard_normal(m_close.shape)))
            )
            m_vol = np.round(
                volume[d, None]
                * _VOLUME_WEIGHTS[None, :]
                * np.exp(0.3 * mrng.standard_normal(m_close.shape))
            )
            m_trans = np.where(m_vol > 0, np.maximum(1, np.round(m_vol / trade_size)), 0).astype(
                np.int64
            )
            highs[d], lows[d] = m_high.max(axis=1), m_low.min(axis=1)
            volume[d], trans[d] = m_vol.sum(axis=1), m_trans.sum(axis=1)
            stamps = np.stack([minute_starts(day) for day in paths.dates[d]])
            minute_parts.append(
                pd.DataFrame(
                    {
                        "ticker": prof.symbol,
                        "volume": m_vol.ravel(),
                        "open": m_open.ravel(),
                        "close": m_close.ravel(),
                        "high": m_high.ravel(),
                        "low": m_low.ravel(),
                        "window_start": stamps.ravel(),
                        "transactions": m_trans.ravel(),
                    }
                )
            )
        daily_parts.append(
            pd.DataFrame(
                {
                    "ticker": prof.symbol,
                    "volume": volume,
                    "open": opens,
                    "close": closes,
                    "high": highs,
                    "low": lows,
                    "window_start": day_ws,
                    "transactions": trans,
                }
            )
        )

    def combine(parts: list[pd.DataFrame]) -> pd.DataFrame:
        if not parts:
            return pd.DataFrame({c: [] for c in FLAT_COLUMNS})
        frame = pd.concat(parts, ignore_index=True)
        return frame.sort_values(["window_start", "ticker"], kind="stable").reset_index(drop=True)

    return SyntheticBars(daily=combine(daily_parts), minute=combine(minute_parts))

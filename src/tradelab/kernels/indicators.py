"""Indicators of the ATR-D family, computed once per distinct parameter value.

Notation:
    n_bars      bars of one simulated window (a phase including its warmup)
    high, low, close : (n_bars,) float64
    periods     (k,) int64, one column per distinct parameter value (or pair of values)
    matrices    (n_bars, k) float64, time-major: the k values of one bar are contiguous, which
                is how the strategy kernels read them (bar outer, combinations inner)

Windowed values are exact window sums (no running sums), summed oldest to newest, so the
plain-Python reference simulator reproduces them bit for bit. A value without enough history
is NaN. Definitions (TradeStation conventions):
    TR[t]   = max(high[t], close[t-1]) - min(low[t], close[t-1]);  TR[0] = high[0] - low[0]
    ATR     = simple average of TR over `period` bars (TradeStation AvgTrueRange)
    BBW     = (upper - lower) / middle = 2 * dev * std / sma, population std over `period`
    EMA     = XAverage: alpha = 2 / (period + 1), seeded with the first close
    slope   = (EMA[t] / EMA[t - bars] - 1) * 100 / bars, percent per bar
    WMA     = weights 1..period, newest heaviest;  HMA(n) = WMA(2 WMA(n // 2) - WMA(n), isqrt(n))
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "atr_matrix_nb",
    "atr_nb",
    "bb_width_matrix_nb",
    "bb_width_nb",
    "ema_nb",
    "ema_slope_matrix_nb",
    "ema_slope_nb",
    "hma_matrix_nb",
    "hma_nb",
    "true_range_nb",
    "wma_nb",
]


@njit(cache=True)
def true_range_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Return the true range of each bar (the first bar: high - low)."""
    n = close.shape[0]
    out = np.empty(n)
    if n == 0:
        return out
    out[0] = high[0] - low[0]
    for t in range(1, n):
        pc = close[t - 1]
        out[t] = max(high[t], pc) - min(low[t], pc)
    return out


@njit(cache=True)
def _window_mean_1d_nb(x: np.ndarray, period: int, out: np.ndarray) -> None:
    """Write the simple moving average of `x` over `period` bars into `out`."""
    n = x.shape[0]
    for t in range(n):
        if t < period - 1:
            out[t] = np.nan
            continue
        s = 0.0
        for i in range(t - period + 1, t + 1):
            s += x[i]
        out[t] = s / period


@njit(cache=True)
def atr_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Return ATR(period): the simple average of the true range."""
    out = np.empty(close.shape[0])
    _window_mean_1d_nb(true_range_nb(high, low, close), period, out)
    return out


@njit(cache=True)
def atr_matrix_nb(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, periods: np.ndarray
) -> np.ndarray:
    """Return ATR for every period, `(n_bars, len(periods))` time-major."""
    tr = true_range_nb(high, low, close)
    n = close.shape[0]
    out = np.empty((n, periods.shape[0]))
    col = np.empty(n)
    for k in range(periods.shape[0]):
        _window_mean_1d_nb(tr, periods[k], col)
        for t in range(n):
            out[t, k] = col[t]
    return out


@njit(cache=True)
def _bb_width_1d_nb(close: np.ndarray, period: int, dev: float, out: np.ndarray) -> None:
    """Write the Bollinger Band width (upper - lower) / middle into `out`."""
    n = close.shape[0]
    for t in range(n):
        if t < period - 1:
            out[t] = np.nan
            continue
        s = 0.0
        for i in range(t - period + 1, t + 1):
            s += close[i]
        mean = s / period
        v = 0.0
        for i in range(t - period + 1, t + 1):
            d = close[i] - mean
            v += d * d
        std = math.sqrt(v / period)
        out[t] = 2.0 * dev * std / mean


@njit(cache=True)
def bb_width_nb(close: np.ndarray, period: int, dev: float) -> np.ndarray:
    """Return the Bollinger Band width 2 * dev * std / sma (a fraction of price)."""
    out = np.empty(close.shape[0])
    _bb_width_1d_nb(close, period, dev, out)
    return out


@njit(cache=True)
def bb_width_matrix_nb(close: np.ndarray, periods: np.ndarray, devs: np.ndarray) -> np.ndarray:
    """Return BB width for every (periods[k], devs[k]) pair, `(n_bars, k)` time-major."""
    n = close.shape[0]
    out = np.empty((n, periods.shape[0]))
    col = np.empty(n)
    for k in range(periods.shape[0]):
        _bb_width_1d_nb(close, periods[k], devs[k], col)
        for t in range(n):
            out[t, k] = col[t]
    return out


@njit(cache=True)
def ema_nb(x: np.ndarray, period: int) -> np.ndarray:
    """Return the exponential average with alpha = 2 / (period + 1), seeded with x[0]."""
    n = x.shape[0]
    out = np.empty(n)
    if n == 0:
        return out
    alpha = 2.0 / (period + 1.0)
    e = x[0]
    out[0] = e
    for t in range(1, n):
        e = e + alpha * (x[t] - e)
        out[t] = e
    return out


@njit(cache=True)
def _slope_1d_nb(ema: np.ndarray, bars: int, out: np.ndarray) -> None:
    """Write the EMA slope in percent per bar over `bars` bars into `out`."""
    for t in range(ema.shape[0]):
        if t < bars:
            out[t] = np.nan
        else:
            out[t] = (ema[t] / ema[t - bars] - 1.0) * 100.0 / bars


@njit(cache=True)
def ema_slope_nb(x: np.ndarray, period: int, bars: int) -> np.ndarray:
    """Return the slope of EMA(period) over `bars` bars, percent per bar."""
    out = np.empty(x.shape[0])
    _slope_1d_nb(ema_nb(x, period), bars, out)
    return out


@njit(cache=True)
def ema_slope_matrix_nb(close: np.ndarray, periods: np.ndarray, bars: np.ndarray) -> np.ndarray:
    """Return the EMA slope for every (periods[k], bars[k]) pair, `(n_bars, k)` time-major."""
    n = close.shape[0]
    out = np.empty((n, periods.shape[0]))
    col = np.empty(n)
    for k in range(periods.shape[0]):
        _slope_1d_nb(ema_nb(close, periods[k]), bars[k], col)
        for t in range(n):
            out[t, k] = col[t]
    return out


@njit(cache=True)
def wma_nb(x: np.ndarray, period: int) -> np.ndarray:
    """Return the linearly weighted average (weights 1..period, newest heaviest)."""
    n = x.shape[0]
    out = np.empty(n)
    denom = period * (period + 1) / 2.0
    for t in range(n):
        if t < period - 1:
            out[t] = np.nan
            continue
        s = 0.0
        w = 1.0
        for i in range(t - period + 1, t + 1):
            s += w * x[i]
            w += 1.0
        out[t] = s / denom
    return out


@njit(cache=True)
def hma_nb(x: np.ndarray, period: int) -> np.ndarray:
    """Return the Hull moving average WMA(2 WMA(n // 2) - WMA(n), isqrt(n))."""
    half = max(period // 2, 1)
    root = max(int(math.sqrt(period)), 1)
    a = wma_nb(x, half)
    b = wma_nb(x, period)
    raw = np.empty(x.shape[0])
    for t in range(x.shape[0]):
        raw[t] = 2.0 * a[t] - b[t]
    return wma_nb(raw, root)


@njit(cache=True)
def hma_matrix_nb(close: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Return HMA for every period, `(n_bars, len(periods))` time-major."""
    n = close.shape[0]
    out = np.empty((n, periods.shape[0]))
    for k in range(periods.shape[0]):
        h = hma_nb(close, periods[k])
        for t in range(n):
            out[t, k] = h[t]
    return out

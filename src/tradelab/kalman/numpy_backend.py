"""NumPy reference of the batched filters: plain, readable, vectorized across parameter sets.

Notation:
    prices   (n_bars,)           observed series y_t
    q, r     (n_sets,)           local-level process and observation noise variances
    a, b     (n_bars,)           the two legs of a pair, a_t = beta_t * b_t + e_t
    delta    (n_sets,)           hedge-ratio drift; the state noise is Q = delta / (1 - delta)
    obs_r    (n_sets,)           hedge-ratio observation noise R
    x        (n_series, n_bars)  input of the rolling z-score
    outputs  (n_sets, n_bars)

Local level: p- = p + q; k = p- / (p- + r); x = x + k (y - x); p = (1 - k) p-, starting from
x = x0, p = p0 before the first prediction. Hedge ratio: P- = P + Q; when b_t != 0,
K = P- b / (P- b^2 + R); beta = beta + K (a - beta b); P = (1 - K b) P- (else both unchanged).

Rolling z-score at t over the window W_t = x[t - lag - window + 1 : t - lag + 1]:
z = (x_t - mean(W_t)) / (std(W_t) + eps) (population std); `fill` before the first full window;
NaN where std == 0 and `zero_std_nan`. A window of identical values has std exactly 0 and
mean exactly that value (a plain mean of identical values can be off by one rounding).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tradelab.kalman.result import HedgeRatioResult, LocalLevelResult

__all__ = ["hedge_ratio", "local_level", "rolling_zscore"]


def rolling_zscore(
    x: np.ndarray, window: int, lag: int, eps: float, fill: float, zero_std_nan: bool
) -> np.ndarray:
    """Return the rolling z-score of every row of `x` (see module docstring)."""
    n_series, n_bars = x.shape
    out = np.full((n_series, n_bars), fill, dtype=np.float64)
    first = window - 1 + lag
    if n_bars <= first:
        return out
    windows = sliding_window_view(x, window, axis=1)[:, : n_bars - first]
    flat = windows.max(axis=2) == windows.min(axis=2)
    mean = np.where(flat, windows[:, :, -1], windows.mean(axis=2))
    std = np.where(flat, 0.0, windows.std(axis=2))
    current = x[:, first:]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (current - mean) / (std + eps)
    if zero_std_nan:
        z = np.where(std == 0.0, np.nan, z)
    out[:, first:] = z
    return out


def local_level(
    prices: np.ndarray,
    q: np.ndarray,
    r: np.ndarray,
    x0: float,
    p0: float,
    lookback: int,
    z_eps: float,
) -> LocalLevelResult:
    """Filter `prices` once per (q, r) pair, one time step at a time across all sets."""
    n_sets, n_bars = q.shape[0], prices.shape[0]
    levels = np.empty((n_sets, n_bars))
    variances = np.empty((n_sets, n_bars))
    x = np.full(n_sets, x0, dtype=np.float64)
    p = np.full(n_sets, p0, dtype=np.float64)
    for t in range(n_bars):
        p_pred = p + q
        k = p_pred / (p_pred + r)
        x = x + k * (prices[t] - x)
        p = (1.0 - k) * p_pred
        levels[:, t] = x
        variances[:, t] = p
    residuals = prices[None, :] - levels
    slopes = np.diff(levels, axis=1, prepend=levels[:, :1])
    residual_z = rolling_zscore(residuals, lookback, 1, z_eps, 0.0, False)
    return LocalLevelResult(levels, residuals, variances, slopes, residual_z)


def hedge_ratio(
    a: np.ndarray,
    b: np.ndarray,
    delta: np.ndarray,
    obs_r: np.ndarray,
    beta0: float,
    p0: float,
) -> HedgeRatioResult:
    """Track the hedge ratio of `a` on `b` once per (delta, R) pair."""
    n_sets, n_bars = delta.shape[0], a.shape[0]
    betas = np.empty((n_sets, n_bars))
    variances = np.empty((n_sets, n_bars))
    q = delta / (1.0 - delta)
    beta = np.full(n_sets, beta0, dtype=np.float64)
    p = np.full(n_sets, p0, dtype=np.float64)
    for t in range(n_bars):
        p_prior = p + q
        if b[t] != 0.0:
            s = p_prior * (b[t] * b[t]) + obs_r
            k = (p_prior * b[t]) / s
            beta = beta + k * (a[t] - beta * b[t])
            p = (1.0 - k * b[t]) * p_prior
        betas[:, t] = beta
        variances[:, t] = p
    spreads = a[None, :] - betas * b[None, :]
    return HedgeRatioResult(betas, spreads, variances)

"""Forecast accuracy on a set of validation windows.

Notation
    last:    (n_windows,)                       last context close before each forecast origin
    actual:  (n_windows, horizon)               realised closes
    point:   (n_windows, horizon)               point forecasts (prices)
    samples: (n_windows, n_samples, horizon)    sampled price paths
    r        return relative to the window's last close: r = price / last - 1

Metrics (means over every window and horizon step)
    pct_return_mae        mean |r_point - r_actual|                      (primary)
    price_mae             mean |point - actual|
    directional_accuracy  mean [sign(r_point) == sign(r_actual)]; a forecast of exactly no
                          change only counts when the price did not change either
    crps                  CRPS of the sampled return distribution against r_actual, from the
                          empirical distribution of the samples:
                          CRPS = mean_i |x_i - y| - 1/(2 n^2) sum_ij |x_i - x_j|
                          (equals the absolute error for a single sample)
    skill                 1 - pct_return_mae / pct_return_mae of a reference (zero return)
    dm_pvalue_vs_zero     one-sided Diebold-Mariano p-value (HLN-corrected, lag horizon - 1)
                          that the forecast's per-window |return error| is lower than the
                          random walk's (zero return: |r_actual|); 1 for the random walk itself
"""

from __future__ import annotations

import numpy as np

from tradelab.robustness import diebold_mariano

__all__ = [
    "crps_from_samples",
    "forecast_metrics",
    "pct_returns",
    "skill_score",
]


def pct_returns(prices: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Return `prices / last - 1`, `last` broadcast over every axis after the first."""
    prices = np.asarray(prices, dtype=np.float64)
    base = np.asarray(last, dtype=np.float64).reshape((-1,) + (1,) * (prices.ndim - 1))
    return prices / base - 1.0


def crps_from_samples(samples: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """CRPS of each empirical distribution `samples` (..., n, h) at `observed` (..., h)."""
    x = np.sort(np.asarray(samples, dtype=np.float64), axis=-2)
    y = np.asarray(observed, dtype=np.float64)[..., None, :]
    n = x.shape[-2]
    spread_to_obs = np.abs(x - y).mean(axis=-2)
    # sum_ij |x_i - x_j| = 2 sum_i (2i - n - 1) x_(i) with i = 1..n over sorted samples
    weights = (2.0 * np.arange(1, n + 1) - n - 1.0)[:, None]
    pair_spread = 2.0 * (weights * x).sum(axis=-2) / (n * n)
    return spread_to_obs - 0.5 * pair_spread


def skill_score(mae: float, reference_mae: float) -> float:
    """Return `1 - mae / reference_mae` (NaN when the reference is zero)."""
    if not np.isfinite(reference_mae) or reference_mae <= 0.0:
        return float("nan")
    return float(1.0 - mae / reference_mae)


def forecast_metrics(
    last: np.ndarray,
    actual: np.ndarray,
    point: np.ndarray,
    samples: np.ndarray | None = None,
) -> dict[str, float]:
    """Compute the metrics above for point forecasts (and their samples, for CRPS)."""
    last = np.asarray(last, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    point = np.asarray(point, dtype=np.float64)
    if actual.shape != point.shape or actual.ndim != 2 or last.shape != actual.shape[:1]:
        raise ValueError(
            f"shapes: last {last.shape}, actual {actual.shape}, point {point.shape}; "
            "need (n_windows,), (n_windows, horizon), (n_windows, horizon)"
        )
    if not np.all(np.isfinite(point)):
        raise ValueError("point forecasts contain NaN or infinite values")
    r_actual = pct_returns(actual, last)
    r_point = pct_returns(point, last)
    loss = np.abs(r_point - r_actual).mean(axis=1)
    walk = np.abs(r_actual).mean(axis=1)
    out = {
        "pct_return_mae": float(np.mean(np.abs(r_point - r_actual))),
        "dm_pvalue_vs_zero": diebold_mariano(loss, walk, horizon=actual.shape[1]).pvalue,
        "price_mae": float(np.mean(np.abs(point - actual))),
        "directional_accuracy": float(np.mean(np.sign(r_point) == np.sign(r_actual))),
    }
    if samples is not None:
        r_samples = pct_returns(samples, last)
        out["crps"] = float(np.mean(crps_from_samples(r_samples, r_actual)))
    return out

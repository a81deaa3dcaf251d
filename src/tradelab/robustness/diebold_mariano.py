"""Diebold-Mariano test of equal forecast accuracy, with the Harvey-Leybourne-Newbold
small-sample correction.

Diebold & Mariano (1995), "Comparing Predictive Accuracy", JBES 13(3); Harvey, Leybourne &
Newbold (1997), "Testing the equality of prediction mean squared errors", IJF 13(2).

With losses `a_t` (the forecast judged) and `b_t` (a reference, e.g. the random walk) on the
same `T` windows, `d_t = a_t - b_t` and

    DM   = mean(d) / sqrt(V / T),   V = gamma_0 + 2 sum_{k=1}^{h-1} gamma_k
    DM*  = DM * sqrt((T + 1 - 2h + h (h - 1) / T) / T)

(`gamma_k` the lag-k autocovariances of `d`, `h` the forecast horizon: h-step-ahead errors are
serially correlated up to lag h - 1). DM* is compared with Student's t with T - 1 degrees of
freedom (where the truncated sum V is not positive, gamma_0 alone is used, as is usual).
The test here is one-sided: H1 says the judged forecast's expected loss is lower. For
h = 1, DM* equals the one-sample t statistic of `d`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["DieboldMariano", "diebold_mariano"]


@dataclass(frozen=True)
class DieboldMariano:
    """The corrected statistic DM*, its one-sided p-value, the mean loss difference and T."""

    statistic: float
    pvalue: float
    mean_difference: float
    n: int


def diebold_mariano(
    loss: np.ndarray, reference_loss: np.ndarray, horizon: int = 1
) -> DieboldMariano:
    """Test whether `loss` is lower than `reference_loss` on average (module doc).

    Losses of identical forecasts (every d_t = 0) give p = 1; a difference with no variance
    gives p = 0 when it favours `loss`, else 1.
    """
    a = np.asarray(loss, dtype=np.float64).ravel()
    b = np.asarray(reference_loss, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"loss and reference_loss differ in length: {a.size} vs {b.size}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("losses contain NaN or infinite values")
    n = a.size
    if n < 2:
        return DieboldMariano(math.nan, math.nan, math.nan, n)
    d = a - b
    mean = float(d.mean())
    centred = d - mean
    gamma0 = float(centred @ centred) / n
    if gamma0 <= 1e-300 * max(1.0, mean * mean):
        return DieboldMariano(math.nan, 0.0 if mean < 0 else 1.0, mean, n)
    variance = gamma0
    for k in range(1, min(horizon, n)):
        variance += 2.0 * float(centred[k:] @ centred[:-k]) / n
    if variance <= 0.0:  # the truncated sum can go negative: keep the lag-0 variance
        variance = gamma0
    dm = mean / math.sqrt(variance / n)
    correction = (n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n
    statistic = dm * math.sqrt(max(correction, 0.0))
    return DieboldMariano(statistic, float(stats.t.cdf(statistic, df=n - 1)), mean, n)

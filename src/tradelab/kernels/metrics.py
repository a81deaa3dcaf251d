"""Per-combination metric accumulators: finalising sums into the WFO metrics.

Notation (one combination, one segment of `n` bars, IS or OOS):
    r       per-bar equity return eq[t] / eq[t-1] - 1
    sr, sr2, sd2    sum of r, of r**2, of min(r, 0)**2
    ntr, nw         trades (closed in the segment, plus a position still open at its end,
                    marked to market), winning trades (pnl > 0)
    gp, gl          gross profit, gross loss (positive) of those trades
    eq0, eq1        equity at the start and the end of the segment
    bpy             bars per year (252 for daily bars)

Conventions: Sharpe uses the sample standard deviation and is 0 when returns do not vary;
Sortino divides by sqrt(sd2 / n) and is +inf with a positive mean and no negative bar;
win rate and profit factor are NaN without trades; profit factor is +inf without losses;
CAGR is (eq1 / eq0) ** (bpy / n) - 1, and -1 once equity is gone.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "cagr_nb",
    "profit_factor_nb",
    "sharpe_nb",
    "sortino_nb",
    "win_rate_nb",
]


@njit(cache=True, inline="always")
def sharpe_nb(sr: float, sr2: float, n: int, bpy: float) -> float:
    """Return the annualised Sharpe ratio from sums of returns."""
    if n < 2:
        return 0.0
    mean = sr / n
    var = (sr2 - sr * mean) / (n - 1)
    if var <= 0.0:
        return 0.0
    return mean / math.sqrt(var) * math.sqrt(bpy)


@njit(cache=True, inline="always")
def sortino_nb(sr: float, sd2: float, n: int, bpy: float) -> float:
    """Return the annualised Sortino ratio from sums of returns and downside squares."""
    if n < 1:
        return 0.0
    mean = sr / n
    dd = math.sqrt(sd2 / n)
    if dd > 0.0:
        return mean / dd * math.sqrt(bpy)
    return np.inf if mean > 0.0 else 0.0


@njit(cache=True, inline="always")
def win_rate_nb(nw: float, ntr: float) -> float:
    """Return the share of winning trades (NaN without trades)."""
    return nw / ntr if ntr > 0.0 else np.nan


@njit(cache=True, inline="always")
def profit_factor_nb(gp: float, gl: float, ntr: float) -> float:
    """Return gross profit / gross loss (NaN without trades, +inf without losses)."""
    if ntr <= 0.0:
        return np.nan
    if gl > 0.0:
        return gp / gl
    return np.inf if gp > 0.0 else np.nan


@njit(cache=True, inline="always")
def cagr_nb(eq0: float, eq1: float, n: int, bpy: float) -> float:
    """Return the compound annual growth rate over `n` bars."""
    if n < 1 or eq0 <= 0.0:
        return np.nan
    if eq1 <= 0.0:
        return -1.0
    return (eq1 / eq0) ** (bpy / n) - 1.0

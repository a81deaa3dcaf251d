"""Metric conventions: Sharpe, Sortino, win rate, profit factor, CAGR from accumulated sums."""

from __future__ import annotations

import math

import numpy as np

from tradelab.kernels.metrics import cagr_nb, profit_factor_nb, sharpe_nb, sortino_nb, win_rate_nb


def test_sharpe_and_sortino_match_numpy(rng) -> None:
    r = rng.normal(0.0005, 0.01, 500)
    sr, sr2, sd2 = r.sum(), (r * r).sum(), (np.minimum(r, 0) ** 2).sum()
    expected = r.mean() / r.std(ddof=1) * math.sqrt(252)
    assert math.isclose(sharpe_nb(sr, sr2, r.size, 252.0), expected, rel_tol=1e-9)
    down = math.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert math.isclose(
        sortino_nb(sr, sd2, r.size, 252.0), r.mean() / down * math.sqrt(252), rel_tol=1e-12
    )


def test_degenerate_returns() -> None:
    assert sharpe_nb(0.0, 0.0, 100, 252.0) == 0.0
    assert sharpe_nb(0.5, 0.25, 1, 252.0) == 0.0
    assert sortino_nb(0.0, 0.0, 100, 252.0) == 0.0
    assert sortino_nb(0.1, 0.0, 100, 252.0) == math.inf


def test_trade_ratios() -> None:
    assert math.isnan(win_rate_nb(0.0, 0.0))
    assert win_rate_nb(3.0, 4.0) == 0.75
    assert math.isnan(profit_factor_nb(0.0, 0.0, 0.0))
    assert profit_factor_nb(300.0, 100.0, 5.0) == 3.0
    assert profit_factor_nb(300.0, 0.0, 2.0) == math.inf
    assert profit_factor_nb(0.0, 50.0, 2.0) == 0.0


def test_cagr() -> None:
    assert math.isclose(cagr_nb(100.0, 121.0, 504, 252.0), 0.1, rel_tol=1e-12)
    assert cagr_nb(100.0, -5.0, 252, 252.0) == -1.0
    assert math.isnan(cagr_nb(100.0, 110.0, 0, 252.0))

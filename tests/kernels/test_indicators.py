"""Indicator kernels against straightforward pandas / numpy formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradelab.kernels.indicators import (
    atr_matrix_nb,
    atr_nb,
    bb_width_matrix_nb,
    bb_width_nb,
    ema_nb,
    ema_slope_matrix_nb,
    ema_slope_nb,
    hma_matrix_nb,
    hma_nb,
    true_range_nb,
    wma_nb,
)


@pytest.fixture
def ohlc():
    rng = np.random.default_rng(3)
    n = 300
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    high = close * (1 + np.abs(rng.normal(0, 0.01, n)))
    low = close * (1 - np.abs(rng.normal(0, 0.01, n)))
    return high, low, close


def _pd_true_range(high, low, close):
    prev = pd.Series(close).shift(1)
    tr = pd.concat([pd.Series(high), prev], axis=1).max(axis=1) - pd.concat(
        [pd.Series(low), prev], axis=1
    ).min(axis=1)
    tr.iloc[0] = high[0] - low[0]
    return tr


def _pd_wma(x: pd.Series, n: int) -> pd.Series:
    w = np.arange(1, n + 1, dtype=float)
    return x.rolling(n).apply(lambda v: np.dot(v, w) / w.sum(), raw=True)


def test_true_range_and_atr_match_pandas(ohlc) -> None:
    high, low, close = ohlc
    tr = _pd_true_range(high, low, close)
    np.testing.assert_allclose(true_range_nb(high, low, close), tr.to_numpy(), rtol=1e-12)
    for period in (1, 5, 14):
        expected = tr.rolling(period).mean().to_numpy()
        np.testing.assert_allclose(
            atr_nb(high, low, close, period), expected, rtol=1e-10, equal_nan=True
        )
    mat = atr_matrix_nb(high, low, close, np.array([3, 14], dtype=np.int64))
    assert mat.shape == (300, 2)
    np.testing.assert_array_equal(mat[:, 1], atr_nb(high, low, close, 14))


@pytest.mark.parametrize(("period", "dev"), [(5, 1.0), (20, 2.0), (30, 2.5)])
def test_bb_width_matches_pandas(ohlc, period: int, dev: float) -> None:
    close = pd.Series(ohlc[2])
    sma = close.rolling(period).mean()
    std = close.rolling(period).std(ddof=0)
    expected = ((sma + dev * std) - (sma - dev * std)) / sma
    np.testing.assert_allclose(
        bb_width_nb(ohlc[2], period, dev), expected.to_numpy(), rtol=1e-9, equal_nan=True
    )


def test_bb_width_matrix_columns_are_pairs(ohlc) -> None:
    close = ohlc[2]
    mat = bb_width_matrix_nb(close, np.array([5, 20], dtype=np.int64), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(mat[:, 0], bb_width_nb(close, 5, 1.0))
    np.testing.assert_array_equal(mat[:, 1], bb_width_nb(close, 20, 2.0))


def test_ema_and_slope_match_pandas(ohlc) -> None:
    close = pd.Series(ohlc[2])
    ema = close.ewm(span=10, adjust=False).mean()
    np.testing.assert_allclose(ema_nb(ohlc[2], 10), ema.to_numpy(), rtol=1e-12)
    slope = (ema / ema.shift(3) - 1.0) * 100.0 / 3
    np.testing.assert_allclose(
        ema_slope_nb(ohlc[2], 10, 3), slope.to_numpy(), rtol=1e-9, equal_nan=True
    )
    mat = ema_slope_matrix_nb(
        ohlc[2], np.array([10, 20], dtype=np.int64), np.array([3, 1], dtype=np.int64)
    )
    np.testing.assert_array_equal(mat[:, 0], ema_slope_nb(ohlc[2], 10, 3))


@pytest.mark.parametrize("period", [2, 9, 16, 49])
def test_wma_and_hma_match_pandas(ohlc, period: int) -> None:
    close = pd.Series(ohlc[2])
    np.testing.assert_allclose(
        wma_nb(ohlc[2], period), _pd_wma(close, period).to_numpy(), rtol=1e-10, equal_nan=True
    )
    raw = 2 * _pd_wma(close, period // 2) - _pd_wma(close, period)
    expected = _pd_wma(raw, int(np.sqrt(period)))
    got = hma_nb(ohlc[2], period)
    np.testing.assert_allclose(got, expected.to_numpy(), rtol=1e-9, equal_nan=True)
    first_valid = period + int(np.sqrt(period)) - 2
    assert np.isnan(got[first_valid - 1]) and not np.isnan(got[first_valid])
    np.testing.assert_array_equal(
        hma_matrix_nb(ohlc[2], np.array([period], dtype=np.int64))[:, 0], got
    )


def test_indicators_use_no_future_bars(ohlc) -> None:
    high, low, close = (a.copy() for a in ohlc)
    before = [
        atr_nb(high, low, close, 7),
        bb_width_nb(close, 10, 2.0),
        ema_nb(close, 10),
        hma_nb(close, 9),
    ]
    high[200:] *= 1.5
    low[200:] *= 0.5
    close[200:] *= 1.2
    after = [
        atr_nb(high, low, close, 7),
        bb_width_nb(close, 10, 2.0),
        ema_nb(close, 10),
        hma_nb(close, 9),
    ]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a[:200], b[:200])
        assert not np.allclose(a[200:], b[200:], equal_nan=True)

"""Engle-Granger screening and non-overlapping pair selection (seed 001)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.stattools import coint

from tradelab.errors import DataValidationError
from tradelab.strategies.cointegration import SCREEN_COLUMNS, screen_pairs, select_pairs


def _universe(seed: int = 0, n: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2020-01-01", periods=n)
    spy = 300 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    noise = np.zeros(n)
    for t in range(1, n):
        noise[t] = 0.8 * noise[t - 1] + rng.normal(0, 1.0)
    dia = 0.57 * spy + 88.0 + noise
    qqq = 200 * np.exp(np.cumsum(rng.normal(0, 0.012, n)))
    xlk = 150 * np.exp(np.cumsum(rng.normal(0, 0.012, n)))
    return pd.DataFrame({"DIA": dia, "SPY": spy, "QQQ": qqq, "XLK": xlk}, index=idx)


def test_screen_finds_the_cointegrated_pair_with_seed_columns() -> None:
    closes = _universe()
    table = screen_pairs(closes, pvalue_max=None)
    assert list(table.columns) == SCREEN_COLUMNS
    assert len(table) == 6  # every pair, in column order
    assert table["pvalue"].is_monotonic_increasing
    top = table.iloc[0]
    assert (top["asset_1"], top["asset_2"]) == ("DIA", "SPY")
    assert top["hedge_ratio"] == pytest.approx(0.57, abs=0.02)
    assert top["intercept"] == pytest.approx(88.0, abs=8.0)
    t_stat, pvalue, crit = coint(closes["DIA"], closes["SPY"])
    assert top["coint_t"] == pytest.approx(t_stat)
    assert top["pvalue"] == pytest.approx(pvalue)
    assert [top["crit_1pct"], top["crit_5pct"], top["crit_10pct"]] == pytest.approx(list(crit))
    assert top["corr"] == pytest.approx(closes["DIA"].corr(closes["SPY"]))
    assert top["n_obs"] == 500
    kept = screen_pairs(closes, pvalue_max=0.05)
    assert (kept["pvalue"] < 0.05).all() and "DIA" in set(kept["asset_1"])


def test_screen_uses_common_dates_and_skips_short_or_flat_pairs() -> None:
    closes = _universe(1)
    closes.loc[closes.index[:100], "QQQ"] = np.nan
    closes["FLAT"] = 10.0
    table = screen_pairs(closes, pvalue_max=None, min_obs=450)
    assert "FLAT" not in set(table["asset_1"]) | set(table["asset_2"])
    assert not ((table["asset_1"] == "QQQ") | (table["asset_2"] == "QQQ")).any()
    table = screen_pairs(closes.drop(columns="FLAT"), pvalue_max=None, min_obs=100)
    row = table[(table["asset_1"] == "DIA") & (table["asset_2"] == "QQQ")].iloc[0]
    assert row["n_obs"] == 400


def test_select_top_non_overlapping_pairs() -> None:
    screened = pd.DataFrame(
        {
            "asset_1": ["DIA", "DIA", "QQQ", "IWM", "SMH"],
            "asset_2": ["SPY", "XLK", "XLK", "SPY", "SOXX"],
            "pvalue": [0.01, 0.02, 0.03, 0.04, 0.045],
            "corr": [0.90, 0.99, 0.70, 0.95, 0.80],
        }
    )
    by_p = select_pairs(screened, max_pairs=3, sort_by="pvalue")
    assert list(zip(by_p["asset_1"], by_p["asset_2"])) == [
        ("DIA", "SPY"),
        ("QQQ", "XLK"),
        ("SMH", "SOXX"),
    ]
    by_corr = select_pairs(screened, max_pairs=2, sort_by="corr")
    assert list(zip(by_corr["asset_1"], by_corr["asset_2"])) == [("DIA", "XLK"), ("IWM", "SPY")]
    with pytest.raises(ValueError, match="sort_by"):
        select_pairs(screened, sort_by="beta")


def test_screen_rejects_bad_input() -> None:
    with pytest.raises(DataValidationError):
        screen_pairs(pd.DataFrame({"A": [1.0, 2.0]}))

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.stattools import coint

from tradelab.data import MarketSpec, generate_market
from tradelab.data.synthetic import default_universe


@pytest.fixture(scope="module")
def market():
    return generate_market(MarketSpec(seed=7))


def _closes(m) -> pd.DataFrame:
    d = m.bars.daily
    return d.pivot(index="window_start", columns="ticker", values="close")


def test_same_seed_same_bars_other_seed_other_bars() -> None:
    spec = MarketSpec(seed=3, symbols=("SPY", "RIOT"), daily_years=1, minute_days=2)
    a, b = generate_market(spec), generate_market(spec)
    pd.testing.assert_frame_equal(a.bars.daily, b.bars.daily)
    pd.testing.assert_frame_equal(a.bars.minute, b.bars.minute)
    c = generate_market(MarketSpec(seed=4, symbols=("SPY", "RIOT"), daily_years=1, minute_days=2))
    assert not np.allclose(a.bars.daily["close"], c.bars.daily["close"])


def test_default_universe_history_and_price_levels(market) -> None:
    closes = _closes(market)
    assert set(closes.columns) == set(default_universe())
    span_years = (closes.index[-1] - closes.index[0]) / (365.25 * 86400e9)
    assert span_years >= 12
    assert closes.min().min() >= 0.1 and closes.max().max() <= 1000
    last = closes.iloc[-1]
    assert last.min() < 3 and last.max() > 200  # ~$1 to ~$500
    assert 10 <= (last < 25).sum() <= 50  # the <$25 filter keeps some, not all


def test_volatility_clusters_in_market_mode_not_in_null(market) -> None:
    def acf_abs(m, sym):
        r = np.diff(np.log(_closes(m)[sym].to_numpy()))
        a = np.abs(r) - np.abs(r).mean()
        return float((a[1:] * a[:-1]).mean() / (a * a).mean())

    null = generate_market(MarketSpec(seed=7, mode="null", symbols=("SPY", "RIOT"), minute_days=0))
    assert acf_abs(market, "SPY") > 0.1
    assert abs(acf_abs(null, "SPY")) < 0.05


def test_leveraged_etf_tracks_three_times_its_underlying(market) -> None:
    closes = _closes(market)
    r_q, r_t = closes["QQQ"].pct_change().dropna(), closes["TQQQ"].pct_change().dropna()
    slope = np.polyfit(r_q, r_t, 1)[0]
    assert 2.9 < slope < 3.1
    assert np.corrcoef(r_q, r_t)[0, 1] > 0.99


def test_dia_spy_cointegrated_in_market_not_in_null(market) -> None:
    closes = _closes(market)
    assert coint(closes["DIA"], closes["SPY"])[1] < 0.01
    null = _closes(
        generate_market(MarketSpec(seed=7, mode="null", symbols=("SPY", "DIA"), minute_days=0))
    )
    assert coint(null["DIA"], null["SPY"])[1] > 0.05


def test_minute_bars_regular_session_with_u_shaped_volume(market) -> None:
    m = market.bars.minute
    spy = m.loc[m["ticker"] == "SPY"]
    assert len(spy) == 30 * 390
    stamps = pd.to_datetime(spy["window_start"], unit="ns", utc=True).dt.tz_convert(
        "America/New_York"
    )
    minutes = stamps.dt.hour * 60 + stamps.dt.minute
    assert minutes.min() == 9 * 60 + 30 and minutes.max() == 15 * 60 + 59
    by_minute = spy.groupby(minutes.to_numpy())["volume"].mean()
    assert by_minute.iloc[:30].mean() > 1.5 * by_minute.iloc[180:210].mean()
    assert by_minute.iloc[-30:].mean() > 1.5 * by_minute.iloc[180:210].mean()


def test_null_mode_has_no_return_autocorrelation() -> None:
    m = generate_market(
        MarketSpec(seed=5, mode="null", symbols=("SMH", "RIOT", "SPY"), minute_days=0)
    )
    closes = _closes(m)
    r = np.diff(np.log(closes.to_numpy()), axis=0)
    ac = [np.corrcoef(r[1:, j], r[:-1, j])[0, 1] for j in range(r.shape[1])]
    assert max(abs(a) for a in ac) < 0.05


def test_planted_mode_records_its_edges() -> None:
    m = generate_market(
        MarketSpec(
            seed=2,
            mode="planted",
            daily_years=12.5,
            minute_days=2,
            symbols=("SMH", "QQQ", "SPY", "DIA", "RIOT"),
        )
    )
    assert set(m.planted) == {"wfo", "kalman_residual", "kalman_pairs"}
    lo, hi = m.planted["wfo"]["atr_multiplier_region"]
    assert 0 < lo < hi
    assert m.planted["wfo"]["symbols"] == ["SMH", "QQQ", "SPY"]
    closes = _closes(m)
    assert coint(closes["DIA"], closes["SPY"])[1] < 0.01


def test_symbols_are_validated() -> None:
    from tradelab.errors import InvalidSymbolError

    with pytest.raises(InvalidSymbolError):
        MarketSpec(symbols=("../etc",))
    with pytest.raises(ValueError, match="mode"):
        MarketSpec(mode="bogus")

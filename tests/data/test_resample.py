from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradelab.data import resample_bars


def _minutes(day: str, start: str, count: int, rng) -> pd.DataFrame:
    ts = pd.date_range(
        pd.Timestamp(f"{day} {start}", tz="America/New_York"), periods=count, freq="1min"
    )
    close = 100 + np.cumsum(rng.normal(0, 0.1, count))
    open_ = np.r_[100.0, close[:-1]]
    return pd.DataFrame(
        {
            "timestamp": ts.tz_convert("UTC").as_unit("ns"),
            "open": open_,
            "high": np.maximum(open_, close) + 0.05,
            "low": np.minimum(open_, close) - 0.05,
            "close": close,
            "volume": rng.integers(1, 100, count).astype(float),
            "transactions": rng.integers(1, 10, count),
        }
    )


@pytest.mark.parametrize("rule", [5, 15, 60])
def test_matches_pandas_reference_within_the_session(rule, rng) -> None:
    bars = pd.concat(
        [_minutes("2025-03-07", "09:30", 390, rng), _minutes("2025-03-10", "09:30", 390, rng)],
        ignore_index=True,
    )
    out = resample_bars(bars, f"{rule}min")
    local = bars.set_index(bars["timestamp"].dt.tz_convert("America/New_York"))
    ref = (
        local.resample(f"{rule}min", origin="start_day", offset="9h30min")
        .agg(
            {
                "open": "first",
                "high": "max",
                "low": "min",
                "close": "last",
                "volume": "sum",
                "transactions": "sum",
            }
        )
        .dropna()
    )
    assert len(out) == len(ref)
    np.testing.assert_allclose(
        out[["open", "high", "low", "close", "volume"]].to_numpy(),
        ref[["open", "high", "low", "close", "volume"]].to_numpy(),
    )
    assert (
        out["timestamp"].dt.tz_convert("America/New_York").to_numpy() == ref.index.to_numpy()
    ).all()


def test_bins_do_not_cross_sessions_and_gaps_are_not_filled(rng) -> None:
    a = _minutes("2025-03-07", "09:30", 390, rng)
    b = _minutes("2025-03-10", "09:30", 390, rng)
    gap = pd.concat([a.iloc[:10], a.iloc[30:]], ignore_index=True)  # 09:40-09:59 missing
    out = resample_bars(pd.concat([gap, b], ignore_index=True), "5min")
    assert len(out) == 78 - 4 + 78
    days = out["timestamp"].dt.tz_convert("America/New_York").dt.date
    assert days.nunique() == 2


def test_regular_session_drops_extended_hours(rng) -> None:
    pre = _minutes("2025-03-07", "08:00", 90, rng)
    reg = _minutes("2025-03-07", "09:30", 390, rng)
    out = resample_bars(pd.concat([pre, reg], ignore_index=True), "1day")
    assert len(out) == 1 and out["volume"].iloc[0] == reg["volume"].sum()
    assert out["open"].iloc[0] == reg["open"].iloc[0]
    everything = resample_bars(pd.concat([pre, reg], ignore_index=True), "30min", session="all")
    assert everything["timestamp"].min() == pd.Timestamp("2025-03-07 08:00", tz="America/New_York")
    assert out["timestamp"].iloc[0] == pd.Timestamp("2025-03-07", tz="America/New_York")

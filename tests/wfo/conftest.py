"""Synthetic daily bars and small strategy specs for the WFO tests."""

from __future__ import annotations

import numpy as np
import pytest

from tradelab.wfo.data import WfoData
from tradelab.wfo.strategy import KIND_PARAMS, ParamSpec, StrategyKind, StrategySpec

# Short lookbacks so that a 30-bar warmup covers every indicator.
SMALL_DEFAULTS = {
    "atr_period": 5,
    "atr_multiplier": 2.5,
    "atr_buy_multiplier": 0.5,
    "bb_period": 10,
    "bb_dev": 2.0,
    "vol_threshold": 0.08,
    "bb_scaling": 0,
    "tighten_floor": 0.5,
    "max_stop_atr": 4.0,
    "baseline_period": 20,
    "reentry_delay": 0,
    "short_mult": 0.6,
    "ema_period": 10,
    "ema_slope_bars": 2,
    "ema_slope_min": 0.0,
    "entry_mode": 2,
    "hma_fast": 4,
    "hma_slow": 9,
}


def make_bars(
    n: int,
    seed: int,
    *,
    vol: float = 0.015,
    drift: float = 0.0003,
    gap_vol: float = 0.004,
    tick: float | None = None,
    dual: bool = True,
) -> WfoData:
    """Random-walk daily bars (business days from 2000-01-03); `tick` rounds prices."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(drift, vol, n)))
    prev = np.concatenate([[100.0], close[:-1]])
    open_ = prev * np.exp(rng.normal(0.0, gap_vol, n))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, vol / 2, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, vol / 2, n)))
    if tick:
        open_, high, low, close = (
            np.maximum(np.round(a / tick) * tick, tick) for a in (open_, high, low, close)
        )
        high = np.maximum.reduce([high, open_, close])
        low = np.minimum.reduce([low, open_, close])
    close2 = close * np.exp(np.cumsum(rng.normal(0.0, vol / 2, n))) if dual else None
    days = np.busday_offset("2000-01-03", np.arange(n), roll="forward")
    return WfoData(
        days.astype("datetime64[ns]"), open_, high, low, close, close2=close2, symbol="TEST"
    )


def small_spec(kind: str | StrategyKind, **costs: float) -> StrategySpec:
    """A spec of `kind` with short-lookback defaults."""
    kind = StrategyKind(kind)
    params = tuple(ParamSpec(p, float(SMALL_DEFAULTS[p]), 1, p) for p in KIND_PARAMS[kind])
    return StrategySpec(kind.value, kind, "TEST", params, **costs)


@pytest.fixture
def bars() -> WfoData:
    return make_bars(400, seed=7)

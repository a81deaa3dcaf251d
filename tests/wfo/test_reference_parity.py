"""Kernel == plain-Python reference: identical trade lists, PnL to 1e-9, same metrics.

Random bars (seeded numpy generators) and random parameter sets (hypothesis) for every
variant; each example evaluates a small grid in one kernel call, in a shuffled order.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradelab.kernels.enums import METRIC_NAMES
from tradelab.search.grid import Grid
from tradelab.wfo.engine import evaluate_combos, trace_combos
from tradelab.wfo.phases import Phase
from tradelab.wfo.reference import simulate_reference
from tradelab.wfo.strategy import KIND_PARAMS, StrategyKind

from .conftest import make_bars, small_spec

CHOICES = {
    "atr_period": [1, 2, 3, 5, 8, 13],
    "atr_multiplier": [0.5, 1.0, 2.0, 3.5, 8.0],
    "atr_buy_multiplier": [0.0, 0.25, 0.7, 1.5],
    "bb_period": [2, 5, 10],
    "bb_dev": [0.5, 1.0, 2.5],
    "vol_threshold": [0.01, 0.05, 0.2, 1.0],
    "bb_scaling": [0, 1, 2],
    "tighten_floor": [0.0, 0.3, 1.0],
    "max_stop_atr": [0.5, 2.0, 10.0],
    "baseline_period": [3, 10, 20],
    "reentry_delay": [0, 1, 4],
    "short_mult": [0.3, 0.6, 1.0, 1.7],
    "ema_period": [2, 10, 25],
    "ema_slope_bars": [1, 3],
    "ema_slope_min": [0.0, 0.02, 0.2],
    "entry_mode": [0, 1, 2],
    "hma_fast": [2, 4, 9],
    "hma_slow": [4, 9, 16],
}
N_BARS = 240
PHASE = Phase("p", warmup_start=0, is_start=30, oos_start=140, oos_end=N_BARS - 1)
EXACT_FIELDS = ("combo", "direction", "entry_bar", "exit_bar", "reason")
PRICE_FIELDS = ("entry_price", "exit_price", "shares", "pnl")
LEVEL_METRICS = {"is_pnl", "oos_pnl", "is_max_dd", "oos_max_dd", "is_trades", "oos_trades"}


@st.composite
def cases(draw, kind: StrategyKind):
    names = KIND_PARAMS[kind]
    varied = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
    spec = {}
    for name in names:
        size = 2 if name in varied else 1
        spec[name] = draw(
            st.lists(st.sampled_from(CHOICES[name]), min_size=size, max_size=size, unique=True)
        )
    data = {
        "seed": draw(st.integers(0, 2**31 - 1)),
        "vol": draw(st.sampled_from([0.005, 0.015, 0.04])),
        "gap_vol": draw(st.sampled_from([0.0, 0.004, 0.03])),
        "tick": draw(st.sampled_from([None, 0.01, 0.25])),
    }
    costs = draw(
        st.sampled_from(
            [
                {},
                {"commission": 0.0, "slippage": 0.0},
                {"commission": 0.05, "slippage": 0.1, "position_fraction": 0.5},
                {"commission": 0.0, "slippage": 0.0, "commission_bps": 0.5, "slippage_bps": 2.0},
                {"commission": 0.005, "slippage": 0.01, "commission_bps": 3.0, "slippage_bps": 25},
            ]
        )
    )
    return spec, data, costs


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)


@pytest.mark.parametrize("kind", list(StrategyKind))
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_kernel_matches_reference(kind: StrategyKind, data) -> None:
    grid_spec, data_kw, costs = data.draw(cases(kind))
    bars = make_bars(N_BARS, **data_kw)
    spec = small_spec(kind, **costs)
    grid = Grid.from_config(grid_spec)
    combos = np.random.default_rng(data_kw["seed"]).permutation(grid.size).astype(np.int64)
    trades, result = trace_combos(bars, spec, grid, PHASE, combos)
    plain = evaluate_combos(bars, spec, grid, PHASE, combos)  # the sweep kernel, no recorder
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(plain.metrics[name], result.metrics[name], err_msg=name)
    decoded = grid.decode(combos)
    for i, combo in enumerate(combos):
        params = {name: values[i] for name, values in decoded.items()}
        ref = simulate_reference(bars, spec, params, PHASE)
        got = trades[i]
        assert len(got) == len(ref.trades), (kind, params)
        for field in EXACT_FIELDS:
            expected = ref.trades[field] if field != "combo" else np.full(len(got), combo)
            np.testing.assert_array_equal(got[field], expected, err_msg=f"{kind} {params} {field}")
        for field in PRICE_FIELDS:
            np.testing.assert_allclose(
                got[field], ref.trades[field], rtol=1e-9, atol=1e-9, err_msg=field
            )
        for name in METRIC_NAMES:
            k, r = float(result.metrics[name][i]), ref.metrics[name]
            rtol, atol = (1e-9, 1e-6) if name in LEVEL_METRICS else (1e-6, 1e-9)
            assert _close(k, r, rtol, atol), (kind, params, name, k, r)


def test_parity_covers_shorts_reversals_and_stops() -> None:
    """A fixed example that exercises every event type (guards the property test's reach)."""
    data = make_bars(N_BARS, seed=11, vol=0.02)
    spec = small_spec("atr_d_ls")
    grid = Grid.from_config({"entry_mode": [0, 1, 2], "atr_multiplier": [1.0, 3.0]})
    combos = np.arange(grid.size, dtype=np.int64)
    trades, _ = trace_combos(data, spec, grid, PHASE, combos)
    allt = np.concatenate(trades)
    assert (allt["direction"] == -1).any() and (allt["direction"] == 1).any()
    assert (allt["reason"] == 1).any() and (allt["reason"] == 0).any()
    decoded = grid.decode(combos)
    for i in range(grid.size):
        ref = simulate_reference(data, spec, {k: v[i] for k, v in decoded.items()}, PHASE)
        np.testing.assert_array_equal(trades[i]["exit_bar"], ref.trades["exit_bar"])
        np.testing.assert_allclose(trades[i]["pnl"], ref.trades["pnl"], rtol=1e-9)

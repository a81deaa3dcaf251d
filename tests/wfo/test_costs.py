"""Costs in basis points of the traded value beside $ per share, and the cost sensitivity.

At an index level of 5,000 a cent and a half a share is 0.03 bp: per-share costs alone vanish,
basis points do not. The fills move by the slippage rate and every side pays the commission
rate of its value, in the kernels exactly as in the reference simulator.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace

import numpy as np
import pytest

from tradelab.jobs.wfo import resimulated_metrics, warn_if_costs_vanish
from tradelab.search.grid import Grid
from tradelab.wfo.data import WfoData
from tradelab.wfo.engine import evaluate_combos, trace_combos
from tradelab.wfo.phases import Phase
from tradelab.wfo.strategy import StrategySpec

from .conftest import make_bars, small_spec

PHASE = Phase("p", warmup_start=0, is_start=30, oos_start=200, oos_end=399)
GRID = Grid.from_config({"atr_multiplier": [1.0, 2.5]})


def _scaled(data: WfoData, factor: float) -> WfoData:
    """The same path at `factor` times the price level."""
    return WfoData(
        data.timestamps,
        *(a * factor for a in (data.open, data.high, data.low, data.close)),
        symbol="IDX",
    )


def _trades(data: WfoData, spec: StrategySpec) -> list[np.ndarray]:
    trades, _ = trace_combos(data, spec, GRID, PHASE, np.arange(GRID.size, dtype=np.int64))
    return trades


def test_fills_move_by_the_slippage_rate_and_pay_the_commission_rate() -> None:
    data = make_bars(400, seed=3)
    free = small_spec("atr_d_ls", commission=0.0, slippage=0.0)
    paid = replace(free, commission_bps=3.0, slippage_bps=20.0)
    for raw, cost in zip(_trades(data, free), _trades(data, paid)):
        assert len(cost) == len(raw) > 5  # the same orders fill on the same bars
        np.testing.assert_array_equal(cost["entry_bar"], raw["entry_bar"])
        side = cost["direction"].astype(float)  # fills move against the trade
        np.testing.assert_allclose(cost["entry_price"], raw["entry_price"] * (1 + side * 20e-4))
        closed_by_stop = cost["reason"] == 0
        exit_raw = raw["exit_price"][closed_by_stop]
        np.testing.assert_allclose(
            cost["exit_price"][closed_by_stop], exit_raw * (1 - side[closed_by_stop] * 20e-4)
        )
        q = side * cost["shares"]
        fees = cost["shares"] * 3e-4 * (cost["entry_price"] + cost["exit_price"])
        expected = q * (cost["exit_price"] - cost["entry_price"]) - fees
        np.testing.assert_allclose(cost["pnl"], expected, rtol=1e-9)


def test_basis_points_matter_at_index_prices_where_cents_do_not() -> None:
    data = make_bars(400, seed=5)
    index = _scaled(data, 50.0)  # about 5,000
    free = small_spec("atr_d_l", commission=0.0, slippage=0.0)

    def oos_pnl(bars: WfoData, spec: StrategySpec) -> np.ndarray:
        return evaluate_combos(bars, spec, GRID, PHASE).metrics["oos_pnl"]

    base = oos_pnl(index, free)
    cents = oos_pnl(index, replace(free, commission=0.005, slippage=0.01))
    bps = oos_pnl(index, replace(free, commission_bps=0.5, slippage_bps=2.0))
    assert np.all(base - bps > 1e-3 * free.initial_capital)  # 2.5 bp a side: visible
    assert np.all(base - cents < 0.02 * (base - bps))  # $0.015 a share at 5,000: 0.03 bp
    # the same path at $100: basis points cost the same fraction whatever the price level
    np.testing.assert_allclose(
        oos_pnl(data, replace(free, commission_bps=0.5, slippage_bps=2.0)) - oos_pnl(data, free),
        bps - base,
        rtol=1e-6,
    )


def test_per_share_costs_alone_at_index_prices_warn(caplog: pytest.LogCaptureFixture) -> None:
    index = _scaled(make_bars(400, seed=5), 50.0)
    with caplog.at_level(logging.WARNING, logger="tradelab.wfo"):
        assert warn_if_costs_vanish(index, small_spec("atr_d_l")) < 0.05
    assert "costs=both" in caplog.text and "IDX" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tradelab.wfo"):
        both = replace(small_spec("atr_d_l"), commission_bps=0.5, slippage_bps=2.0)
        assert warn_if_costs_vanish(index, both) == pytest.approx(2.535, abs=0.01)
    assert caplog.text == ""


def test_cost_sensitivity_falls_with_the_costs() -> None:
    data = make_bars(400, seed=11, drift=0.001)
    spec = replace(small_spec("atr_d_l"), commission_bps=5.0, slippage_bps=20.0)
    out = resimulated_metrics(data, spec, {"atr_multiplier": 1.0}, [PHASE])
    s0, s1, s2 = (out[f"oos_sharpe_costs_{m}x"] for m in (0, 1, 2))
    assert s0 > s1 > s2
    one = evaluate_combos(data, spec, Grid.from_config({"atr_multiplier": [1.0]}), PHASE)
    assert s1 == pytest.approx(float(one.metrics["oos_sharpe"][0]), rel=1e-9)


def test_specs_without_basis_points_keep_their_cache_identity() -> None:
    spec = small_spec("atr_d_l")
    old = json.dumps(
        [
            spec.kind.value,
            [(p.name, float(p.default)) for p in spec.params],
            spec.commission,
            spec.slippage,
            spec.position_fraction,
            spec.initial_capital,
        ]
    )
    assert spec.fingerprint() == hashlib.sha256(old.encode()).hexdigest()[:16]
    assert replace(spec, slippage_bps=2.0).fingerprint() != spec.fingerprint()
    assert spec.scaled_costs(2.0).slippage == 2 * spec.slippage

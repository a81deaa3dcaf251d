"""Distinct OOS round trips across overlapping phases: each phase's keys are the kernel's own
OOS trades, and a trade seen by several phases counts once."""

from __future__ import annotations

import numpy as np
import pytest

from tradelab.search.grid import Grid
from tradelab.wfo.engine import evaluate_combos
from tradelab.wfo.phases import Phase
from tradelab.wfo.reference import simulate_reference
from tradelab.wfo.trades import distinct_oos_trades, oos_trade_keys

from .conftest import make_bars, small_spec

# four phases whose OOS windows overlap as the seed's do, and two that do not overlap
OVERLAPPING = [
    Phase("p1", 0, 100, 500, 900),
    Phase("p2", 150, 250, 650, 1050),
    Phase("p3", 300, 400, 800, 1199),
    Phase("p4", 500, 600, 1000, 1199),
]
DISJOINT = [Phase("a", 0, 100, 400, 699), Phase("b", 600, 700, 900, 1199)]
GRID = {"atr_multiplier": [1.5, 2.5, 3.5], "atr_buy_multiplier": [0.3, 0.8]}


@pytest.mark.parametrize("kind", ["atr_d_l", "atr_d_ls", "atr_d_hma_ls"])
def test_each_phase_counts_the_kernels_oos_trades(kind: str) -> None:
    bars, spec = make_bars(1200, seed=4), small_spec(kind)
    grid = Grid.from_config(GRID)
    combos = np.arange(grid.size, dtype=np.int64)
    decoded = grid.decode(combos)
    for phase in OVERLAPPING:
        kernel = evaluate_combos(bars, spec, grid, phase, combos).metrics["oos_trades"]
        for i in combos:
            params = {name: float(values[i]) for name, values in decoded.items()}
            run = simulate_reference(bars, spec, params, phase)
            assert len(oos_trade_keys(run, phase)) == kernel[i], (phase.name, i)


@pytest.mark.parametrize("kind", ["atr_d_l", "atr_d_ls"])
def test_trades_shared_by_overlapping_phases_count_once(kind: str) -> None:
    bars, spec = make_bars(1200, seed=4), small_spec(kind)
    params = {"atr_multiplier": 2.5, "atr_buy_multiplier": 0.5}
    per_phase = [oos_trade_keys(simulate_reference(bars, spec, params, p), p) for p in OVERLAPPING]
    summed = sum(len(k) for k in per_phase)
    distinct = distinct_oos_trades(bars, spec, params, OVERLAPPING)
    assert max(len(k) for k in per_phase) <= distinct < summed
    assert distinct_oos_trades(bars, spec, params, OVERLAPPING[:1] * 3) == len(per_phase[0])
    apart = [oos_trade_keys(simulate_reference(bars, spec, params, p), p) for p in DISJOINT]
    assert distinct_oos_trades(bars, spec, params, DISJOINT) == sum(len(k) for k in apart)

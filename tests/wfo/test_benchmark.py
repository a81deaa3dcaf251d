"""Benchmarks of an OOS window: buy-and-hold from the closes, the exposure-matched benchmark
from the simulation's own positions, on known answers."""

from __future__ import annotations

import numpy as np
import pytest

from tradelab.wfo.benchmark import buy_and_hold, oos_benchmark
from tradelab.wfo.phases import Phase
from tradelab.wfo.reference import simulate_reference

from .conftest import make_bars, small_spec

PHASE = Phase("p", 0, 100, 500, 899)


def test_buy_and_hold_spans_the_close_before_the_window() -> None:
    bars = make_bars(900, seed=2)
    assert buy_and_hold(bars, 500, 899) == pytest.approx(bars.close[899] / bars.close[499] - 1)
    with pytest.raises(ValueError, match="start"):
        buy_and_hold(bars, 0, 10)


@pytest.mark.parametrize("kind", ["atr_d_l", "atr_d_ls"])
def test_strategy_return_matches_the_kernel_pnl(kind: str) -> None:
    bars, spec = make_bars(900, seed=2), small_spec(kind)
    run = simulate_reference(bars, spec, {}, PHASE)
    bench = oos_benchmark(bars, run, PHASE)
    start = spec.initial_capital + run.metrics["is_pnl"]
    assert bench.strategy_return == pytest.approx(run.metrics["oos_pnl"] / start, rel=1e-12)
    assert bench.excess == pytest.approx(bench.strategy_return - bench.buy_and_hold)
    assert -1.0 <= bench.exposure <= 1.0
    if kind == "atr_d_l":
        assert bench.exposure >= 0.0


def test_a_strategy_always_fully_long_is_matched_by_buy_and_hold() -> None:
    """Entering on the first traded bar and never stopping out: exposure near the position
    fraction every bar, so the matched benchmark is close to buy-and-hold scaled by it."""
    bars, spec = make_bars(900, seed=2, vol=0.002, drift=0.001), small_spec("atr_d_l")
    params = {"atr_multiplier": 1000.0, "atr_buy_multiplier": -1000.0, "max_stop_atr": 1000.0}
    run = simulate_reference(bars, spec, params, PHASE)
    assert (run.position[1:] > 0).all()
    bench = oos_benchmark(bars, run, PHASE)
    assert bench.exposure == pytest.approx(spec.position_fraction, rel=0.01)
    returns = bars.close[500:900] / bars.close[499:899] - 1.0
    assert bench.matched == pytest.approx(np.prod(1 + bench.exposure * returns) - 1, rel=1e-12)
    assert bench.matched_excess == pytest.approx(0.0, abs=0.01)


def test_a_mismatched_run_is_refused() -> None:
    bars, spec = make_bars(900, seed=2), small_spec("atr_d_l")
    run = simulate_reference(bars, spec, {}, Phase("q", 0, 100, 400, 799))
    with pytest.raises(ValueError, match="traded bars"):
        oos_benchmark(bars, run, PHASE)

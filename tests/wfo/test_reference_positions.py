"""The reference simulation's position: the signed shares it holds after each traded bar.

Held after bar t means filled at or before t and not exited by t: the fill bar counts, the exit
bar does not (a reversal holds the new side), and a trade still open after the last bar shows
there although it is not in the closed-trade list.
"""

from __future__ import annotations

import numpy as np
import pytest

from tradelab.wfo.phases import Phase
from tradelab.wfo.reference import ReferenceRun, simulate_reference
from tradelab.wfo.strategy import StrategyKind

from .conftest import make_bars, small_spec

N_BARS = 240
PHASE = Phase("p", warmup_start=0, is_start=30, oos_start=140, oos_end=N_BARS - 1)
FIRST = PHASE.is_start - 1  # the data bar of position[0] (before the first traded bar)


def _run(kind: StrategyKind, oos_end: int = N_BARS - 1) -> ReferenceRun:
    data = make_bars(N_BARS, seed=11, vol=0.02)
    phase = Phase("p", PHASE.warmup_start, PHASE.is_start, PHASE.oos_start, oos_end)
    return simulate_reference(data, small_spec(kind), {"atr_multiplier": 1.5}, phase)


def _from_trades(run: ReferenceRun) -> np.ndarray:
    """Signed shares held after each bar according to the closed trades alone."""
    out = np.zeros(run.position.shape)
    for trade in run.trades:
        entry, exit_ = int(trade["entry_bar"]) - FIRST, int(trade["exit_bar"]) - FIRST
        out[entry:exit_] = trade["direction"] * trade["shares"]
    return out


@pytest.mark.parametrize("kind", list(StrategyKind))
def test_position_is_the_closed_trades_plus_the_open_one(kind: StrategyKind) -> None:
    run = _run(kind)
    assert run.position.shape == run.equity.shape and run.position[0] == 0.0
    assert len(run.trades) >= 3, "the bars must make the strategy trade"
    closed = _from_trades(run)
    last_exit = int(run.trades["exit_bar"][-1]) - FIRST
    # up to the last exit the closed trades say it all (a reversal holds the new side)
    np.testing.assert_array_equal(run.position[:last_exit], closed[:last_exit])
    # after it: flat, or one trade entered then and still open after the last bar
    tail = run.position[last_exit:]
    held = np.flatnonzero(tail != 0.0)
    if held.size:
        assert np.all(tail[held[0] :] == tail[held[0]]), "an open trade holds its shares"


@pytest.mark.parametrize("kind", list(StrategyKind))
def test_equity_moves_with_the_close_only_while_held(kind: StrategyKind) -> None:
    run = _run(kind)
    close = make_bars(N_BARS, seed=11, vol=0.02).close
    events = {int(b) - FIRST for b in (*run.trades["entry_bar"], *run.trades["exit_bar"])}
    changes = np.flatnonzero(np.diff(run.position) != 0.0) + 1
    events |= {int(k) for k in changes}  # fills, the open trade's entry included
    quiet = np.array([k for k in range(1, run.position.size) if k not in events])
    bar = quiet + FIRST
    moved = np.diff(run.equity)[quiet - 1]
    np.testing.assert_allclose(
        moved, run.position[quiet - 1] * (close[bar] - close[bar - 1]), rtol=1e-9, atol=1e-6
    )


@pytest.mark.parametrize("kind", list(StrategyKind))
def test_a_trade_open_at_the_last_bar_is_held_there(kind: StrategyKind) -> None:
    full = _run(kind)
    held = np.flatnonzero(full.position[:-1] != 0.0)
    cut = int(held[-1]) + FIRST  # a bar after which the full run still holds its trade
    assert cut > PHASE.oos_start
    short = _run(kind, oos_end=cut)
    np.testing.assert_array_equal(short.position, full.position[: cut - FIRST + 1])
    np.testing.assert_array_equal(short.equity, full.equity[: cut - FIRST + 1])
    assert short.position[-1] != 0.0  # held now, though not a closed trade
    assert len(short.trades) == int((full.trades["exit_bar"] <= cut).sum())


def test_stop_distance_is_the_multiplier_without_tightening_or_cap() -> None:
    """With no squeeze tightening (vol_threshold below any Bollinger width) and no cap, a long
    stop trails exactly atr_multiplier ATRs behind; a short one short_mult x that; squeeze
    tightening only ever shortens it."""
    data = make_bars(N_BARS, seed=11, vol=0.02)
    loose = {"atr_multiplier": 1.5, "vol_threshold": 1e-9, "max_stop_atr": 1e9}
    run = simulate_reference(data, small_spec("atr_d_ls"), loose, PHASE)
    assert (run.stop_side == 1).any() and (run.stop_side == -1).any()
    assert len(run.stop_atr) == len(run.stop_side) == np.count_nonzero(run.position[1:])
    np.testing.assert_allclose(run.stop_atr[run.stop_side == 1], 1.5)
    np.testing.assert_allclose(run.stop_atr[run.stop_side == -1], 1.5 * 0.6)
    tight = simulate_reference(data, small_spec("atr_d_l"), {"atr_multiplier": 1.5}, PHASE)
    assert (tight.stop_atr <= 1.5 + 1e-12).all() and (tight.stop_atr < 1.5).any()

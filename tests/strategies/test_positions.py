"""The backtests' positions: the shares each holds after every bar.

Held after bar t: the residual strategy fills at the close, so the entry bar counts and the exit
bar does not; pairs orders fill at the next bar's open, so a fill's bar counts. A position still
open at the last bar shows there (the residual kernel books it as an `end_of_data` trade only
to value it). Each is checked against what the kernels record on their own: the equity or value
at every close moves with the close only as the positions say.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradelab.strategies.pairs import PairData, backtest_pair
from tradelab.strategies.residual import ResidualSettings, backtest_residual

RESIDUAL = {"residual_z_entry": 0.5, "residual_z_exit": 0.3, "take_profit_pct": 0.04}
PAIRS = {"window": 30, "entry_z": 1.2, "exit_z": 0.3, "stop_z": 4.0, "stake": 40}
SETTINGS = ResidualSettings(backend="numpy")


def _prices(seed: int, n: int = 1200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.006, n) + rng.standard_t(3, n) * 0.002
    return 8.0 * np.exp(np.cumsum(steps))


def _pair(n: int = 400, seed: int = 3) -> PairData:
    rng = np.random.default_rng(seed)
    b = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    spread = np.zeros(n)
    for t in range(1, n):
        spread[t] = 0.9 * spread[t - 1] + rng.normal(0, 0.8)
    a = 0.6 * b + 20.0 + spread
    times = pd.bdate_range("2021-01-04", periods=n, tz="UTC")
    return PairData.from_series(
        pd.Series(a, index=times, name="A"),
        pd.Series(b, index=times, name="B"),
        open_a=pd.Series(a * (1 + rng.normal(0, 0.003, n)), index=times),
        open_b=pd.Series(b * (1 + rng.normal(0, 0.003, n)), index=times),
    )


def _head(data: PairData, n: int) -> PairData:
    return PairData.from_series(
        pd.Series(data.close_a[:n], index=data.times[:n], name="A"),
        pd.Series(data.close_b[:n], index=data.times[:n], name="B"),
        open_a=pd.Series(data.open_a[:n], index=data.times[:n]),
        open_b=pd.Series(data.open_b[:n], index=data.times[:n]),
    )


# -- residual ---------------------------------------------------------------------------------
def test_residual_equity_moves_with_the_close_only_while_held() -> None:
    close = _prices(0)
    run = backtest_residual(close, RESIDUAL, SETTINGS)
    assert run.positions.shape == close.shape and len(run.trades) >= 5
    # value at close t+1 = capital + position held after bar t * (close t+1 - entry)
    np.testing.assert_allclose(
        np.diff(run.equity), run.positions[:-1] * np.diff(close), rtol=1e-9, atol=1e-7
    )
    trades = list(run.trades.itertuples(index=False))
    entered = {t.entry_bar: t.side * t.shares for t in trades}
    for trade in trades:
        assert run.positions[trade.entry_bar] == trade.side * trade.shares  # the fill bar counts
        if trade.reason != "end_of_data":  # the exit bar does not (unless it enters again)
            assert run.positions[trade.exit_bar] == entered.get(trade.exit_bar, 0.0)


def test_residual_holds_a_trade_open_at_the_last_bar() -> None:
    close = _prices(1)
    full = backtest_residual(close, RESIDUAL, SETTINGS)
    held = np.flatnonzero(full.positions[:-1] != 0.0)
    exits = set(full.trades["exit_bar"])
    cut = int(next(t for t in held[::-1] if t not in exits))  # held, not exited there
    short = backtest_residual(close[: cut + 1], RESIDUAL, SETTINGS)
    np.testing.assert_array_equal(short.positions, full.positions[: cut + 1])
    assert short.positions[-1] != 0.0
    assert short.trades["reason"].iloc[-1] == "end_of_data"
    assert short.trades["exit_bar"].iloc[-1] == cut


def test_residual_positions_cut_with_the_trade_record_are_nan() -> None:
    close = _prices(0)
    full = backtest_residual(close, RESIDUAL, SETTINGS)
    cut = backtest_residual(close, RESIDUAL, SETTINGS, max_trades=2)
    first_unknown = int(full.trades["exit_bar"].iloc[1])
    np.testing.assert_array_equal(cut.positions[:first_unknown], full.positions[:first_unknown])
    assert np.isnan(cut.positions[first_unknown:]).all()


# -- pairs ------------------------------------------------------------------------------------
def _value_change(data: PairData, run, t: int) -> float:
    """Value at close t minus value at close t-1, as the positions and t's fills make it."""
    fills = run.fills[run.fills["bar"] == t]
    close = np.array([data.close_a, data.close_b])
    out = float(run.positions[t - 1] @ (close[:, t] - close[:, t - 1]))
    for fill in fills.itertuples(index=False):
        out += fill.size * (close[fill.leg, t] - fill.price) - fill.commission
    return out


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_pairs_value_moves_as_the_positions_say(fill: str) -> None:
    data = _pair()
    run = backtest_pair(data, PAIRS, backend="numpy", fill=fill)
    assert run.positions.shape == (data.n_bars, 2) and len(run.fills) >= 8
    values = run.values.to_numpy()
    expected = [_value_change(data, run, t) for t in range(1, data.n_bars)]
    np.testing.assert_allclose(np.diff(values), expected, rtol=1e-9, atol=1e-6)
    for fill_row in run.fills.itertuples(index=False):  # a fill's bar counts
        before = run.positions[fill_row.bar - 1, fill_row.leg] if fill_row.bar else 0.0
        assert run.positions[fill_row.bar, fill_row.leg] == before + fill_row.size


def test_pairs_hold_a_trade_open_at_the_last_bar() -> None:
    data = _pair()
    full = backtest_pair(data, PAIRS, backend="numpy")
    held = np.flatnonzero((full.positions[:-1] != 0.0).any(axis=1))
    cut = int(held[-1])
    short = backtest_pair(_head(data, cut + 1), PAIRS, backend="numpy")
    np.testing.assert_array_equal(short.positions, full.positions[: cut + 1])
    assert (short.positions[-1] != 0.0).all()


def test_pairs_positions_cut_with_the_fill_record_are_nan() -> None:
    data = _pair()
    full = backtest_pair(data, PAIRS, backend="numpy")
    cut = backtest_pair(data, PAIRS, backend="numpy", max_fills=3)
    unknown = int(full.fills["bar"].iloc[2])
    np.testing.assert_array_equal(cut.positions[:unknown], full.positions[:unknown])
    assert np.isnan(cut.positions[unknown:]).all()

"""The residual kernel reproduces seed 000's backtest; batches equal single runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradelab.kalman import local_level_filter
from tradelab.strategies.reference import seed_residual_backtest
from tradelab.strategies.residual import (
    ResidualSettings,
    backtest_residual,
    evaluate_residual,
    residual_costs,
    seed_config,
)

CONFIGS = [
    {},  # seed 000's AggressiveConfig
    {
        "residual_z_entry": 0.5,
        "residual_z_exit": 0.3,
        "stop_loss_pct": 0.03,
        "take_profit_pct": 0.05,
        "trailing_stop_pct": 0.015,
        "position_size_pct": 0.2,
    },
    {
        "process_noise_q": 1e-3,
        "observation_noise_r": 1e-4,
        "residual_z_entry": 1.5,
        "take_profit_pct": 0.2,
        "stop_loss_pct": 0.1,
    },
    {
        "process_noise_q": 1e-5,
        "observation_noise_r": 1e-2,
        "residual_z_entry": 1.0,
        "residual_z_exit": 0.05,
        "trailing_stop_pct": 0.03,
        "position_size_pct": 0.1,
    },
]
BASE = {
    "process_noise_q": 1e-4,
    "observation_noise_r": 5e-3,
    "residual_z_entry": 0.75,
    "residual_z_exit": 0.1,
    "stop_loss_pct": 0.05,
    "take_profit_pct": 0.08,
    "trailing_stop_pct": 0.025,
    "position_size_pct": 0.15,
}


def _prices(seed: int, n: int = 1500, vol: float = 0.006) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # a volatile small cap; fat tails make stops, targets and trailing stops all happen
    steps = rng.normal(0, vol, n) + rng.standard_t(3, n) * vol / 3
    return 8.0 * np.exp(np.cumsum(steps))


@pytest.mark.parametrize(("seed", "vol"), [(0, 0.006), (1, 0.006), (2, 0.03), (3, 0.03)])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_matches_seed_backtest(seed: int, vol: float, cfg: dict[str, float]) -> None:
    prices = _prices(seed, vol=vol)
    full = {**BASE, **cfg}
    z = local_level_filter(prices, full["process_noise_q"], full["observation_noise_r"]).residual_z[
        0
    ]
    ref = seed_residual_backtest(prices, z, full)
    ours = backtest_residual(prices, full)
    for key in (
        "total_return",
        "max_drawdown",
        "win_rate",
        "profit_factor",
        "avg_trade",
        "final_equity",
    ):
        assert ours.metrics[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12), key
    assert ours.metrics["sharpe"] == pytest.approx(ref["sharpe"], rel=1e-7)
    assert ours.metrics["num_trades"] == ref["num_trades"]
    assert list(ours.trades["reason"]) == [t["reason"] for t in ref["trades"]]
    assert list(ours.trades["exit_bar"]) == [t["exit"] for t in ref["trades"]]
    np.testing.assert_allclose(ours.trades["pnl"], [t["pnl"] for t in ref["trades"]], rtol=1e-9)
    # the seed's curve: the initial capital, one point per bar from bar 60, the final close-out
    np.testing.assert_allclose(ours.equity[60:], ref["equity"][1 : 1 + len(prices) - 60])
    assert (ours.equity[:60] == 100_000.0).all()


def test_every_exit_reason_is_exercised() -> None:
    reasons: set[str] = set()
    for seed in range(3):
        for cfg in CONFIGS:
            trades = backtest_residual(_prices(seed, vol=0.03), {**BASE, **cfg}).trades
            reasons |= set(trades["reason"])
    assert reasons >= {"stop_loss", "take_profit", "trailing_stop", "mean_reversion"}


def test_batch_equals_single_runs_and_shares_filters() -> None:
    prices = _prices(5)
    columns = {k: np.array([{**BASE, **c}[k] for c in CONFIGS * 3]) for k in BASE}
    settings = ResidualSettings(bars_per_year=252 * 390 / 5)
    batch = evaluate_residual(prices, columns, settings=settings).metrics
    assert len(batch) == 12
    for i, cfg in enumerate(CONFIGS * 3):
        single = backtest_residual(prices, {**BASE, **cfg}, settings).metrics
        for key, value in single.items():
            assert batch[key].iloc[i] == pytest.approx(value, rel=1e-12, abs=1e-15), key


COSTS = ResidualSettings(cost_per_share=0.015, cost_rate=2.5e-4)


@pytest.mark.parametrize("seed", [0, 2])
def test_each_fill_pays_its_costs(seed: int) -> None:
    """Costs never move a decision (stops and targets read prices): the same trades at the same
    bars, each net of `shares * (per_share + price * rate)` on both fills, the capital too."""
    prices = _prices(seed, vol=0.03)
    free = backtest_residual(prices, BASE)
    paid = backtest_residual(prices, BASE, COSTS)
    cols = ["entry_bar", "exit_bar", "side", "reason"]
    assert len(paid.trades) > 3
    pd.testing.assert_frame_equal(paid.trades[cols], free.trades[cols])
    t = paid.trades
    fees = t["shares"] * (2 * 0.015 + (t["entry_price"] + t["exit_price"]) * 2.5e-4)
    gross = t["side"] * t["shares"] * (t["exit_price"] - t["entry_price"])
    np.testing.assert_allclose(t["pnl"], gross - fees, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(
        t["pnl_pct"], t["pnl"] / (t["shares"] * t["entry_price"]), rtol=1e-9, atol=1e-12
    )
    final = 100_000.0 + t["pnl"].sum()
    assert paid.metrics["final_equity"] == pytest.approx(final, rel=1e-12)
    assert paid.metrics["total_return"] < free.metrics["total_return"]
    # the first trade buys as many shares as without costs; later ones fewer (less capital)
    assert t["shares"].iloc[0] == free.trades["shares"].iloc[0]


def test_costs_in_a_batch_equal_single_runs() -> None:
    prices = _prices(5, vol=0.03)
    columns = {k: np.array([{**BASE, **c}[k] for c in CONFIGS]) for k in BASE}
    batch = evaluate_residual(prices, columns, settings=COSTS).metrics
    for i, cfg in enumerate(CONFIGS):
        single = backtest_residual(prices, {**BASE, **cfg}, COSTS).metrics
        for key, value in single.items():
            assert batch[key].iloc[i] == pytest.approx(value, rel=1e-12, abs=1e-15), key


def test_costs_from_a_strategy_config() -> None:
    both = {"commission": 0.005, "slippage": 0.01, "commission_bps": 0.5, "slippage_bps": 2.0}
    assert residual_costs(both) == pytest.approx({"cost_per_share": 0.015, "cost_rate": 2.5e-4})
    assert residual_costs({}) == {"cost_per_share": 0.0, "cost_rate": 0.0}  # runs before costs


def test_unsearched_parameters_take_defaults() -> None:
    prices = _prices(6)
    got = evaluate_residual(prices, {"residual_z_entry": [1.0]}, defaults={"stop_loss_pct": 0.07})
    single = backtest_residual(prices, {**BASE, "residual_z_entry": 1.0, "stop_loss_pct": 0.07})
    assert got.metrics["total_return"].iloc[0] == pytest.approx(single.metrics["total_return"])


def test_block_sums_add_up_to_the_equity_returns() -> None:
    prices = _prices(7, 1200)
    block_id = np.repeat(np.arange(6, dtype=np.int32), 200)
    block_id[:100] = -1
    columns = {"residual_z_entry": [0.75, 1.25], "stop_loss_pct": [0.05, 0.03]}
    ev = evaluate_residual(prices, columns, block_id=block_id, n_blocks=6)
    assert ev.block_n is not None and ev.block_ret_sum is not None and ev.block_ret_sq is not None
    assert list(ev.block_n) == [100, 200, 200, 200, 200, 200]
    for row in range(2):
        params = {**BASE, **{k: v[row] for k, v in columns.items()}}
        equity = backtest_residual(prices, params).equity
        rets = np.diff(equity, prepend=100_000.0) / np.concatenate([[100_000.0], equity[:-1]])
        for b in range(6):
            chosen = rets[block_id == b]
            assert ev.block_ret_sum[row, b] == pytest.approx(chosen.sum(), abs=1e-12)
            assert ev.block_ret_sq[row, b] == pytest.approx((chosen**2).sum(), abs=1e-14)


def test_short_series_and_no_trades() -> None:
    flat = np.full(50, 10.0)
    result = backtest_residual(flat)
    assert result.metrics["num_trades"] == 0
    assert result.metrics["sharpe"] == 0.0
    assert result.metrics["total_return"] == 0.0
    assert result.trades.empty


def test_seed_config_keys() -> None:
    assert list(seed_config({})) == [
        "q",
        "r",
        "z_entry",
        "z_exit",
        "stop_loss",
        "take_profit",
        "trailing_stop",
        "position_size",
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: evaluate_residual(np.array([1.0, np.nan]), {}), "close"),
        (lambda: evaluate_residual(np.array([1.0, -2.0]), {}), "close"),
        (lambda: evaluate_residual(np.ones(10), {"max_positions": [3]}), "max_positions"),
        (
            lambda: evaluate_residual(
                np.ones(10), {"stop_loss_pct": [0.1, 0.2], "take_profit_pct": [0.1]}
            ),
            "length",
        ),
        (lambda: evaluate_residual(np.ones(10), {}, block_id=np.zeros(3)), "block_id"),
    ],
)
def test_bad_input_names_the_field(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_rerun_is_identical() -> None:
    prices = _prices(8)
    columns = {k: np.array([{**BASE, **c}[k] for c in CONFIGS]) for k in BASE}
    first = evaluate_residual(prices, columns).metrics
    second = evaluate_residual(prices, columns).metrics
    pd.testing.assert_frame_equal(first, second)

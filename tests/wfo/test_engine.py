"""evaluate_combos: any index array, block sums, input checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tradelab.errors import ConfigError
from tradelab.kernels.atr_d import LANES
from tradelab.kernels.enums import METRIC_NAMES
from tradelab.search.grid import Grid
from tradelab.wfo.data import WfoData
from tradelab.wfo.engine import equal_block_id, evaluate_combos, short_atr_period
from tradelab.wfo.phases import Phase
from tradelab.wfo.reference import simulate_reference

from .conftest import make_bars, small_spec

CONF = Path(__file__).resolve().parents[2] / "conf"
PHASE = Phase("p", warmup_start=20, is_start=50, oos_start=250, oos_end=399)
GRID = {
    "atr_period": [3, 5, 8],
    "bb_dev": [1.0, 2.0],
    "atr_buy_multiplier": [0.0, 0.5, 1.0],
    "atr_multiplier": [1.0, 2.0, 3.0, 5.0, 8.0],
}


def test_any_index_order_gives_the_same_rows(bars: WfoData, rng) -> None:
    spec = small_spec("atr_d_ls")
    grid = Grid.from_config(GRID)
    full = evaluate_combos(bars, spec, grid, PHASE)
    assert grid.size == 90 and full.combos.shape == (90,)
    picked = rng.choice(grid.size, size=37, replace=False).astype(np.int64)
    part = evaluate_combos(bars, spec, grid, PHASE, picked)
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(part.metrics[name], full.metrics[name][picked])
    repeated = evaluate_combos(bars, spec, grid, PHASE, np.array([5, 5, 89, 0], dtype=np.int64))
    np.testing.assert_array_equal(
        repeated.metrics["oos_pnl"], full.metrics["oos_pnl"][[5, 5, 89, 0]]
    )


def test_more_combos_than_lanes_and_partial_blocks(bars: WfoData) -> None:
    spec = small_spec("atr_d_l")
    grid = Grid.from_config(GRID)
    res = evaluate_combos(bars, spec, grid, PHASE)
    assert grid.size % LANES != 0
    assert np.isfinite(res.metrics["is_pnl"]).all() and np.isfinite(res.metrics["oos_max_dd"]).all()
    assert (res.metrics["is_trades"] > 0).all()
    assert len(np.unique(res.metrics["oos_pnl"])) > grid.size // 2


def test_block_sums_match_reference_returns(bars: WfoData) -> None:
    spec = small_spec("atr_d_hma_l")
    grid = Grid.from_config({"atr_multiplier": [1.5, 4.0]})
    res = evaluate_combos(bars, spec, grid, PHASE, n_blocks=4)
    assert res.block_ret_sum.shape == (2, 4) and res.block_n.sum() == PHASE.n_traded
    ids = equal_block_id(PHASE.n_traded, 0, PHASE.n_traded, 4)
    for i, mult in enumerate([1.5, 4.0]):
        ref = simulate_reference(bars, spec, {"atr_multiplier": mult}, PHASE)
        r = ref.equity[1:] / ref.equity[:-1] - 1.0
        expected = np.bincount(ids, weights=r, minlength=4)
        np.testing.assert_allclose(res.block_ret_sum[i], expected, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(
            res.block_ret_sq[i], np.bincount(ids, weights=r * r, minlength=4), rtol=1e-9
        )


def test_explicit_block_id_over_the_data(bars: WfoData) -> None:
    spec = small_spec("atr_d_l")
    grid = Grid.from_config({"atr_multiplier": [2.0, 3.0]})
    block_id = np.full(bars.n_bars, -1, dtype=np.int32)
    block_id[PHASE.oos_start : PHASE.oos_end + 1] = 0  # one block: the OOS window
    res = evaluate_combos(bars, spec, grid, PHASE, n_blocks=1, block_id=block_id)
    assert res.block_n.tolist() == [PHASE.n_oos]
    oos_sharpe_mean = res.block_ret_sum[:, 0] / PHASE.n_oos
    assert np.all(np.sign(oos_sharpe_mean) == np.sign(res.metrics["oos_sharpe"]))


def test_costs_reduce_pnl(bars: WfoData) -> None:
    grid = Grid.from_config({"atr_multiplier": [1.0, 2.0]})
    free = evaluate_combos(bars, small_spec("atr_d_l", commission=0.0, slippage=0.0), grid, PHASE)
    paid = evaluate_combos(bars, small_spec("atr_d_l", commission=0.05, slippage=0.05), grid, PHASE)
    assert (paid.metrics["is_pnl"] < free.metrics["is_pnl"]).all()


def test_bad_inputs_raise_typed_errors(bars: WfoData) -> None:
    spec = small_spec("atr_d_l")
    with pytest.raises(ConfigError, match="hma_fast"):
        evaluate_combos(bars, spec, Grid.from_config({"hma_fast": [4]}), PHASE)
    with pytest.raises(ConfigError, match="atr_period"):
        evaluate_combos(bars, spec, Grid.from_config({"atr_period": [0]}), PHASE)
    with pytest.raises(ConfigError, match="atr_period"):  # 40 bars of ATR with 30 warmup bars
        evaluate_combos(bars, spec, Grid.from_config({"atr_period": [40]}), PHASE)
    with pytest.raises(IndexError):
        evaluate_combos(bars, spec, Grid.from_config({"atr_period": [3]}), PHASE, np.array([1]))
    no_second = make_bars(400, seed=1, dual=False)
    with pytest.raises(ConfigError, match="symbol2"):
        evaluate_combos(
            no_second, small_spec("atr_d_duals_l"), Grid.from_config({"atr_period": [3]}), PHASE
        )
    with pytest.raises(ConfigError, match="beyond"):
        evaluate_combos(
            bars, spec, Grid.from_config({"atr_period": [3]}), Phase("x", 0, 30, 300, 900)
        )


def test_dual_variant_reads_bollinger_width_from_data2(bars: WfoData) -> None:
    grid = Grid.from_config({"vol_threshold": [0.02, 0.2], "atr_multiplier": [2.0, 6.0]})
    single = evaluate_combos(bars, small_spec("atr_d_l"), grid, PHASE)
    dual = evaluate_combos(bars, small_spec("atr_d_duals_l"), grid, PHASE)
    swapped = WfoData(
        bars.timestamps, bars.open, bars.high, bars.low, bars.close, close2=bars.close
    )
    same = evaluate_combos(swapped, small_spec("atr_d_duals_l"), grid, PHASE)
    np.testing.assert_array_equal(same.metrics["oos_pnl"], single.metrics["oos_pnl"])
    assert not np.array_equal(dual.metrics["oos_pnl"], single.metrics["oos_pnl"])


def test_short_atr_period_rounds_half_up() -> None:
    assert short_atr_period(14, 0.6) == 8
    assert short_atr_period(5, 0.5) == 3
    assert short_atr_period(2, 0.1) == 1


def test_seed_scale_grid_indices_decode_in_the_kernel() -> None:
    """Indices near the end of a >= 58M grid decode inside the kernel like Grid.decode."""
    from omegaconf import OmegaConf

    from tradelab.settings import from_plain
    from tradelab.wfo.settings import GridConfig
    from tradelab.wfo.strategy import grid_for_strategy, grid_from_config

    conf = OmegaConf.to_container(OmegaConf.load(CONF / "grid" / "full.yaml"))
    conf.pop("defaults")
    spec = small_spec("atr_d_l")
    grid = grid_for_strategy(grid_from_config(from_plain(GridConfig, conf)), spec)
    assert grid.size >= 58_000_000
    data = make_bars(420, seed=12)
    phase = Phase("p", warmup_start=0, is_start=100, oos_start=300, oos_end=419)
    combos = np.array([grid.size - 1, 0, grid.size // 2, 58_000_001], dtype=np.int64)
    res = evaluate_combos(data, spec, grid, phase, combos)
    decoded = grid.decode(combos)
    for i in range(combos.size):
        ref = simulate_reference(data, spec, {k: v[i] for k, v in decoded.items()}, phase)
        assert res.metrics["oos_pnl"][i] == pytest.approx(ref.metrics["oos_pnl"], rel=1e-9)
        assert res.metrics["is_trades"][i] == ref.metrics["is_trades"]

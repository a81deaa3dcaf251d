"""Bias checks of every strategy kernel (property tests): no look-ahead in the WFO family, the
residual and the pairs strategies; windowed indicators ignore older history exactly; EMA and
Kalman recursions forget their start geometrically (measured against a tolerance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.wfo.conftest import make_bars, small_spec
from tradelab.kalman import local_level_filter
from tradelab.robustness.bias import warmup_check
from tradelab.search.grid import Grid
from tradelab.strategies.bias import pairs_bias_check, residual_bias_check
from tradelab.strategies.pairs import PairData
from tradelab.strategies.residual import ResidualSettings
from tradelab.wfo.bias import wfo_bias_check
from tradelab.wfo.phases import Phase

PROPERTY = settings(max_examples=8, deadline=None, derandomize=True, database=None)
KINDS = ["atr_d_l", "atr_d_ls", "atr_d_hma_l", "atr_d_hma_ls", "atr_d_duals_l", "atr_d_duals_ls"]


def _mean_reverting_closes(n: int, seed: int, level: float = 20.0) -> np.ndarray:
    """A random walk plus an AR(1) wiggle, so z-score strategies trade often."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0.0, 0.002, n))
    wiggle = np.zeros(n)
    for t in range(1, n):
        wiggle[t] = 0.9 * wiggle[t - 1] + rng.normal(0.0, 0.004)
    return level * np.exp(walk + wiggle)


def _pair(n: int, seed: int, beta: float = 0.6) -> PairData:
    rng = np.random.default_rng(seed)
    b = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    spread = np.zeros(n)
    for t in range(1, n):
        spread[t] = 0.85 * spread[t - 1] + rng.normal(0.0, 0.6)
    a = beta * b + spread + 5.0
    times = pd.date_range("2020-01-02", periods=n, freq="B", tz="UTC")
    return PairData.from_series(
        pd.Series(a, index=times, name="AAA"), pd.Series(b, index=times, name="BBB")
    )


# -- look-ahead ----------------------------------------------------------------------------


@pytest.mark.slow  # compiles the six trace kernels when the numba cache is cold
@PROPERTY
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 10_000))
def test_wfo_kernels_take_no_decision_from_later_bars(kind: str, seed: int) -> None:
    data = make_bars(420, seed=seed, vol=0.02)
    spec = small_spec(kind)
    levels = {
        "atr_multiplier": [1.0, 2.5, 5.0],
        "atr_buy_multiplier": [0.0, 0.6],
        "entry_mode": [0, 2],
    }
    grid = Grid.from_config({k: v for k, v in levels.items() if k in spec.param_names})
    phases = [Phase("p", 0, 40, 250, 419)]
    report = wfo_bias_check(data, spec, grid, phases, n_combos=4, n_cuts=3, seed=seed)
    look = report.lookahead[0]
    assert look.passed, look.examples
    assert not look.vacuous


@PROPERTY
@given(
    seed=st.integers(0, 10_000),
    z_entry=st.floats(0.5, 1.5),
    z_exit=st.floats(0.0, 0.5),
    stop=st.floats(0.01, 0.05),
)
def test_residual_strategy_takes_no_decision_from_later_bars(
    seed: int, z_entry: float, z_exit: float, stop: float
) -> None:
    close = _mean_reverting_closes(700, seed)
    columns = {
        "residual_z_entry": [z_entry, z_entry + 0.5],
        "residual_z_exit": [z_exit] * 2,
        "stop_loss_pct": [stop] * 2,
        "process_noise_q": [1e-4, 1e-3],
    }
    report = residual_bias_check(close, columns, n_cuts=4, seed=seed)
    look = report.lookahead[0]
    assert look.passed, look.examples
    assert not look.vacuous and look.n_combos == 2


@PROPERTY
@given(
    seed=st.integers(0, 10_000),
    entry_z=st.floats(1.0, 2.0),
    window=st.sampled_from([10, 20, 40]),
    long_only=st.booleans(),
)
def test_pairs_strategy_takes_no_decision_from_later_bars(
    seed: int, entry_z: float, window: int, long_only: bool
) -> None:
    data = _pair(500, seed)
    columns = {
        "entry_z": [entry_z],
        "window": [window],
        "long_only": [float(long_only)],
        "exit_z": [0.3],
        "stop_z": [4.0],
        "R": [0.5],
    }
    report = pairs_bias_check(data, columns, n_cuts=4, seed=seed)
    look = report.lookahead[0]
    assert look.passed, look.examples
    assert not look.vacuous


# -- warmup --------------------------------------------------------------------------------


@PROPERTY
@given(
    seed=st.integers(0, 10_000), kind=st.sampled_from(["atr_d_l", "atr_d_hma_l", "atr_d_duals_l"])
)
def test_windowed_wfo_indicators_ignore_older_history_exactly(seed: int, kind: str) -> None:
    data = make_bars(700, seed=seed)
    spec = small_spec(kind)
    grid = Grid.from_config({"atr_period": [3, 8], "bb_period": [5, 10], "atr_multiplier": [2.0]})
    phases = [Phase("p", 560, 600, 650, 699)]
    report = wfo_bias_check(data, spec, grid, phases, n_combos=2, extra_bars=500, seed=seed)
    warm = report.warmup[0]
    assert not warm.skipped and warm.extra == 500
    assert warm.max_rel_diff == 0.0  # exact window sums: not a single rounding differs
    assert warm.decision_changes == 0


@PROPERTY
@given(seed=st.integers(0, 10_000), period=st.integers(5, 40))
def test_ema_trend_forgets_its_seed_geometrically(seed: int, period: int) -> None:
    data = make_bars(900, seed=seed)
    spec = small_spec("atr_d_ls")
    grid = Grid.from_config(
        {"ema_period": [period], "ema_slope_bars": [2], "atr_multiplier": [2.5]}
    )

    def rel_diff(warmup: int) -> float:
        phases = [Phase("p", 640 - warmup, 640, 800, 899)]
        report = wfo_bias_check(data, spec, grid, phases, n_combos=1, extra_bars=640 - warmup)
        return report.warmup[0].max_rel_diff

    # warmups of at least the baseline ATR's 20 bars; the seed's error shrinks by
    # (1 - 2 / (period + 1)) per bar, so 8 periods leave ~e^-16 of it
    short, long = rel_diff(max(2 * period, 20)), rel_diff(max(8 * period, 100))
    assert long <= 1e-4
    assert long <= short
    assert short > 0.0  # an EMA never forgets exactly: the check does measure something


@PROPERTY
@given(seed=st.integers(0, 10_000), log_ratio=st.floats(-3.0, 0.0), log_r=st.floats(-3.0, -1.0))
def test_local_level_filter_converges_after_a_long_warmup(
    seed: int, log_ratio: float, log_r: float
) -> None:
    close = _mean_reverting_closes(1400, seed)
    r = 10.0**log_r
    q = r * 10.0**log_ratio

    def series(first: int) -> dict[str, np.ndarray]:
        return {"residual_z": local_level_filter(close[first:], q, r, lookback=50).residual_z[0]}

    short = warmup_check(series, 1000, 60, 940, tolerance=0.05)
    long = warmup_check(series, 1000, 400, 600, tolerance=0.05)
    assert long.max_rel_diff <= 0.01
    assert long.max_rel_diff <= short.max_rel_diff + 1e-12


def test_residual_check_flags_a_slow_filter_on_the_default_warmup() -> None:
    close = _mean_reverting_closes(1600, seed=11)
    slow = {"process_noise_q": [1e-6], "observation_noise_r": [5e-3]}  # gain ~ sqrt(q / r)
    default = residual_bias_check(close, slow, start=1100)  # 60 warmup bars
    assert not default.passed and not default.warmup[0].passed
    assert default.warmup[0].max_rel_diff > 0.2
    longer = ResidualSettings(warmup_bars=300)
    report = residual_bias_check(close, slow, settings=longer, start=1100)
    assert report.passed, report.rows()
    assert report.warmup[0].max_rel_diff < 0.01


def test_pairs_hedge_ratio_and_spread_z_converge_within_the_window() -> None:
    data = _pair(1200, seed=12)
    columns = {"delta": [1e-6, 1e-5, 1e-4], "R": [1e-3, 1e-2, 1e-1], "window": [20, 40, 60]}
    report = pairs_bias_check(data, columns, n_sets=3, start=800, tolerance=0.01)
    warm = report.warmup[0]
    assert report.passed, report.rows()
    assert warm.warmup == 60 and warm.extra == 500
    assert {s.name.split("[")[0] for s in warm.series} == {"beta", "spread_z"}


@pytest.mark.parametrize("bad", [{"n_combos": 0}, {"extra_bars": 0}])
def test_wfo_check_rejects_bad_settings(bad: dict) -> None:
    data = make_bars(300, seed=1)
    spec = small_spec("atr_d_l")
    grid = Grid.from_config({"atr_multiplier": [2.0]})
    with pytest.raises(ValueError, match=next(iter(bad))):
        wfo_bias_check(data, spec, grid, [Phase("p", 0, 40, 200, 299)], **bad)

"""Kalman benchmarks: batched filters, the residual kernel, and the pairs grid vs backtrader.

1. Local-level filter steps/s per core (numba, one thread) against a per-step Python loop like
   seed 000's `kalman_filter_gpu` on its CPU path. A filter step is one (parameter set, bar)
   update writing level, residual, variance and slope; `+z` also writes the rolling z-score.
2. Residual strategy: parameter-set x bar steps/s of the batched kernel against seed 000's
   per-trial Python backtest.
3. Pairs: seed 001's 72-combination grid on ~5 years of daily closes through backtrader (seed
   001's strategy, `--bt-combos` of the 72 timed and scaled to 72 unless `--full`) against one
   batched kernel call; the timed combinations must agree to the cent.

Run: `.venv/bin/python bench/kalman.py` (add `--quick` for a smoke run).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numba
import numpy as np
import pandas as pd

from tradelab.kalman import local_level_filter
from tradelab.kalman.numba_backend import block_width, local_level_tm_nb
from tradelab.strategies.pairs import PairData, evaluate_pairs
from tradelab.strategies.reference import run_backtrader, seed_residual_backtest
from tradelab.strategies.residual import ResidualSettings, evaluate_residual
from tradelab.strategies.settings import KalmanPairsStudyConfig, KalmanResidualStudyConfig

SEED_GRID = KalmanPairsStudyConfig().space  # the seed's 72-combination grid


def best_time(fn: Callable[[], object], repeat: int, min_time: float = 0.2) -> float:
    """Return the best per-call time over `repeat` rounds of enough calls to last `min_time`."""
    fn()
    calls, elapsed = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time:
            break
        calls *= 2
    best = elapsed / calls
    for _ in range(repeat - 1):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def seed_filter_loop(prices: np.ndarray, q: float, r: float) -> dict[str, np.ndarray]:
    """Seed 000's filter (NumPy path): one Python iteration per bar, then the z-score loop."""
    xp = np
    n = len(prices)
    prices_x = xp.asarray(prices, dtype=xp.float64)
    levels, residuals, variances = xp.zeros(n), xp.zeros(n), xp.zeros(n)
    x, p = float(prices_x[0]), 1.0
    for i in range(n):
        p_pred = p + q
        k = p_pred / (p_pred + r)
        x = x + k * (float(prices_x[i]) - x)
        p = (1 - k) * p_pred
        levels[i], residuals[i], variances[i] = x, prices_x[i] - x, p
    slopes = xp.diff(levels, prepend=levels[0])
    z = xp.zeros(n)
    for i in range(50, n):
        window = residuals[i - 50 : i]
        z[i] = (residuals[i] - xp.mean(window)) / (xp.std(window) + 1e-10)
    return {"levels": levels, "residuals": residuals, "slopes": slopes, "residual_z": z}


def seed_filter_only(prices: np.ndarray, q: float, r: float) -> np.ndarray:
    """The per-step part of the seed's filter alone (no z-score)."""
    n = len(prices)
    levels, residuals, variances = np.zeros(n), np.zeros(n), np.zeros(n)
    x, p = float(prices[0]), 1.0
    for i in range(n):
        p_pred = p + q
        k = p_pred / (p_pred + r)
        x = x + k * (float(prices[i]) - x)
        p = (1 - k) * p_pred
        levels[i], residuals[i], variances[i] = x, prices[i] - x, p
    return levels


def _filter_rates(
    prices: np.ndarray, q: np.ndarray, r: np.ndarray, repeat: int
) -> tuple[float, float]:
    """Return filter steps/s without and with the rolling z-score."""
    n_bars, n_sets = prices.shape[0], q.shape[0]
    outs = [np.empty((n_bars, n_sets)) for _ in range(5)]
    no_z = np.empty((0, n_sets))
    width = block_width(n_sets)

    def run(z: np.ndarray) -> None:
        local_level_tm_nb(prices, q, r, prices[0], 1.0, 50, 1e-10, width, *outs[:4], z)

    steps = n_sets * n_bars
    rate = steps / best_time(lambda: run(no_z), repeat)
    rate_z = steps / best_time(lambda: run(outs[4]), repeat)
    return rate, rate_z


def bench_filter(quick: bool) -> None:
    print("== 1. batched local-level filter, numba, 1 thread ==")
    numba.set_num_threads(1)
    rng = np.random.default_rng(0)
    base_prices = 10.0 * np.exp(np.cumsum(rng.normal(0, 0.003, 2340)))
    t_seed = best_time(lambda: seed_filter_loop(base_prices, 1e-4, 5e-3), 2 if quick else 3)
    t_seed_f = best_time(lambda: seed_filter_only(base_prices, 1e-4, 5e-3), 3)
    seed_rate = 2340 / t_seed
    seed_rate_f = 2340 / t_seed_f
    print(
        f"seed per-step loop, 2,340 bars:   {seed_rate:12.3e} steps/s with z, "
        f"{seed_rate_f:.3e} filter only"
    )
    sizes = (
        [(256, 2340), (64, 20_000)]
        if quick
        else [(256, 2340), (1024, 2340), (64, 20_000), (256, 20_000)]
    )
    for n_sets, n_bars in sizes:
        prices = 10.0 * np.exp(np.cumsum(rng.normal(0, 0.003, n_bars)))
        q = rng.uniform(1e-5, 1e-3, n_sets)
        r = rng.uniform(1e-4, 1e-2, n_sets)
        rate, rate_z = _filter_rates(prices, q, r, 3 if quick else 5)
        steps = n_sets * n_bars
        mb = 5 * steps * 8 / 2**20
        print(
            f"{n_sets:5d} sets x {n_bars:6d} bars ({mb:5.0f} MB out): {rate:10.3e} steps/s "
            f"(x{rate / seed_rate_f:8.0f} vs seed loop), +z {rate_z:10.3e} "
            f"(x{rate_z / seed_rate:8.0f})"
        )
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def bench_residual(quick: bool) -> None:
    print("== 2. residual strategy kernel (seed 000), one symbol, 5-minute bars ==")
    rng = np.random.default_rng(1)
    n_bars = 78 * 30  # one month of 5-minute bars
    prices = 8.0 * np.exp(np.cumsum(rng.normal(0, 0.004, n_bars)))
    space = KalmanResidualStudyConfig().space  # seed 000 ranges
    grid = pd.MultiIndex.from_product(space.values(), names=list(space)).to_frame(index=False)
    n_sets = 10_000 if quick else len(grid)
    sample = grid.sample(n=n_sets, random_state=0) if n_sets < len(grid) else grid
    columns = {k: sample[k].to_numpy() for k in space}
    settings = ResidualSettings()
    t_ours = best_time(lambda: evaluate_residual(prices, columns, settings=settings), 2)
    first = {k: float(v[0]) for k, v in columns.items()}

    def seed_trial() -> None:
        z = seed_filter_loop(prices, first["process_noise_q"], first["observation_noise_r"])
        seed_residual_backtest(prices, z["residual_z"], first)

    t_seed = best_time(seed_trial, 2)
    z = local_level_filter(prices, first["process_noise_q"], first["observation_noise_r"])
    ref = seed_residual_backtest(prices, z.residual_z[0], first)
    got = evaluate_residual(prices, {k: v[:1] for k, v in columns.items()}, settings=settings)
    assert abs(got.metrics["total_return"].iloc[0] - ref["total_return"]) < 1e-9
    rate = n_sets * n_bars / t_ours
    print(f"seed per-trial loop (filter + backtest): {1 / t_seed:10.1f} trials/s")
    print(
        f"batched kernel, {n_sets:,} sets x {n_bars} bars: {n_sets / t_ours:10.3e} trials/s "
        f"({rate:.3e} set-bars/s), x{t_seed * n_sets / t_ours:,.0f} vs seed"
    )


def bench_pairs(quick: bool, bt_combos: int, full: bool) -> None:
    print("== 3. pairs: seed 001's 72-combination grid, kernel vs backtrader ==")
    rng = np.random.default_rng(2)
    n = 1255  # ~5 years of daily closes, as in the seed
    times = pd.bdate_range("2020-12-08", periods=n, tz="UTC")
    spy = 370 * np.exp(np.cumsum(rng.normal(0.0003, 0.011, n)))
    noise = np.zeros(n)
    for t in range(1, n):
        noise[t] = 0.97 * noise[t - 1] + rng.normal(0, 2.0)
    dia = 0.57 * spy + 88.8 + noise
    data = PairData.from_series(
        pd.Series(dia, times, name="DIA"), pd.Series(spy, times, name="SPY")
    )
    grid = pd.MultiIndex.from_product(SEED_GRID.values(), names=list(SEED_GRID)).to_frame(
        index=False
    )
    columns = {k: grid[k].to_numpy() for k in SEED_GRID}
    beta0 = 0.5698

    def ours() -> pd.DataFrame:
        return evaluate_pairs(data, columns, beta0=beta0).metrics

    result = ours()
    numba.set_num_threads(1)
    t_one = best_time(ours, 5)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    t_all = best_time(ours, 5)
    combos = range(72) if full else np.linspace(0, 71, bt_combos).round().astype(int)
    legs = (data.open_a, data.close_a, data.open_b, data.close_b)
    t0 = time.perf_counter()
    worst = 0.0
    for i in combos:
        params = {k: grid[k].iloc[i].item() for k in SEED_GRID}
        ref = run_backtrader(data.times, legs, hedge_ratio=beta0, **params)
        worst = max(worst, abs(ref["value"] - result["final_value"].iloc[i]))
        assert ref["closed"] == result["num_trades"].iloc[i]
    t_bt = (time.perf_counter() - t0) / len(combos) * 72
    assert worst < 0.01, f"final values differ by {worst}"
    print(
        f"backtrader: {len(combos)} combos timed, 72-grid {t_bt:8.2f} s "
        f"({72 * n / t_bt:,.0f} bar-evaluations/s); max |value diff| {worst:.2e}"
    )
    print(
        f"kernel, 1 thread:  72-grid {t_one * 1e3:8.3f} ms ({72 * n / t_one:.3e} bar-evals/s), "
        f"x{t_bt / t_one:,.0f} vs backtrader"
    )
    print(
        f"kernel, {numba.config.NUMBA_NUM_THREADS} threads: 72-grid {t_all * 1e3:8.3f} ms "
        f"({72 * n / t_all:.3e} bar-evals/s), x{t_bt / t_all:,.0f} vs backtrader"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--bt-combos", type=int, default=8, help="backtrader runs to time")
    parser.add_argument("--full", action="store_true", help="run all 72 through backtrader")
    args = parser.parse_args()
    print(f"numba threads: {numba.config.NUMBA_NUM_THREADS}; timings are best-of-N")
    bench_filter(args.quick)
    bench_residual(args.quick)
    bench_pairs(args.quick, max(2, args.bt_combos), args.full)


if __name__ == "__main__":
    main()

"""WFO engine benchmark: bar-evaluations per second per core, phase1_slim x 4 phases, first calls.

    python bench/wfo.py [--combos 65536] [--baseline-combos 8192] [--skip-throughput]
                        [--skip-sweep] [--skip-first-call]

1. For each ATR-D variant, one 10-year phase (6y IS / 4y OOS after 100 warmup bars) of
   synthetic random-walk daily bars: the numba kernel on one thread against a straightforward
   NumPy implementation of the same rules (bars in a Python loop, combinations vectorized),
   measured in this process; the ratio is printed, and the two must agree on PnL. A last row
   runs atr_d_l with atr_period varying fastest, so that the lanes of a block read different
   indicator columns (the kernels' general path; grid order usually avoids it).
2. `run_wfo` of atr_d_l over `conf/grid/phase1_slim.yaml` (~1M combinations) x the four
   default phases on 16 years of bars, all threads, results cached to a temporary folder.
3. First-call latency of each variant's kernels (simulate, then trace) in a fresh process:
   cold with an empty temporary `NUMBA_CACHE_DIR` (compiles), then warm in another fresh process
   with the cache the cold run filled (loads; target < 1 s).

Throughput counts simulated (combination, traded bar) pairs; timings are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import yaml

from tradelab.kernels.atr_d import LANES, TREND_EMA, TREND_HMA
from tradelab.kernels.enums import Param
from tradelab.search.grid import Grid
from tradelab.settings import from_plain
from tradelab.wfo import (
    Phase,
    StrategySpec,
    WfoData,
    grid_for_strategy,
    grid_from_config,
    phases_from_config,
    run_wfo,
    strategy_from_config,
)
from tradelab.wfo.engine import PreparedPhase, prepare_phase, run_prepared, trace_combos
from tradelab.wfo.settings import GridConfig, PhasesConfig, StrategyConfig

CONF = Path(__file__).resolve().parents[1] / "conf"
VARIANTS = ["atr_d_l", "atr_d_ls", "atr_d_hma_l", "atr_d_hma_ls", "atr_d_duals_l", "atr_d_duals_ls"]


def synthetic_bars(years: float, seed: int = 42) -> WfoData:
    """Random-walk daily bars (and a correlated second symbol) ending on a fixed date."""
    rng = np.random.default_rng(seed)
    n = int(years * 261)  # business days
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.013, n)))
    prev = np.concatenate([[100.0], close[:-1]])
    open_ = prev * np.exp(rng.normal(0.0, 0.004, n))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.006, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.006, n)))
    close2 = close * np.exp(np.cumsum(rng.normal(0.0, 0.004, n)))
    days = np.busday_offset("2026-10-30", -np.arange(n)[::-1], roll="backward")
    return WfoData(days.astype("datetime64[ns]"), open_, high, low, close, close2=close2)


def _load(group: str, name: str) -> dict:
    cfg = yaml.safe_load((CONF / group / f"{name}.yaml").read_text())
    cfg.pop("defaults", None)
    return cfg


def _strategy(name: str) -> StrategySpec:
    return strategy_from_config(from_plain(StrategyConfig, _load("strategy", name), "strategy"))


def _grid(params: dict) -> Grid:
    return grid_from_config(GridConfig(params=params))


def _phases(layout: dict, timestamps: np.ndarray) -> list[Phase]:
    return phases_from_config(from_plain(PhasesConfig, layout, "phases"), timestamps)


def numpy_sweep(prep: PreparedPhase, combos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same strategy in plain NumPy: bars in a Python loop, combinations as vectors.

    Returns (is_pnl, oos_pnl). Per-bar metrics (returns, their sums, drawdowns) are kept
    like the kernel does, so both do the same work.
    """
    op, hi, lo, cl = prep.bars
    atr, bbw, trd = prep.ind
    strides, radix, values, atr_row, atr_row_s, base_row, bbw_row, trd_row = prep.tables
    c = prep.consts
    t_first, t_bound, t_last = c.t_first, c.t_bound, c.t_last
    trend_kind, fixed_mode = c.trend_kind, c.fixed_mode
    capital, frac, comm, slip = c.capital, c.position_fraction, c.commission, c.slippage
    d = (combos[:, None] // strides[None, :]) % radix[None, :]

    def val(p: int) -> np.ndarray:
        return values[p, d[:, p]]

    short = prep.strategy.kind.value.endswith("_ls")
    c_atr = atr_row[d[:, Param.atr_period]]
    c_atrs = atr_row_s[d[:, Param.atr_period], d[:, Param.short_mult]]
    c_base = base_row[d[:, Param.baseline_period]]
    c_bbw = bbw_row[d[:, Param.bb_period], d[:, Param.bb_dev]]
    if trend_kind == TREND_HMA:
        c_trd = trd_row[d[:, Param.hma_fast], d[:, Param.hma_slow]]
        tlim, slim = np.zeros(len(combos)), np.zeros(len(combos))
    else:
        c_trd = trd_row[d[:, Param.ema_period], d[:, Param.ema_slope_bars]]
        tlim = np.full(len(combos), -np.inf)
        slim = (
            -val(Param.ema_slope_min) if trend_kind == TREND_EMA else np.full(len(combos), np.inf)
        )
    mode = (
        np.full(len(combos), fixed_mode) if fixed_mode >= 0 else val(Param.entry_mode).astype(int)
    )
    mult, bmult = val(Param.atr_multiplier), val(Param.atr_buy_multiplier)
    mults = mult * val(Param.short_mult)
    invt, floor, scal = (
        1.0 / val(Param.vol_threshold),
        val(Param.tighten_floor),
        val(Param.bb_scaling),
    )
    maxs, delay = val(Param.max_stop_atr), val(Param.reentry_delay)

    n = len(combos)
    q, cash = np.zeros(n), np.full(n, capital)
    stop, ext, ref, cost = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    tl, ts, since = np.full(n, -np.inf), np.full(n, np.inf), np.full(n, 1e18)
    prev, peak, mdd, sr, sr2 = (
        np.full(n, capital),
        np.full(n, capital),
        np.zeros(n),
        np.zeros(n),
        np.zeros(n),
    )
    is_eq = None
    for t in range(t_first - 1, t_last + 1):
        a, ab, w, a_s, tr = (
            atr[t, c_atr],
            atr[t, c_base],
            bbw[t, c_bbw],
            atr[t, c_atrs],
            trd[t, c_trd],
        )
        ot, ht, lt, ct = op[t], hi[t], lo[t], cl[t]
        islong, isshort = q > 0, q < 0
        ex = (islong & (lt <= stop)) | (isshort & (ht >= stop))
        enl = ~ex & (lt <= tl)
        ens = ~ex & ~enl & (ht >= ts)
        xp = np.where(islong, np.minimum(ot, stop) - slip, np.maximum(ot, stop) + slip)
        lraw, sraw = np.minimum(ot, tl), np.maximum(ot, ts)
        cls = ex | (enl & isshort) | (ens & islong)
        en = enl | ens
        clp = np.where(ex, xp, np.where(enl, lraw + slip, sraw - slip))
        clp = np.where(cls, clp, ct)
        aq = np.abs(q)
        cash = np.where(cls, cash + q * clp - aq * comm, cash)
        q = np.where(cls, 0.0, q)
        opx = np.where(en, np.where(enl, lraw + slip, sraw - slip), ct)
        sh = frac * cash / opx
        nq = np.where(enl, sh, -sh)
        cash = np.where(en, cash - nq * opx - sh * comm, cash)
        q = np.where(en, nq, q)
        ref = np.where(en, opx, ref)
        cost = np.where(en, sh * comm, cost)
        since = np.where(ex, 0.0, since)
        eq = cash + q * ct
        r = eq / prev - 1.0
        prev = eq
        sr += r
        sr2 += r * r
        peak = np.maximum(peak, eq)
        mdd = np.maximum(mdd, peak - eq)
        rr = w * invt
        sc = np.where(scal == 0, rr, np.where(scal == 1, np.sqrt(rr), rr * rr))
        tight = np.where(rr < 1.0, np.maximum(floor, sc), 1.0)
        cap = maxs * ab
        dl = np.minimum(a * mult * tight, cap)
        ds = np.minimum(a_s * mults * tight, cap)
        islong = q > 0
        oraw = np.where(enl, lraw, sraw)
        ext_entry = np.where(enl, np.maximum(oraw, ct), np.minimum(oraw, ct))
        ext = np.where(en, ext_entry, np.where(islong, np.maximum(ext, ht), np.minimum(ext, lt)))
        sl = np.where(en, ext - dl, np.maximum(stop, ext - dl))
        ss = np.where(en, ext + ds, np.minimum(stop, ext + ds))
        stop = np.where(islong, sl, ss)
        armed = (q == 0) & (since >= delay)
        if short:
            allow_l = (armed | ((q < 0) & (mode >= 1))) & (tr > tlim)
            allow_s = (armed | ((q > 0) & (mode >= 2))) & (tr < slim)
            ts = np.where(allow_s, ct + bmult * a_s, np.inf)
        else:
            allow_l = armed & (tr > tlim) if trend_kind == TREND_HMA else armed
        tl = np.where(allow_l, ct - bmult * a, -np.inf)
        since = since + 1.0
        if t == t_bound:
            is_eq = eq.copy()
    return is_eq - capital, prev - is_eq


def _phase_10y(data: WfoData) -> Phase:
    layout = {"warmup_bars": 100, "phases": [{"name": "p10y", "is_years": 6, "oos_years": 4}]}
    return _phases(layout, data.timestamps)[0]


def _bench_one(label: str, prep: PreparedPhase, n_combos: int, n_base: int) -> None:
    """Print one row: best of 3 kernel runs on one thread against the NumPy baseline."""
    n_traded = prep.phase.n_traded
    combos = np.arange(min(n_combos, prep.grid.size), dtype=np.int64)
    run_prepared(prep, combos[:64])  # compile / load
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        out, _, _ = run_prepared(prep, combos)
        best = max(best, combos.size * n_traded / (time.perf_counter() - t0))
    base_combos = combos[:n_base]
    t0 = time.perf_counter()
    is_pnl, oos_pnl = numpy_sweep(prep, base_combos)
    base = base_combos.size * n_traded / (time.perf_counter() - t0)
    diff = max(np.abs(is_pnl - out[0, :n_base]).max(), np.abs(oos_pnl - out[1, :n_base]).max())
    print(f"{label:<16}{best:>20.3e}{base:>20.3e}{best / base:>8.0f}x{diff:>12.2e}")


def bench_variants(data: WfoData, n_combos: int, n_base: int) -> None:
    slim_cfg = _load("grid", "phase1_slim")
    slim = _grid(slim_cfg["params"])
    phase = _phase_10y(data)
    print(
        f"\n1) one phase of {phase.n_traded} traded bars "
        f"({phase.n_is} IS + {phase.n_oos} OOS), one thread"
    )
    print(
        f"{'variant':<16}{'kernel bar-evals/s':>20}{'numpy bar-evals/s':>20}"
        f"{'ratio':>9}{'max |dPnL|':>12}"
    )
    numba.set_num_threads(1)
    for name in VARIANTS:
        spec = _strategy(name)
        grid = grid_for_strategy(slim, spec)
        _bench_one(name, prepare_phase(data, spec, grid, phase), n_combos, n_base)
    # the same grid with atr_period varying fastest: lanes of a block read different ATR
    # columns, which takes the kernels' general (per-lane indicator) path
    params = dict(slim_cfg["params"])
    params["atr_period"] = params.pop("atr_period")
    spec = _strategy("atr_d_l")
    grid = grid_for_strategy(_grid(params), spec)
    _bench_one("atr_d_l mixed*", prepare_phase(data, spec, grid, phase), n_combos, n_base)
    print("* atr_period varying fastest: the lanes of a block read different indicator columns")
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def bench_sweep(data: WfoData) -> None:
    spec = _strategy("atr_d_l")
    grid = grid_for_strategy(_grid(_load("grid", "phase1_slim")["params"]), spec)
    phases = _phases(_load("phases", "default"), data.timestamps)
    bars = sum(p.n_traded for p in phases)
    threads = numba.get_num_threads()
    print(
        f"\n2) run_wfo atr_d_l x phase1_slim ({grid.size:,} combinations) x {len(phases)} phases "
        f"({bars} traded bars per combination), {threads} threads"
    )
    small = grid_for_strategy(_grid({"atr_period": [10]}), spec)
    run_wfo(data, spec, small, phases, progress=False)  # compile / load outside the timing
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_wfo(data, spec, grid, phases, cache_dir=tmp, progress=False)
        wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_wfo(data, spec, grid, phases, cache_dir=tmp, progress=False)
        cached = time.perf_counter() - t0
    print(
        f"wall {wall:.1f} s (target <= 120 s); {res.combos_per_s:,.0f} combinations/s; "
        f"{res.bar_evals_per_s:.3e} bar-evals/s ({res.bar_evals_per_s / threads:.3e} per thread); "
        f"rerun from cache {cached:.2f} s"
    )


def first_call(name: str) -> None:
    """Child process: time the first simulate and trace kernel calls of `name`; print JSON."""
    data = synthetic_bars(10.5)
    spec = _strategy(name)
    grid = grid_for_strategy(_grid({"atr_period": [10, 14]}), spec)
    phase = _phase_10y(data)
    prep = prepare_phase(data, spec, grid, phase)  # indicators: compiled or loaded, not timed
    combos = np.arange(min(LANES, grid.size), dtype=np.int64)
    t0 = time.perf_counter()
    run_prepared(prep, combos)
    t1 = time.perf_counter()
    trace_combos(data, spec, grid, phase, combos)
    t2 = time.perf_counter()
    print(json.dumps({"simulate": t1 - t0, "trace": t2 - t1}))


def _first_call_child(name: str, cache_dir: str) -> dict[str, float]:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    proc = subprocess.run(
        [sys.executable, __file__, "--first-call", name],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"first-call child for {name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_first_call() -> None:
    print(
        "\n3) first kernel call per variant in a fresh process (seconds): cold = empty "
        "NUMBA_CACHE_DIR, warm = the cache of the cold run (target < 1 s)"
    )
    head = ("cold simulate", "cold trace", "warm simulate", "warm trace")
    print(f"{'variant':<16}" + "".join(f"{h:>15}" for h in head))
    for name in VARIANTS:
        with tempfile.TemporaryDirectory() as cache_dir:
            cold = _first_call_child(name, cache_dir)
            warm = _first_call_child(name, cache_dir)
        print(
            f"{name:<16}{cold['simulate']:>15.2f}{cold['trace']:>15.2f}"
            f"{warm['simulate']:>15.2f}{warm['trace']:>15.2f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--combos", type=int, default=65_536, help="kernel combinations per variant")
    ap.add_argument(
        "--baseline-combos", type=int, default=8_192, help="NumPy baseline combinations"
    )
    ap.add_argument(
        "--skip-throughput", action="store_true", help="skip the per-variant throughput (1)"
    )
    ap.add_argument("--skip-sweep", action="store_true", help="skip the run_wfo sweep (2)")
    ap.add_argument(
        "--skip-first-call", action="store_true", help="skip the first-call latencies (3)"
    )
    ap.add_argument("--first-call", metavar="VARIANT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.first_call:
        first_call(args.first_call)
        return
    print(
        f"WFO benchmark: {os.cpu_count()} CPUs, numba {numba.__version__}, "
        f"{numba.get_num_threads()} threads"
    )
    if not args.skip_throughput:
        bench_variants(synthetic_bars(10.5), args.combos, args.baseline_combos)
    if not args.skip_sweep:
        bench_sweep(synthetic_bars(16.0))
    if not args.skip_first_call:
        bench_first_call()


if __name__ == "__main__":
    main()

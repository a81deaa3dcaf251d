"""Benchmark: the research statistics of a ~1M-combination WFO sweep against the sweep itself.

    python bench/statistics.py

`run_wfo` of atr_d_l over `conf/grid/phase1_slim.yaml` (960,336 combinations) x the four
default phases on 16 years of synthetic bars (the sweep bench/wfo.py times), then
`wfo_statistics` of that sweep as `tradelab-wfo` computes it: one full-history pass over a
seeded uniform sample of `robustness.max_full_eval` (20,000) combinations and the selected one
(Sharpes and block sums), CSCV over 12,870 splits of the compared set (the selected combination
and a uniform sample of 4,999) and effective trials over 1,000 of them. Prints both wall times
and the statistics' share of the sweep (the issue's target: under 10%).
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from tradelab.robustness.settings import RobustnessConfig
from tradelab.wfo import grid_for_strategy, run_wfo
from tradelab.wfo.statistics import wfo_statistics

_spec = importlib.util.spec_from_file_location("bench_wfo", Path(__file__).with_name("wfo.py"))
assert _spec is not None and _spec.loader is not None
bench_wfo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_wfo)


def main() -> None:
    data = bench_wfo.synthetic_bars(16.0)
    spec = bench_wfo._strategy("atr_d_l")
    slim = bench_wfo._load("grid", "phase1_slim")["params"]
    grid = grid_for_strategy(bench_wfo._grid(slim), spec)
    phases = bench_wfo._phases(bench_wfo._load("phases", "default"), data.timestamps)
    print(f"atr_d_l x phase1_slim: {grid.size:,} combinations, {numba.get_num_threads()} threads")
    small = grid_for_strategy(bench_wfo._grid({"atr_period": [10]}), spec)
    run_wfo(data, spec, small, phases, progress=False)  # compile / load outside the timing
    wfo_statistics(data, spec, small, phases, np.arange(2), RobustnessConfig())
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = run_wfo(data, spec, grid, phases, cache_dir=tmp, progress=False)
        sweep = time.perf_counter() - t0
    ranked = np.argsort(-result.phases[-1].metrics["oos_pnl"], kind="stable")[:5000]
    t0 = time.perf_counter()
    stats = wfo_statistics(data, spec, grid, phases, ranked, RobustnessConfig())
    cost = time.perf_counter() - t0
    print(f"sweep (4 phases)        {sweep:7.1f} s")
    print(
        f"statistics              {cost:7.1f} s  (PBO {stats['pbo']:.3f}, "
        f"DSR {stats['deflated_sharpe']:.3f}, n_trials {stats['n_trials']:,.0f})"
    )
    print(f"statistics / sweep      {cost / sweep:7.1%}  (target < 10%)")


if __name__ == "__main__":
    main()

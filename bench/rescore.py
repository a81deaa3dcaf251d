"""Benchmark: rescore of a 1M-combination WFO result set (4 phases) from cached arrays.

Run: .venv/bin/python bench/rescore.py [n_combos_millions]
Times v4 scoring, the candidates table, its Parquet file, plateau detection and the
TradeStation exports on synthetic phase arrays with planted plateaus, and compares the scoring
step with a straightforward pandas long-format implementation (groupby rank / agg) run in the
same process (its scores are checked equal).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tradelab.reports.wfo_results import process_wfo_results
from tradelab.robustness.synthetic import planted_phase_results
from tradelab.search.grid import Grid
from tradelab.wfo.scoring import quality_gates, score_phases


def pandas_scores(phases: list[dict[str, np.ndarray]]) -> pd.Series:
    """Baseline: long frame (combo, phase), gates, groupby ranks, groupby aggregates."""
    n = phases[0]["is_pnl"].size
    long = pd.concat(
        [
            pd.DataFrame(
                {
                    "combo": np.arange(n),
                    "phase": p,
                    "oos_pnl": ph["oos_pnl"],
                    "ok": quality_gates(ph),
                }
            )
            for p, ph in enumerate(phases)
        ],
        ignore_index=True,
    )
    valid = long[long["ok"]].copy()
    valid["rank"] = valid.groupby("phase")["oos_pnl"].rank(method="average", pct=True) * 100
    grouped = valid.groupby("combo")["rank"]
    agg = pd.DataFrame({"avg": grouped.mean(), "std": grouped.std(ddof=0), "k": grouped.size()})
    agg = agg[agg["k"] >= 3]
    return agg["avg"] * (1 + (agg["k"] - 1) * 0.1) / (1 + agg["std"] / 20)


def main() -> None:
    millions = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    bb_levels = max(1, round(15 * millions))
    grid = Grid.from_config(
        {
            "atr_period": [10, 14, 20, 30],
            "atr_multiplier": {"min": 1, "max": 20, "step": 1},
            "atr_buy_multiplier": {"min": 0.5, "max": 5.0, "step": 0.25},
            "bb_dev": [1.5, 2.0, 2.5, 3.0, 3.5],
            "bb_scaling": [0, 1, 2],
            "entry_mode": [0, 1, 2],
            "bb_period": list(range(10, 10 + bb_levels)),
        }
    )
    regions = [
        {"atr_multiplier": (3, 5), "atr_buy_multiplier": (1.0, 1.75)},
        {"atr_multiplier": (13, 16), "atr_buy_multiplier": (3.5, 4.25)},
    ]
    phases = planted_phase_results(grid, regions, seed=0)
    params = {
        name: {"tier": 1 if name.startswith("atr") or name == "bb_dev" else 3, "ts_input": name}
        for name in grid.names
    }
    print(f"combinations: {grid.size:,} x {len(phases)} phases")

    score_phases([{k: v[:1000] for k, v in ph.items()} for ph in phases])  # warm imports
    t0 = time.perf_counter()
    scores = score_phases(phases)
    t_score = time.perf_counter() - t0
    t0 = time.perf_counter()
    baseline = pandas_scores(phases)
    t_pandas = time.perf_counter() - t0
    got = pd.Series(scores.score, index=scores.combos).sort_index()
    assert np.allclose(got.to_numpy(), baseline.sort_index().to_numpy())

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report = process_wfo_results(
            phases,
            grid,
            symbol="SMH",
            strategy="atr_d_l",
            grid_name="bench",
            phases_name="planted",
            ts_name="ATR-D-v1.5-L",
            parameters=params,
            results_root=Path(tmp),
        )
        t_full = time.perf_counter() - t0
    print(f"stable: {report.scores.n_stable:,}  plateaus: {len(report.plateaus.plateaus)}")
    print(f"v4 scoring (numpy)        : {t_score:7.2f} s  {grid.size / t_score:12,.0f} combos/s")
    print(f"v4 scoring (pandas groupby): {t_pandas:7.2f} s  {grid.size / t_pandas:12,.0f} combos/s")
    print(f"ratio numpy / pandas: {t_pandas / t_score:.1f}x")
    print(f"full rescore (score + table + parquet + plateaus + plot + CSVs): {t_full:.2f} s")


if __name__ == "__main__":
    main()

"""Benchmark: what MLflow logging costs a study (issue goal: at most 5% of the study's time).

    python bench/tracking.py [--symbols 10] [--sessions 30] [--trials 50]

The demo's residual study (`tradelab-tune study=kalman_residual search=random`: 50 trials per
small cap on 5-minute bars) on synthetic minute bars, run three ways in this process: with
`tracking=memory` (nothing leaves the process: the study's own time), with MLflow on a fresh
SQLite store (what `make demo` does) and with MLflow's asynchronous logging. Prints each wall
time and the logging overhead, `(tracked - memory) / memory`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# bench/statistics.py would shadow the standard library's `statistics` (MLflow imports it)
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tradelab.search.settings import RandomSearchConfig  # noqa: E402
from tradelab.strategies import tune_residual  # noqa: E402
from tradelab.strategies.settings import KalmanResidualStudyConfig  # noqa: E402
from tradelab.tracking import MemoryTracker, Tracker  # noqa: E402
from tradelab.tracking.mlflow_tracker import MlflowTracker  # noqa: E402
from tradelab.tracking.settings import TrackingConfig  # noqa: E402


def minute_bars(n_symbols: int, sessions: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """`sessions` regular sessions of 1-minute bars for `n_symbols` small caps ($5-$20)."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2026-03-02", periods=sessions, tz="America/New_York")
    opens = np.asarray([d + pd.Timedelta(hours=9, minutes=30) for d in days])
    times = pd.DatetimeIndex(
        [t + pd.Timedelta(minutes=m) for t in opens for m in range(390)]
    ).tz_convert("UTC")
    frames = {}
    for k in range(n_symbols):
        close = rng.uniform(5, 20) * np.exp(np.cumsum(rng.normal(0, 0.0015, len(times))))
        frames[f"S{k:02d}"] = pd.DataFrame(
            {
                "timestamp": times,
                "open": close,
                "high": close * 1.0005,
                "low": close * 0.9995,
                "close": close,
                "volume": 1000.0,
            }
        )
    return frames


def timed(run: Callable[[Tracker], object], make: Callable[[], Tracker]) -> float:
    tracker = make()
    t0 = time.perf_counter()
    run(tracker)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--trials", type=int, default=50)
    args = parser.parse_args()

    bars = minute_bars(args.symbols, args.sessions)
    study = KalmanResidualStudyConfig(max_last_price=None)
    search = RandomSearchConfig(n_trials=args.trials, seed=0)

    def run(tracker: Tracker) -> object:
        with tracker.start_job("kalman_residual/universe", "bench") as job:
            return tune_residual(bars, study, search, job)

    run(MemoryTracker())  # compile / load the kernels outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{tmp}/mlflow.db"
        root = f"{tmp}/artifacts"
        memory = timed(run, MemoryTracker)
        sqlite = timed(run, lambda: MlflowTracker(f"{store}", root))
        os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "true"
        try:
            async_ = timed(run, lambda: MlflowTracker(f"{store}", root))
        finally:
            os.environ.pop("MLFLOW_ENABLE_ASYNC_LOGGING")
    n_runs = args.symbols * (min(args.trials, TrackingConfig.max_trial_runs) + 1) + 1
    print(
        f"residual study: {args.symbols} symbols x {args.trials} trials, {args.sessions} "
        f"sessions of 5-minute bars ({n_runs} runs when tracked)"
    )
    print(f"   tracking=memory (the study)        {memory:7.2f} s")
    for label, wall in (("MLflow, SQLite", sqlite), ("MLflow, SQLite, async logging", async_)):
        overhead = (wall - memory) / memory
        print(f"   {label:<34}{wall:7.2f} s   logging overhead {overhead:+.0%} (goal <= 5%)")


if __name__ == "__main__":
    main()

"""Scale-out benchmark: WFO on Dask, Optuna workers on PostgreSQL, MLflow server vs SQLite.

    python bench/distributed.py [--skip-wfo] [--skip-optuna] [--skip-mlflow] [--repeats 3]
                                [--optuna-trials 200] [--mlflow-runs 100]

1. `run_wfo` of atr_d_l over `conf/grid/phase1_slim.yaml` (~1M combinations) x the four default
   phases on 16 years of synthetic bars (as bench/wfo.py), results cached to a temporary folder:
   - local, all numba threads (today's default), and local on one thread (the baseline of a
     single-threaded worker);
   - `executor=dask` on an in-process `LocalCluster` of 1, then 2 single-threaded worker
     processes (cluster start and kernel warm-up timed apart from the sweep).
   Each timing is the best of `--repeats` sweeps (this class of machine varies +-10% from one
   sweep to the next). Prints combinations/s, the scaling efficiency from 1 to 2 workers
   (T1 / (2 T2); goal >= 85 %) and Dask's overhead against the local single thread
   (T_dask1 / T_local1 - 1; goal <= 10 %), and checks every run's results are identical to the
   local one.
2. Optuna: `optimize_batched` on a study in PostgreSQL (a private cluster started here) with a
   5 ms-per-trial objective, by 1 worker process, then by 4 at once on one study: trials/s and
   the COMPLETE count (must equal n_trials exactly).
3. MLflow: a job logging `--mlflow-runs` trial runs (params, metrics, tags) through
   `MlflowTracker`, into a local SQLite store vs an `mlflow server` on PostgreSQL: runs/s.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# this file's name would shadow the `distributed` package: take its folder off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import numba  # noqa: E402
import numpy as np  # noqa: E402

from tradelab.kernels.enums import METRIC_NAMES  # noqa: E402
from tradelab.wfo import grid_for_strategy, run_wfo  # noqa: E402
from tradelab.wfo.engine import prepare_phase  # noqa: E402
from tradelab.wfo.executor import DaskExecutor  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_wfo", HERE / "wfo.py")
bench_wfo_module = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(bench_wfo_module)  # type: ignore[union-attr]
_grid, _load, _phases = bench_wfo_module._grid, bench_wfo_module._load, bench_wfo_module._phases
_strategy, synthetic_bars = bench_wfo_module._strategy, bench_wfo_module.synthetic_bars


def _sweep(data, spec, grid, phases, executor=None) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = run_wfo(data, spec, grid, phases, cache_dir=tmp, progress=False, executor=executor)
        wall = time.perf_counter() - t0
        metrics = [{k: np.array(p.metrics[k]) for k in METRIC_NAMES} for p in result.phases]
    return wall, metrics


def bench_wfo(repeats: int) -> None:
    data = synthetic_bars(16.0)
    spec = _strategy("atr_d_l")
    grid = grid_for_strategy(_grid(_load("grid", "phase1_slim")["params"]), spec)
    phases = _phases(_load("phases", "default"), data.timestamps)
    n = grid.size * len(phases)
    threads = numba.get_num_threads()
    print(
        f"1) run_wfo atr_d_l x phase1_slim ({grid.size:,} combinations) x {len(phases)} phases, "
        f"best of {repeats}"
    )
    small = grid_for_strategy(_grid({"atr_period": [10]}), spec)
    run_wfo(data, spec, small, phases, progress=False)  # compile / load outside the timing

    def best(executor: DaskExecutor | None = None) -> tuple[float, list[dict]]:
        runs = [_sweep(data, spec, grid, phases, executor) for _ in range(repeats)]
        return min(t for t, _ in runs), runs[0][1]

    t_all, reference = best()
    numba.set_num_threads(1)
    t_one, same = best()
    numba.set_num_threads(threads)
    rows = [(f"local, {threads} numba threads", t_all, 0.0, reference)]
    rows.append(("local, 1 thread (baseline)", t_one, 0.0, same))
    dask_t = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        with DaskExecutor(n_workers=workers) as executor:
            started = time.perf_counter() - t0
            executor.warm(prepare_phase(data, spec, grid, phases[0]))  # what the sweep does first
            warmed = time.perf_counter() - t0 - started
            wall, got = best(executor)
        dask_t[workers] = wall
        rows.append((f"dask, {workers} worker process(es) x 1 thread", wall, started + warmed, got))
    print(f"   {'executor':<38} {'sweep s':>8} {'combos/s':>12} {'start+warm s':>13} identical")
    for label, wall, setup, got in rows:
        ok = all(
            np.array_equal(a[k], b[k], equal_nan=True)
            for a, b in zip(got, reference)
            for k in METRIC_NAMES
        )
        print(f"   {label:<38} {wall:8.1f} {n / wall:12,.0f} {setup:13.1f} {ok}")
    efficiency = dask_t[1] / (2 * dask_t[2])
    overhead = dask_t[1] / t_one - 1
    print(f"   scaling efficiency 1 -> 2 workers: {efficiency:.1%} (goal >= 85%)")
    print(f"   Dask overhead vs local 1 thread:   {overhead:+.1%} (goal <= 10%)")
    print(f"   ratio dask 2 workers / local {threads} threads: {t_all / dask_t[2]:.2f}x speed")


def _objective(batch: list[dict]) -> tuple[list[float], list[dict]]:
    time.sleep(0.005 * len(batch))
    return [p["a"] - (p["b"] - 2) ** 2 + p["c"] for p in batch], [{} for _ in batch]


def _optuna_worker(url: str, name: str, n_trials: int) -> None:
    from tradelab.search import SearchSpace, optimize_batched

    space = SearchSpace.from_config(
        {"a": list(range(20)), "b": list(range(10)), "c": [0.1, 0.2, 0.3, 0.4]}
    )
    optimize_batched(
        space, _objective, n_trials=n_trials, batch_size=8, storage=url, study_name=name
    )


def bench_optuna(pg_url: str, n_trials: int) -> None:
    import optuna
    from optuna.trial import TrialState

    from tradelab.testing.services import create_database

    print(f"\n2) Optuna on PostgreSQL, {n_trials} trials of a 5 ms objective, batches of 8")
    ctx = mp.get_context("spawn")
    for workers in (1, 4):
        url = create_database(pg_url, f"bench_optuna_{workers}")
        _optuna_worker(url, "warm", 8)  # schema creation outside the timing
        t0 = time.perf_counter()
        procs = [
            ctx.Process(target=_optuna_worker, args=(url, "bench", n_trials))
            for _ in range(workers)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        wall = time.perf_counter() - t0
        study = optuna.load_study(study_name="bench", storage=url)
        done = sum(t.state == TrialState.COMPLETE for t in study.trials)
        codes = [p.exitcode for p in procs]
        print(
            f"   {workers} worker process(es): {wall:6.1f} s, {done / wall:6.1f} trials/s, "
            f"{done} COMPLETE of {n_trials}, exit codes {codes}"
        )


def _log_runs(tracker, n_runs: int) -> float:
    t0 = time.perf_counter()
    with tracker.start_job("bench/mlflow", "job", config={"a": 1}) as job:
        for k in range(n_runs):
            job.log_trial(
                {"w": k, "x": 0.5, "mode": "a"}, {"score": float(k), "pnl": 1.0, "trades": 3.0}
            )
    return time.perf_counter() - t0


def bench_mlflow(pg_url: str, folder: Path, n_runs: int) -> None:
    from tradelab.testing.services import MlflowServer, create_database
    from tradelab.tracking.mlflow_tracker import MlflowTracker

    print(f"\n3) MLflow: a job logging {n_runs} trial runs (3 params, 3 metrics each)")
    sqlite = MlflowTracker(f"sqlite:///{folder}/mlflow.db", folder / "artifacts")
    _log_runs(sqlite, 2)
    t_sqlite = _log_runs(sqlite, n_runs)
    server = MlflowServer(create_database(pg_url, "bench_mlflow"), folder / "server-art").start()
    try:
        remote = MlflowTracker(server.uri, None)
        _log_runs(remote, 2)
        t_server = _log_runs(remote, n_runs)
    finally:
        server.stop()
    print(f"   SQLite file store:          {n_runs / t_sqlite:7.1f} runs/s")
    print(f"   mlflow server on PostgreSQL: {n_runs / t_server:7.1f} runs/s")
    print(f"   ratio server / SQLite: {t_sqlite / t_server:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-wfo", action="store_true")
    ap.add_argument("--repeats", type=int, default=3, help="WFO sweeps per executor (best)")
    ap.add_argument("--skip-optuna", action="store_true")
    ap.add_argument("--skip-mlflow", action="store_true")
    ap.add_argument("--optuna-trials", type=int, default=200)
    ap.add_argument("--mlflow-runs", type=int, default=100)
    args = ap.parse_args()
    if not args.skip_wfo:
        bench_wfo(args.repeats)
    if args.skip_optuna and args.skip_mlflow:
        return
    from tradelab.testing.services import Postgres

    with tempfile.TemporaryDirectory() as tmp:
        pg = Postgres(Path(tmp) / "postgres").start()
        try:
            if not args.skip_optuna:
                bench_optuna(pg.url, args.optuna_trials)
            if not args.skip_mlflow:
                bench_mlflow(pg.url, Path(tmp), args.mlflow_runs)
        finally:
            pg.stop()


if __name__ == "__main__":
    main()

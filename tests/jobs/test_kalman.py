"""The Kalman jobs without Hydra: typed settings, a store, an in-memory tracker."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from tests.strategies.test_studies import _closes, _minute_frames
from tradelab.data import ParquetStore
from tradelab.data.settings import UniverseConfig
from tradelab.errors import ConfigError, DataError
from tradelab.jobs._tune import STUDY_TAG, TrialRunsOnce, TuneContext
from tradelab.jobs.kalman import run_pairs_job, run_residual_job
from tradelab.robustness.settings import RobustnessConfig
from tradelab.search import make_storage
from tradelab.search.settings import GridSearchConfig, OptunaSearchConfig, RandomSearchConfig
from tradelab.strategies.settings import (
    KalmanPairsStudyConfig,
    KalmanResidualStudyConfig,
    PairScreenConfig,
)
from tradelab.tracking import Job, MemoryTracker


def _bars(close: pd.Series) -> pd.DataFrame:
    values = close.to_numpy()
    return pd.DataFrame(
        {
            "timestamp": close.index,
            "open": values,
            "high": values,
            "low": values,
            "close": values,
            "volume": 100.0,
        }
    )


def _context(tmp_path: Path, tracker: MemoryTracker) -> TuneContext:
    def open_job(*, experiment: str, run_name: str, data_hash: str = "none", inputs=()) -> Job:
        job = tracker.start_job(experiment, run_name, tags={"data_hash": data_hash})
        job.log_inputs(inputs)
        return job

    return TuneContext(
        store=ParquetStore(tmp_path / "store"),
        open_job=open_job,
        results_dir=tmp_path / "results",
        metrics_file=tmp_path / "metrics.json",
    )


def test_pairs_job_screens_the_universe_and_writes_the_seed_files(tmp_path: Path) -> None:
    tracker = MemoryTracker()
    ctx = _context(tmp_path, tracker)
    for ticker, close in _closes().items():
        ctx.store.write(ticker, "1day", _bars(close), source="test")
    universe = UniverseConfig(extra=("DIA", "SPY", "QQQ"))
    sharpe = run_pairs_job(
        ctx, KalmanPairsStudyConfig(), GridSearchConfig(), RobustnessConfig(), universe=universe
    )

    parent = next(r for r in tracker.runs() if r.parent_id is None)
    assert parent.experiment == "kalman_pairs/DIA-SPY" and parent.name == "grid sharpe_then_dd"
    assert parent.tags["data_hash"] == ctx.store.content_hash([("DIA", "1day"), ("SPY", "1day")])
    assert "cointegrated_pairs.csv" in parent.artifacts and "validity/pbo" in parent.metrics
    folder = tmp_path / "results/kalman_pairs/DIA-SPY"
    prod = json.loads((folder / "kalman_prod_config.json").read_text())
    assert (prod["asset_1"], prod["asset_2"]) == ("DIA", "SPY")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["sharpe"] == pytest.approx(sharpe)
    assert json.loads(ctx.metrics_file.read_text())["sharpe"] == pytest.approx(sharpe)


def test_pairs_job_screens_only_the_study_symbols(tmp_path: Path) -> None:
    ctx = _context(tmp_path, MemoryTracker())
    for ticker, close in _closes().items():
        ctx.store.write(ticker, "1day", _bars(close), source="test")
    study = KalmanPairsStudyConfig(screen=PairScreenConfig(symbols=("QQQ",)))
    with pytest.raises(DataError, match="fewer than two"):
        run_pairs_job(ctx, study, GridSearchConfig(), RobustnessConfig())


def test_residual_job_skips_expensive_symbols_and_summarizes_the_universe(
    tmp_path: Path,
) -> None:
    tracker = MemoryTracker()
    ctx = _context(tmp_path, tracker)
    for symbol, frame in _minute_frames().items():
        ctx.store.write(symbol, "5min", _five_minutes(frame), source="test")
        ctx.store.write(symbol, "1min", frame, source="test")
    universe = UniverseConfig(sectors={"small": ("RIOT", "SOFI", "SPY")})
    search = RandomSearchConfig(n_trials=6, seed=1)
    avg = run_residual_job(
        ctx, KalmanResidualStudyConfig(), search, RobustnessConfig(), universe=universe
    )

    parents = {r.experiment: r for r in tracker.runs() if r.parent_id is None}
    assert {"kalman_residual/RIOT", "kalman_residual/SOFI"} <= set(parents)
    assert "kalman_residual/SPY" not in parents  # last close above study.max_last_price
    assert parents["kalman_residual/RIOT"].name == "random composite"
    assert all(r.status == "FINISHED" for r in parents.values())
    headline = json.loads(ctx.metrics_file.read_text())
    assert (headline["avg_return"] is None) == bool(np.isnan(avg))
    written = list((tmp_path / "results/kalman_residual").glob("*/metrics.json"))
    assert headline["n_symbols"] == len(written)


def test_residual_job_names_an_unsearchable_space_key(tmp_path: Path) -> None:
    tracker = MemoryTracker()
    ctx = _context(tmp_path, tracker)
    riot = _minute_frames()["RIOT"]
    ctx.store.write("RIOT", "1min", riot, source="test")
    ctx.store.write("RIOT", "5min", _five_minutes(riot), source="test")
    study = KalmanResidualStudyConfig(space={"max_positions": [1, 2]})
    with pytest.raises(ConfigError, match=r"study\.space\.max_positions"):
        run_residual_job(ctx, study, RandomSearchConfig(), RobustnessConfig(), symbol="RIOT")
    assert all(r.status == "FAILED" for r in tracker.runs())


def _five_minutes(frame: pd.DataFrame) -> pd.DataFrame:
    from tradelab.strategies import aggregate_bars

    return aggregate_bars(frame, 5)


def _residual_store(tmp_path: Path, tracker: MemoryTracker) -> TuneContext:
    """A context whose studies live in a journal and whose jobs skip trial runs already held
    (every trial a run, to see each logged once)."""
    ctx = dataclasses.replace(
        _context(tmp_path, tracker),
        optuna_dir=tmp_path / "optuna",
        tracker=tracker,
        max_trial_runs=1000,
    )
    riot = _minute_frames()["RIOT"]
    ctx.store.write("RIOT", "1min", riot, source="test")
    ctx.store.write("RIOT", "5min", _five_minutes(riot), source="test")
    return ctx


def _trial_runs(tracker: MemoryTracker) -> list:
    return [r for r in tracker.runs() if r.name.startswith("trial ")]


def test_a_rerun_of_a_finished_study_evaluates_nothing_and_logs_no_trial_run_again(
    tmp_path: Path,
) -> None:
    tracker = MemoryTracker()
    ctx = _residual_store(tmp_path, tracker)
    search = OptunaSearchConfig(n_trials=8, batch_size=4, n_startup_trials=4)
    first = run_residual_job(
        ctx, KalmanResidualStudyConfig(), search, RobustnessConfig(), symbol="RIOT"
    )
    metrics = json.loads((tmp_path / "results/kalman_residual/RIOT/metrics.json").read_text())
    runs = _trial_runs(tracker)
    assert sorted(r.name for r in runs) == sorted(f"trial {k}" for k in range(8))
    study = runs[0].tags["optuna_study"]
    assert study.startswith("kalman_residual-RIOT-")
    assert (tmp_path / "optuna/kalman_residual.journal").is_file()

    again = run_residual_job(
        ctx, KalmanResidualStudyConfig(), search, RobustnessConfig(), symbol="RIOT"
    )
    assert again == first and _trial_runs(tracker) == runs  # no new trial run
    parents = [r for r in tracker.runs() if r.parent_id is None]
    assert len(parents) == 2 and all(p.tags["optuna_study"] == study for p in parents)
    assert parents[0].metrics == parents[1].metrics  # the same best, reported again
    assert (
        json.loads((tmp_path / "results/kalman_residual/RIOT/metrics.json").read_text()) == metrics
    )
    loaded = optuna.load_study(
        study_name=study,
        storage=make_storage(f"journal:{tmp_path / 'optuna/kalman_residual.journal'}"),
    )
    assert len(loaded.trials) == 8

    # more trials continue the same study; a changed study starts another
    run_residual_job(
        ctx,
        KalmanResidualStudyConfig(),
        replace(search, n_trials=12),
        RobustnessConfig(),
        symbol="RIOT",
    )
    assert len(loaded.trials) == 12 and len(_trial_runs(tracker)) == 12
    changed = KalmanResidualStudyConfig(warmup_bars=70)
    run_residual_job(ctx, changed, search, RobustnessConfig(), symbol="RIOT")
    assert len({r.tags["optuna_study"] for r in _trial_runs(tracker)}) == 2


def test_trial_runs_of_a_job_that_did_not_finish_are_logged_again(tmp_path: Path) -> None:
    tracker = MemoryTracker()
    killed = tracker.start_job("kalman_residual/RIOT", "optuna")
    killed.log_trial({"x": 1}, {"score": 1.0}, name="trial 00000", tags={STUDY_TAG: "s"})
    killed.end("FAILED")
    done = tracker.start_job("kalman_residual/RIOT", "optuna")
    held = done.log_trial({"x": 2}, {"score": 2.0}, name="trial 00001", tags={STUDY_TAG: "s"})
    done.end()

    job = TrialRunsOnce(tracker.start_job("kalman_residual/RIOT", "optuna"), tracker)
    with job:
        again = job.log_trial({"x": 1}, {"score": 1.0}, name="trial 00000", tags={STUDY_TAG: "s"})
        same = job.log_trial({"x": 2}, {"score": 2.0}, name="trial 00001", tags={STUDY_TAG: "s"})
        other = job.log_trial({"x": 2}, {"score": 2.0}, name="trial 00001", tags={STUDY_TAG: "t"})
        with job.child("model") as child:
            nested = child.log_trial({}, {}, name="trial 00001", tags={STUDY_TAG: "s"})
    assert same == nested == held
    assert tracker.get(again).parent_id == job.run_id and tracker.get(other).parent_id == job.run_id
    assert tracker.get(job.run_id).status == "FINISHED"

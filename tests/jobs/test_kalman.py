"""The Kalman jobs without Hydra: typed settings, a store, an in-memory tracker."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.strategies.test_studies import _closes, _minute_frames
from tradelab.data import ParquetStore
from tradelab.data.settings import UniverseConfig
from tradelab.errors import ConfigError, DataError
from tradelab.jobs._tune import TuneContext
from tradelab.jobs.kalman import run_pairs_job, run_residual_job
from tradelab.robustness.settings import RobustnessConfig
from tradelab.search.settings import GridSearchConfig, RandomSearchConfig
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
    def open_job(*, experiment: str, run_name: str, data_hash: str = "none") -> Job:
        return tracker.start_job(experiment, run_name, tags={"data_hash": data_hash})

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
    assert parent.experiment == "kalman_pairs/DIA-SPY" and parent.name == "grid-sharpe_then_dd"
    assert parent.tags["data_hash"] == ctx.store.content_hash([("DIA", "1day"), ("SPY", "1day")])
    assert "cointegrated_pairs.csv" in parent.artifacts and "pbo" in parent.metrics
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
    assert parents["kalman_residual/RIOT"].name == "random-composite"
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

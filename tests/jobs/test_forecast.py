"""The forecast job without Hydra: typed settings, a store, an in-memory tracker."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from tradelab.data import ParquetStore
from tradelab.errors import ModelUnavailableError
from tradelab.forecast.settings import (
    BaselinesModelConfig,
    ForecastStudyConfig,
    OnUnavailable,
    TotoModelConfig,
    model_config,
)
from tradelab.jobs._tune import TuneContext
from tradelab.jobs.forecast import run_forecast_job
from tradelab.search.settings import OptunaSearchConfig
from tradelab.settings import to_plain
from tradelab.tracking import Job, MemoryTracker

SEARCH = OptunaSearchConfig(n_trials=2, batch_size=2, seed=3)


def _context(tmp_path: Path, bars: pd.DataFrame, tracker: MemoryTracker) -> TuneContext:
    store = ParquetStore(tmp_path / "store")
    store.write("AAPL", "1day", bars, source="test")

    def open_job(*, experiment: str, run_name: str, data_hash: str = "none", inputs=()) -> Job:
        job = tracker.start_job(experiment, run_name, tags={"data_hash": data_hash})
        job.log_inputs(inputs)
        return job

    return TuneContext(
        store=store,
        open_job=open_job,
        results_dir=tmp_path / "results",
        metrics_file=tmp_path / "metrics" / "forecast.json",
        progress=False,
    )


def _study(tmp_path: Path) -> ForecastStudyConfig:
    return ForecastStudyConfig(
        symbols=("AAPL",),
        output_dir=str(tmp_path / "out"),
        summary_file=str(tmp_path / "summary.json"),
        cache_dir=None,
    )


def test_without_weights_every_model_is_skipped_and_the_baselines_compete(
    tmp_path: Path, bars: pd.DataFrame
) -> None:
    tracker = MemoryTracker()
    ctx = _context(tmp_path, bars, tracker)
    models = [TotoModelConfig(weights_dir=str(tmp_path / "none")), BaselinesModelConfig()]
    best = run_forecast_job(ctx, _study(tmp_path), SEARCH, models, chosen=False)

    parent = next(r for r in tracker.runs() if r.parent_id is None)
    assert parent.name == "all-models" and parent.tags["target"] == "AAPL"
    assert parent.tags["data_hash"] == ctx.store.content_hash([("AAPL", "1day")])
    assert "toto" in json.loads(parent.tags["skipped_models"])
    candidates = {r.params["model"] for r in tracker.runs() if r.tags.get("candidate") == "true"}
    assert candidates == {"zero_return", "drift", "lookback_median"}
    summary = json.loads((tmp_path / "results/forecast/AAPL/summary.json").read_text())
    metrics = json.loads(ctx.metrics_file.read_text())
    assert metrics["median_best_mae"] == pytest.approx(summary["best_mae"]) == pytest.approx(best)
    zero = summary["candidates"]["zero_return"]["pct_return_mae"]
    assert metrics["median_zero_return_mae"] == pytest.approx(zero)
    assert metrics["median_skill_vs_zero"] == pytest.approx(1 - best / zero)
    assert metrics["beats_zero_return_pct"] == float(best < zero)
    assert metrics["symbols"] == 1.0 and metrics["candidates"] == 3.0


@pytest.mark.parametrize(
    ("chosen", "on_unavailable"),
    [
        (False, OnUnavailable.error),
        (False, OnUnavailable.baselines),
        (True, OnUnavailable.baselines),
    ],
)
def test_a_model_without_weights_is_skipped_for_that_reason(
    tmp_path: Path, bars: pd.DataFrame, chosen: bool, on_unavailable: OnUnavailable
) -> None:
    tracker = MemoryTracker()
    ctx = _context(tmp_path, bars, tracker)
    missing = tmp_path / "models" / "toto" / "Toto-Open-Base-1.0"
    models = [TotoModelConfig(weights_dir=str(missing))]
    study = dataclasses.replace(_study(tmp_path), on_unavailable=on_unavailable)
    run_forecast_job(ctx, study, SEARCH, models, chosen=chosen)

    summary = json.loads((tmp_path / "results/forecast/AAPL/summary.json").read_text())
    reason = summary["skipped"]["toto"]
    assert reason.startswith(f"toto weights not found: {missing} is not a directory")
    assert "no result file" not in reason
    parent = next(r for r in tracker.runs() if r.parent_id is None)
    assert json.loads(parent.tags["skipped_models"])["toto"] == reason


def test_a_chosen_model_without_weights_stops_before_any_run(
    tmp_path: Path, bars: pd.DataFrame
) -> None:
    tracker = MemoryTracker()
    ctx = _context(tmp_path, bars, tracker)
    toto = TotoModelConfig(weights_dir=str(tmp_path / "none"))
    with pytest.raises(ModelUnavailableError, match="Toto-Open-Base"):
        run_forecast_job(ctx, _study(tmp_path), SEARCH, [toto], chosen=True)
    assert tracker.runs() == []


def test_a_tuned_model_records_the_settings_promotion_reloads(
    tmp_path: Path, bars: pd.DataFrame, toto_dir: Path
) -> None:
    tracker = MemoryTracker()
    ctx = _context(tmp_path, bars, tracker)
    toto = TotoModelConfig(
        weights_dir=str(toto_dir), context_length=64, search_space={"num_samples": [8, 16]}
    )
    run_forecast_job(ctx, _study(tmp_path), SEARCH, [toto], chosen=True, symbol="AAPL")

    parent = next(r for r in tracker.runs() if r.parent_id is None)
    assert parent.name == "toto"
    trials = [r for r in tracker.runs() if r.name.startswith("trial ")]
    assert len(trials) == 2
    candidate = next(r for r in tracker.runs() if r.name == "candidate toto")
    assert candidate.tags["candidate"] == "true"
    recorded = json.loads(candidate.params["model_config"])
    assert recorded == to_plain(toto) and recorded["type"] == "toto"
    assert model_config(recorded) == toto

"""The tuning driver with an in-memory forecaster: trials, logging, outputs, resume, errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from tradelab import faults
from tradelab.errors import ConfigError, InvalidSymbolError, ModelUnavailableError
from tradelab.forecast import read_result, tune_forecaster
from tradelab.forecast.settings import (
    ForecastStudyConfig,
    OnUnavailable,
    TotoModelConfig,
    model_config,
)
from tradelab.jobs._tune import TrialRunsOnce
from tradelab.search.settings import OptunaSearchConfig
from tradelab.tracking import MemoryTracker

from .fakes import NoisyWalk

SPACE = {"num_samples": [16, 32], "aggregate": ["mean", "median", "trimmed_mean_10"]}
SEARCH = OptunaSearchConfig(n_trials=12, batch_size=4, seed=5, n_startup_trials=4)


def _model(tmp_path: Path, **kw) -> TotoModelConfig:
    return TotoModelConfig(weights_dir=str(tmp_path / "no_weights"), search_space=SPACE, **kw)


def test_trials_are_logged_and_the_seed_file_is_written(bars: pd.DataFrame, tmp_path: Path) -> None:
    tracker = MemoryTracker()
    job = tracker.start_job("forecast/AAPL", "tune")
    result = tune_forecaster(
        bars,
        _model(tmp_path),
        ForecastStudyConfig(),
        SEARCH,
        symbol="AAPL",
        job=job,
        output_dir=tmp_path / "out",
        forecaster=NoisyWalk(),
    )
    job.end()
    assert len(result.trials) == 12
    children = [r for r in tracker.runs() if r.parent_id == job.run_id]
    assert len(children) == 12
    assert all("model_calls" in c.metrics and "pct_return_mae" in c.metrics for c in children)
    assert {c.params["num_samples"] for c in children} <= {"16", "32"}

    doc = read_result(tmp_path / "out" / "toto" / "AAPL.json")
    assert doc["symbol"] == "AAPL" and doc["model_type"] == "toto"
    assert set(doc["config"]) >= {"num_samples", "aggregate", "samples_per_batch"}
    assert doc["config"]["num_samples"] % doc["config"]["samples_per_batch"] == 0
    assert set(doc["validation"]) >= {"price_mae", "pct_return_mae", "latency_s"}
    best = min(t.value for t in result.trials)
    assert doc["validation"]["pct_return_mae"] == pytest.approx(best)
    assert doc["baselines"]["zero_return"]["pct_return_mae"] > 0
    assert result.best_metrics["skill_vs_zero"] == pytest.approx(
        1 - best / result.baselines["zero_return"]["pct_return_mae"]
    )
    parent = tracker.get(job.run_id)
    assert parent.metrics["model_calls"] == result.model_calls
    assert "forecast/AAPL.json" in parent.artifacts


def test_the_sample_cache_cuts_model_calls(bars: pd.DataFrame, tmp_path: Path) -> None:
    cached = tune_forecaster(
        bars,
        _model(tmp_path),
        ForecastStudyConfig(),
        SEARCH,
        symbol="AAPL",
        output_dir=tmp_path / "a",
        forecaster=NoisyWalk(),
    )
    uncached = tune_forecaster(
        bars,
        _model(tmp_path),
        ForecastStudyConfig(sample_cache=False),
        SEARCH,
        symbol="AAPL",
        output_dir=tmp_path / "b",
        forecaster=NoisyWalk(),
    )
    # two distinct num_samples values: at most 2 x 20 window forecasts with the cache
    assert cached.model_calls <= 40 < uncached.model_calls == 12 * 20
    assert cached.calls_per_trial < cached.calls_per_trial_uncached == 20
    # same seeds, same samples: the cache changes the cost, never the scores
    assert [t.value for t in cached.trials] == [t.value for t in uncached.trials]


def test_a_journal_study_resumes(bars: pd.DataFrame, tmp_path: Path) -> None:
    search = replace(SEARCH, n_trials=4, storage=f"journal:{tmp_path / 'journal.log'}")
    first = tune_forecaster(
        bars,
        _model(tmp_path),
        ForecastStudyConfig(),
        search,
        symbol="SPY",
        output_dir=tmp_path / "out",
        forecaster=NoisyWalk(),
    )
    assert first.study_name.startswith("forecast-SPY-toto-") and len(first.trials) == 4
    second = tune_forecaster(
        bars,
        _model(tmp_path),
        ForecastStudyConfig(),
        replace(search, n_trials=6),
        symbol="SPY",
        output_dir=tmp_path / "out",
        forecaster=NoisyWalk(),
    )
    assert len(second.trials) == 2
    assert [t.number for t in second.trials] == [4, 5]
    doc = json.loads((tmp_path / "out" / "toto" / "SPY.json").read_text())
    assert doc["validation"]["pct_return_mae"] <= first.best_metrics["pct_return_mae"]


def test_missing_weights_fail_before_anything_is_written(
    bars: pd.DataFrame, tmp_path: Path
) -> None:
    tracker = MemoryTracker()
    job = tracker.start_job("forecast/AAPL", "tune")
    with pytest.raises(ModelUnavailableError, match="Toto-Open-Base"):
        tune_forecaster(
            bars,
            _model(tmp_path),
            ForecastStudyConfig(),
            SEARCH,
            symbol="AAPL",
            job=job,
            output_dir=tmp_path / "out",
        )
    assert not (tmp_path / "out").exists()
    assert [r for r in tracker.runs() if r.parent_id == job.run_id] == []


def test_unavailable_model_runs_baselines_only_and_says_so(
    bars: pd.DataFrame, tmp_path: Path
) -> None:
    tracker = MemoryTracker()
    job = tracker.start_job("forecast/AAPL", "tune")
    result = tune_forecaster(
        bars,
        _model(tmp_path),
        ForecastStudyConfig(on_unavailable=OnUnavailable.baselines),
        SEARCH,
        symbol="AAPL",
        job=job,
        output_dir=tmp_path / "out",
    )
    assert not result.available and "Toto-Open-Base" in (result.reason or "")
    assert result.trials == [] and result.best_params is None
    assert set(result.baselines) == {"zero_return", "drift", "lookback_median"}
    assert not (tmp_path / "out").exists()
    run = tracker.get(job.run_id)
    assert run.tags["model_available"] == "false" and "zero_return_pct_return_mae" in run.metrics


def test_bad_inputs_fail_early(bars: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(InvalidSymbolError):
        tune_forecaster(bars, _model(tmp_path), symbol="../etc", forecaster=NoisyWalk())
    bad = TotoModelConfig(search_space={"aggregate": ["trimmed_mean_75"]})
    with pytest.raises(ConfigError, match="aggregate"):
        tune_forecaster(bars, bad, symbol="AAPL", forecaster=NoisyWalk())
    with pytest.raises(ConfigError, match=r"model\.type"):
        tune_forecaster(bars, model_config({"type": "prophet"}), symbol="AAPL")


def test_kronos_without_timestamps_fails_before_loading(tmp_path: Path) -> None:
    from tradelab.errors import DataError
    from tradelab.forecast.settings import KronosModelConfig

    closes = pd.Series(100.0 + pd.RangeIndex(200).to_numpy() * 0.1)
    cfg = KronosModelConfig(weights_dir=str(tmp_path / "missing"))
    with pytest.raises(DataError, match="timestamp"):
        tune_forecaster(closes, cfg, symbol="AAPL", output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_pipeline_without_weights_scores_baselines_only(bars: pd.DataFrame, tmp_path: Path) -> None:
    from tradelab.forecast import run_forecast_pipeline, write_summary
    from tradelab.forecast.settings import KronosEnsembleModelConfig

    models = [
        _model(tmp_path),
        KronosEnsembleModelConfig(weights_dir=str(tmp_path / "k"), tokenizer_dir=str(tmp_path)),
    ]
    tracker = MemoryTracker()
    job = tracker.start_job("forecast/AAPL", "pipeline")
    results, summary = run_forecast_pipeline(
        bars, "AAPL", models, ForecastStudyConfig(), SEARCH, job=job, output_dir=tmp_path / "out"
    )
    job.end()
    assert [r.available for r in results] == [False, False]
    assert set(summary.candidates) == {"zero_return", "drift", "lookback_median"}
    assert {"toto", "kronos_ensemble", "ensemble_of_ensembles", "regime_switch"} <= set(
        summary.skipped
    )
    assert not (tmp_path / "out").exists()
    children = [r for r in tracker.runs() if r.parent_id == job.run_id]
    assert {c.name for c in children} == {"toto", "kronos_ensemble"}
    assert all(c.tags["model_available"] == "false" for c in children)

    path = write_summary([summary], tmp_path / "summary.json")
    entry = json.loads(path.read_text())["results"][0]
    assert entry["symbol"] == "AAPL" and entry["best_model"] in summary.candidates
    assert entry["best_mae"] == min(c["pct_return_mae"] for c in entry["candidates"].values())


def test_kronos_standard_results_go_by_the_seed_name(bars: pd.DataFrame, tmp_path: Path) -> None:
    from tradelab.forecast import summarize_symbol
    from tradelab.forecast.settings import KronosModelConfig

    # seed 002: hyperparams_optimized_all/kronos_standard/<SYM>.json, model_type kronos_standard
    kronos = KronosModelConfig(
        weights_dir=str(tmp_path / "k"),
        tokenizer_dir=str(tmp_path / "t"),
        search_space={"temperature": [0.1, 0.2]},
    )
    study = ForecastStudyConfig(output_dir=str(tmp_path / "out"), cache_dir=None)
    walk = NoisyWalk()
    search = OptunaSearchConfig(n_trials=2, batch_size=2, seed=1)
    result = tune_forecaster(bars, kronos, study, search, symbol="AAPL", forecaster=walk)
    assert result.model == result.model_type == "kronos_standard"
    assert result.output_path == tmp_path / "out" / "kronos_standard" / "AAPL.json"
    doc = read_result(result.output_path)
    assert doc["model_type"] == doc["study"]["model"] == "kronos_standard"

    summary = summarize_symbol(bars, "AAPL", [kronos], study, forecasters={"kronos_standard": walk})
    entry = summary.to_dict()["candidates"]["kronos_standard"]
    assert entry["kind"] == "model" and entry["details"]["model_type"] == "kronos_standard"


def _tune(bars: pd.DataFrame, tmp_path: Path, journal: str, job=None, forecaster=None):
    return tune_forecaster(
        bars,
        _model(tmp_path),
        ForecastStudyConfig(),
        replace(SEARCH, storage=f"journal:{tmp_path / journal}"),
        symbol="SPY",
        job=job,
        output_dir=tmp_path / "out",
        forecaster=forecaster or NoisyWalk(),
    )


def test_a_stopped_study_resumes_and_logs_each_trial_once(
    bars: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _tune(bars, tmp_path, "reference.journal")
    tracker = MemoryTracker()
    # trial 5 told, the error comes before its run is logged; trials 6-7 were in flight
    monkeypatch.setattr(faults, "_hits", {})
    monkeypatch.setenv(faults.ENV, "optuna.trial.told@6:raise")
    with pytest.raises(faults.InjectedFault):
        with TrialRunsOnce(tracker.start_job("forecast/SPY", "toto"), tracker) as job:
            _tune(bars, tmp_path, "s.journal", job)
    monkeypatch.delenv(faults.ENV)
    with TrialRunsOnce(tracker.start_job("forecast/SPY", "toto"), tracker) as job:
        resumed = _tune(bars, tmp_path, "s.journal", job)

    assert [t.number for t in resumed.trials] == list(range(6, 12))  # this run's trials
    assert resumed.best_params == reference.best_params
    assert resumed.best_metrics["pct_return_mae"] == reference.best_metrics["pct_return_mae"]
    finished = [r for r in tracker.runs() if r.parent_id == job.run_id]
    trial_runs = sorted(r.name for r in finished if r.name.startswith("trial "))
    assert trial_runs == sorted(f"trial {k}" for k in range(12))  # the whole study, each once
    assert {r.tags["optuna_study"] for r in finished} == {resumed.study_name}

    # a rerun of the finished study: no model call, no trial run logged again, the same best
    walk = NoisyWalk()
    with TrialRunsOnce(tracker.start_job("forecast/SPY", "toto"), tracker) as again_job:
        again = _tune(bars, tmp_path, "s.journal", again_job, forecaster=walk)
    assert walk.calls == 0 and again.trials == [] and again.best_params == reference.best_params
    assert [r for r in tracker.runs() if r.parent_id == again_job.run_id] == []
    doc = read_result(tmp_path / "out" / "toto" / "SPY.json")
    assert doc["study"]["study_name"] == resumed.study_name

"""Promotion adapter of the forecast family: the best model (or baseline) per symbol.

Production configuration: `symbol`, `name` (toto, kronos, kronos_ensemble, zero_return, drift,
lookback_median), `kind` (model | baseline), `model` (the model config with its local weights
directory; none for baselines), `params` (the tuned parameters), `study` (windows, horizon,
seed, baseline lookbacks) and `validation`. Seed file: `hyperparams/best/<SYMBOL>.json`
(seed 002's format). The registered model forecasts the next `horizon` closes of a bars frame,
stamped on the next trading sessions (`future_times`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradelab.data.bars import EXCHANGE_TZ, timeframe_minutes
from tradelab.data.calendar import next_sessions, session_hours, sessions
from tradelab.forecast.base import SeriesData
from tradelab.forecast.baselines import RANDOM_WALK, make_baselines
from tradelab.forecast.registry import load_forecaster
from tradelab.forecast.settings import BaselineSettings, model_config
from tradelab.promotion.families import (
    FamilySpec,
    InputExample,
    example_bars,
    param_value,
    register_family,
)
from tradelab.promotion.rules import Candidate, Objective
from tradelab.settings import from_plain

__all__ = ["FORECAST", "future_times", "predict_forecast"]

_VALIDATION = ("price_mae", "pct_return_mae", "latency_s")


def _config(candidate: Candidate, target: str) -> dict[str, Any]:
    study = copy.deepcopy(dict(candidate.context.get("config", {}).get("study", {})))
    if not study:
        raise ValueError(f"run {candidate.run_id}: the job's config.yaml has no study section")
    kind, name = candidate.params.get("kind", "baseline"), candidate.params.get("model", "")
    params = {
        k.removeprefix("config."): param_value(v)
        for k, v in candidate.params.items()
        if k.startswith("config.")
    }
    model = json.loads(candidate.params["model_config"]) if kind == "model" else None
    validation = {k: candidate.metrics.get(k) for k in _VALIDATION}
    return {
        "symbol": target,
        "name": name,
        "kind": kind,
        "model": model,
        "params": params,
        "study": study,
        "validation": validation,
    }


def _overlay(config: Mapping[str, Any], target: str) -> dict[str, Any]:
    study = {k: v for k, v in config["study"].items() if k not in ("symbols", "models")}
    if config["kind"] == "baseline":
        return {
            "defaults": [{"override /study": "forecast"}, {"override /model": "baselines"}],
            "symbol": target,
            "study": study,
        }
    model = copy.deepcopy(dict(config["model"]))
    model["search_space"] = {
        k: [v] for k, v in config["params"].items() if k in (model.get("search_space") or {})
    }
    # no model option, the bare schema of the model's type: the option file's search ranges
    # would not merge with the one-value lists below, and the result name (kronos_standard) is
    # not an option
    return {
        "defaults": [
            f"/schema/model/{model['type']}@model",
            {"override /study": "forecast"},
            {"override /model": None},
        ],
        "symbol": target,
        "study": study,
        "model": model,
        "search": {"n_trials": 1, "batch_size": 1},
    }


def _baseline(candidate: Candidate) -> str | None:
    if candidate.params.get("kind", "baseline") != "baseline":
        return None
    return candidate.params.get("model") or "baseline"


def _seed_files(config: Mapping[str, Any], target: str) -> dict[str, Any]:
    return {
        f"hyperparams/best/{target}.json": {
            "symbol": target,
            "model_type": config["name"],
            "config": dict(config["params"]),
            "validation": dict(config["validation"]),
        }
    }


def _forecaster(config: Mapping[str, Any]) -> Any:
    if config["kind"] == "baseline":
        raw = config["study"].get("baselines") or {}
        lookbacks = from_plain(BaselineSettings, raw, "study.baselines")
        models = make_baselines(lookbacks.drift_lookback, lookbacks.median_lookback)
        return next(m for m in models if m.name == config["name"])
    return load_forecaster(model_config(config["model"], "model"))


def future_times(last: pd.Timestamp, horizon: int, timeframe: str = "1day") -> pd.DatetimeIndex:
    """Return the times (UTC) of the `horizon` bars after `last` (a UTC time): for daily bars
    the next sessions at the last bar's New York time of day, for intraday bars the next bars of
    the regular sessions; weekends and NYSE holidays are skipped."""
    local = pd.Timestamp(last).tz_convert(EXCHANGE_TZ)
    minutes = timeframe_minutes(timeframe)
    if minutes is None:
        days = next_sessions(local.tz_localize(None), horizon)
        stamps = days + (local - local.normalize())
    else:
        stamps = _intraday_times(local.tz_localize(None), horizon, pd.Timedelta(minutes=minutes))
    return pd.DatetimeIndex(stamps).tz_localize(EXCHANGE_TZ).tz_convert("UTC").as_unit("ns")


def _intraday_times(after: pd.Timestamp, horizon: int, step: pd.Timedelta) -> pd.DatetimeIndex:
    """The `horizon` bar starts after `after` (naive New York time) within the regular
    sessions, early closes included."""
    today = after.normalize()
    per_day = max(1, pd.Timedelta(minutes=210) // step)  # the shortest (early-close) session
    days = pd.DatetimeIndex(
        [*sessions(today, today), *next_sessions(today, horizon // per_day + 2)]
    )
    opens, closes = session_hours(days)
    starts = []
    for day, open_min, close_min in zip(days, opens, closes):
        t, end = (
            day + pd.Timedelta(minutes=int(open_min)),
            day + pd.Timedelta(minutes=int(close_min)),
        )
        while t < end:
            if t > after:
                starts.append(t)
            t += step
        if len(starts) >= horizon:
            break
    return pd.DatetimeIndex(starts[:horizon])


def predict_forecast(config: Mapping[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Forecast the next `horizon` closes after the last bar of `frame` (timestamp + close,
    OHLCV for Kronos): the point forecast (the tuned aggregation) and the 10%/90% sample
    quantiles, stamped with the next trading sessions' bar times (weekends and NYSE holidays
    skipped)."""

    series = SeriesData.from_input(frame)
    horizon = int(config["study"].get("horizon", 1))
    model = _forecaster(config)
    params = dict(config["params"])
    context = series.context(len(series), model.context_length(params), horizon)
    samples = np.asarray(
        model.sample_paths(context, horizon, params, int(config["study"].get("seed", 1234)))
    )
    point = np.asarray(model.point_forecast(samples[None, ...], params))[0]
    last = float(series.close[-1])
    out = pd.DataFrame(
        {
            "step": np.arange(1, horizon + 1),
            "forecast_close": point,
            "forecast_return": point / last - 1.0,
            "q10": np.quantile(samples, 0.1, axis=0),
            "q90": np.quantile(samples, 0.9, axis=0),
        }
    )
    if series.timestamps is not None:
        last_time = pd.Timestamp(int(series.timestamps[-1]), unit="ns", tz="UTC")
        timeframe = str(config["study"].get("timeframe", "1day"))
        out.insert(1, "timestamp", future_times(last_time, horizon, timeframe))
    return out


def _example(config: Mapping[str, Any]) -> InputExample:
    minutes = timeframe_minutes(str(config["study"].get("timeframe", "1day")))
    return InputExample(
        example_bars(64, minutes=minutes), optional=("open", "high", "low", "volume")
    )


FORECAST = register_family(
    FamilySpec(
        name="forecast",
        objective=Objective("pct_return_mae", maximize=False),
        metric_names={"dm_pvalue": "dm_pvalue_vs_zero"},
        config=_config,
        overlay=_overlay,
        seed_files=_seed_files,
        predict=predict_forecast,
        example=_example,
        baseline=_baseline,
        reference_baseline=(RANDOM_WALK, "the random walk"),
        model_kind="forecaster",
    )
)

"""Forecast tuning: Toto, Kronos, Kronos ensemble and baselines on shared rolling windows.

Entry points: `tune_forecaster` (one symbol, one model: Optuna on pct_return_mae, result file),
`summarize_symbol` (best model per symbol, ensemble of ensembles, regime switch) and
`run_forecast_pipeline` (both, skipping models without weights). torch and the model
libraries are imported only when a model is loaded.
"""

from __future__ import annotations

from tradelab.forecast.aggregation import AGGREGATIONS, aggregate, parse_aggregation
from tradelab.forecast.base import Context, Forecaster, SeriesData, derive_seed, resolve_device
from tradelab.forecast.baselines import (
    BASELINE_NAMES,
    Drift,
    LookbackMedianReturn,
    ZeroReturn,
    make_baselines,
)
from tradelab.forecast.cache import SampleCache
from tradelab.forecast.kronos_model import KronosAdapter, KronosEnsembleAdapter
from tradelab.forecast.metrics import crps_from_samples, forecast_metrics
from tradelab.forecast.outputs import read_result, result_path
from tradelab.forecast.registry import check_available, load_forecaster
from tradelab.forecast.summary import (
    Candidate,
    SymbolSummary,
    run_forecast_pipeline,
    summarize_symbol,
    write_summary,
)
from tradelab.forecast.toto_model import TotoAdapter
from tradelab.forecast.tuning import ForecastStudyResult, TrialRecord, tune_forecaster
from tradelab.forecast.validation import Evaluation, ValidationPlan, Validator
from tradelab.forecast.weights import check_weights_dir

__all__ = [
    "AGGREGATIONS",
    "BASELINE_NAMES",
    "Candidate",
    "Context",
    "Drift",
    "Evaluation",
    "ForecastStudyResult",
    "Forecaster",
    "KronosAdapter",
    "KronosEnsembleAdapter",
    "LookbackMedianReturn",
    "SampleCache",
    "SeriesData",
    "SymbolSummary",
    "TotoAdapter",
    "TrialRecord",
    "ValidationPlan",
    "Validator",
    "ZeroReturn",
    "aggregate",
    "check_available",
    "check_weights_dir",
    "crps_from_samples",
    "derive_seed",
    "forecast_metrics",
    "load_forecaster",
    "make_baselines",
    "parse_aggregation",
    "read_result",
    "resolve_device",
    "result_path",
    "run_forecast_pipeline",
    "summarize_symbol",
    "tune_forecaster",
    "write_summary",
]

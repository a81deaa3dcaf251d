"""Tune one forecasting model for one symbol: Optuna TPE on `pct_return_mae`.

Order of work, so that a bad input fails before anything runs or is written:
config checks (search space, aggregations) -> data and windows -> model weights -> baselines
-> study (a child run per trial through the job) -> `<output_dir>/<model>/<SYMBOL>.json`.
Every trial uses the same sampling seed (common random numbers), so trials differ only by
their parameters, and the sample cache serves trials that differ only in aggregation.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradelab.data.symbols import validate_symbol
from tradelab.errors import DataError, ModelUnavailableError
from tradelab.forecast._config import as_plain, option
from tradelab.forecast.base import Forecaster, SeriesData
from tradelab.forecast.baselines import make_baselines
from tradelab.forecast.cache import SampleCache
from tradelab.forecast.outputs import result_path, write_strict_json
from tradelab.forecast.registry import adapter_class, load_forecaster, model_type_of
from tradelab.forecast.settings import ForecastStudyConfig
from tradelab.forecast.space import build_space, make_suggest, trial_params
from tradelab.forecast.validation import ValidationPlan, Validator
from tradelab.search import BatchResult, optimize_batched
from tradelab.tracking import Job

__all__ = [
    "ForecastStudyResult",
    "TrialRecord",
    "score_baselines",
    "study_settings",
    "tune_forecaster",
]

log = logging.getLogger(__name__)

# metrics written under "validation" in the result file, the seed's three first
VALIDATION_METRICS = (
    "price_mae",
    "pct_return_mae",
    "latency_s",
    "directional_accuracy",
    "crps",
    "skill_vs_zero",
)


@dataclass
class TrialRecord:
    """One finished trial: the parameters the model used and what they scored."""

    number: int
    params: dict[str, Any]
    value: float
    metrics: dict[str, float]
    run_id: str | None = None


@dataclass
class ForecastStudyResult:
    """What `tune_forecaster` found for one (symbol, model)."""

    symbol: str
    model: str
    model_type: str
    available: bool
    reason: str | None = None
    best_params: dict[str, Any] | None = None
    best_metrics: dict[str, float] | None = None
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    trials: list[TrialRecord] = field(default_factory=list)
    model_calls: int = 0
    model_calls_uncached: int = 0
    output_path: Path | None = None
    study_name: str | None = None
    windows: str = ""

    @property
    def calls_per_trial(self) -> float:
        """Window forecasts the model computed per trial of this run (with the cache)."""
        return self.model_calls / len(self.trials) if self.trials else float("nan")

    @property
    def calls_per_trial_uncached(self) -> float:
        """Window forecasts per trial without a cache (one per window)."""
        return self.model_calls_uncached / len(self.trials) if self.trials else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (trials included)."""
        out = dataclasses.asdict(self)
        out["output_path"] = None if self.output_path is None else str(self.output_path)
        out["calls_per_trial"] = self.calls_per_trial
        out["calls_per_trial_uncached"] = self.calls_per_trial_uncached
        return out


def study_settings(study_cfg: Any) -> dict[str, Any]:
    """Return the study config as a plain dict with every field (schema defaults filled)."""
    base = as_plain(ForecastStudyConfig())
    given = as_plain(study_cfg)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def score_baselines(
    validator: Validator, settings: Mapping[str, Any]
) -> dict[str, dict[str, float]]:
    """Score zero return, drift and lookback median on the validator's windows."""
    lookbacks = settings.get("baselines") or {}
    models = make_baselines(
        int(lookbacks.get("drift_lookback", 252)), int(lookbacks.get("median_lookback", 20))
    )
    out: dict[str, dict[str, float]] = {}
    for model in models:
        out[model.name] = validator.evaluate(model, {}).metrics
    reference = out["zero_return"]["pct_return_mae"]
    for metrics in out.values():
        metrics["skill_vs_zero"] = (
            1.0 - metrics["pct_return_mae"] / reference if reference > 0 else float("nan")
        )
    return out


def tune_forecaster(
    data: Any,
    model_cfg: Any,
    study_cfg: Any = None,
    search_cfg: Any = None,
    *,
    symbol: str,
    job: Job | None = None,
    output_dir: str | Path | None = None,
    forecaster: Forecaster | None = None,
    cache: SampleCache | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ForecastStudyResult:
    """Tune `model_cfg` on `data` (closes or a bars frame) and write the seed's result file.

    `study_cfg`: a `ForecastStudyConfig`-like object; `search_cfg`: an Optuna search config
    (`n_trials`, `batch_size`, `seed`, `storage`, `study_name`, `n_startup_trials`).
    `forecaster` skips loading (tests, reuse across symbols); `cache` shares sampled paths
    with later calls (e.g. `summarize_symbol`). Raises ModelUnavailableError before the study
    when weights are missing and `study.on_unavailable` is `error`; with `baselines` the
    result has `available=False`, the reason, and the baseline scores only.
    """
    symbol = validate_symbol(symbol)
    settings = study_settings(study_cfg)
    model = as_plain(model_cfg)
    kind = model_type_of(model)
    name = str(model.get("name") or kind)
    out_dir = Path(output_dir if output_dir is not None else settings["output_dir"])
    target = result_path(out_dir, name, symbol)

    space = None
    tunable: tuple[str, ...] = ()
    series = SeriesData.from_input(data)
    if kind != "baselines":
        adapter = adapter_class(kind)
        tunable = tuple(adapter.tunable)  # type: ignore[attr-defined]
        space = build_space(model.get("search_space") or {}, tunable)
        if adapter.requires_timestamps and series.timestamps is None:
            raise DataError(
                f"{name} needs bar timestamps: pass a bars frame with 'timestamp' or closes "
                "with a DatetimeIndex",
                field="timestamp",
            )
    if cache is None and settings.get("sample_cache", True):
        cache = SampleCache(settings.get("cache_dir"))
    validator = Validator(
        series, ValidationPlan.from_config(settings), seed=int(settings["seed"]), cache=cache
    )
    result = ForecastStudyResult(
        symbol, name, kind, available=True, windows=validator.fingerprint()
    )

    if kind != "baselines" and forecaster is None:
        try:
            forecaster = load_forecaster(model)
        except ModelUnavailableError as exc:
            if str(settings.get("on_unavailable", "error")) != "baselines":
                raise
            result.available, result.reason = False, str(exc)
    elif kind == "baselines":
        result.reason = "model=baselines: no model is tuned"

    result.baselines = score_baselines(validator, settings)
    if job is not None:
        _log_baselines(job, result)
    if forecaster is None:
        if result.reason and kind != "baselines":
            log.warning("%s unavailable for %s; baselines only: %s", name, symbol, result.reason)
        return result

    assert space is not None
    defaults = {k: model[k] for k in tunable if model.get(k) is not None}
    reference = result.baselines["zero_return"]["pct_return_mae"]
    pending: deque[tuple[dict[str, Any], dict[str, float]]] = deque()
    n_trials = int(option(search_cfg, "n_trials", 30))

    def evaluate_batch(batch: list[dict[str, Any]]) -> tuple[list[float], list[dict[str, float]]]:
        values: list[float] = []
        metrics: list[dict[str, float]] = []
        for suggested in batch:
            params = forecaster.resolved_params(trial_params(defaults, suggested))
            try:
                ev = validator.evaluate(forecaster, params, reference_mae=reference)
            except RuntimeError as exc:  # e.g. out of memory for one configuration
                log.warning("%s trial failed with %s: %s", name, params, exc)
                pending.append((params, {}))
                values.append(float("nan"))
                metrics.append({})
                continue
            result.model_calls += ev.model_calls
            result.model_calls_uncached += validator.n_windows
            pending.append((params, ev.metrics))
            values.append(ev.metrics["pct_return_mae"])
            metrics.append(ev.metrics)
        return values, metrics

    def on_result(res: BatchResult) -> None:
        params, metrics = pending.popleft()
        run_id = None
        if job is not None:
            run_id = job.log_trial(
                params,
                metrics or {"failed": 1.0},
                name=f"trial_{res.number:04d}",
                tags={
                    "model": name,
                    "symbol": symbol,
                    "cache_hit": metrics.get("model_calls") == 0,
                },
            )
        result.trials.append(TrialRecord(res.number, params, res.value, dict(metrics), run_id))
        if progress is not None:
            progress(len(result.trials), n_trials)

    storage = option(search_cfg, "storage")
    study_name = option(search_cfg, "study_name") or (
        f"forecast-{symbol}-{name}" if storage else None
    )
    study = optimize_batched(
        space,
        evaluate_batch,
        n_trials=n_trials,
        batch_size=int(option(search_cfg, "batch_size", 8)),
        direction="minimize",
        seed=int(option(search_cfg, "seed", 42)),
        storage=storage,
        study_name=study_name,
        n_startup_trials=int(option(search_cfg, "n_startup_trials", 10)),
        suggest=make_suggest(space),
        on_result=on_result,
    )
    result.study_name = study_name
    completed = [t for t in study.trials if t.value is not None and math.isfinite(t.value)]
    if not completed:
        raise RuntimeError(f"every {name} trial for {symbol} failed; nothing is written")
    best = min(completed, key=lambda t: t.value)
    result.best_params = forecaster.resolved_params(trial_params(defaults, best.params))
    result.best_metrics = {k: float(v) for k, v in best.user_attrs.items()}
    result.output_path = write_strict_json(target, _result_document(result, validator, settings))
    if job is not None:
        _log_study(job, result)
    return result


def _result_document(
    result: ForecastStudyResult, validator: Validator, settings: Mapping[str, Any]
) -> dict[str, Any]:
    metrics = result.best_metrics or {}
    return {
        "symbol": result.symbol,
        "model_type": result.model_type,
        "config": result.best_params,
        "validation": {k: metrics.get(k) for k in VALIDATION_METRICS},
        "baselines": {
            name: {k: m.get(k) for k in ("pct_return_mae", "price_mae", "directional_accuracy")}
            for name, m in result.baselines.items()
        },
        "study": {
            "model": result.model,
            "trials_this_run": len(result.trials),
            "study_name": result.study_name,
            "model_calls": result.model_calls,
            "model_calls_uncached": result.model_calls_uncached,
            "steps": validator.plan.steps,
            "horizon": validator.plan.horizon,
            "stride": validator.plan.stride,
            "seed": int(settings["seed"]),
            "windows": result.windows,
        },
    }


def _log_baselines(job: Job, result: ForecastStudyResult) -> None:
    metrics: dict[str, float] = {}
    for name, values in result.baselines.items():
        for key in ("pct_return_mae", "price_mae", "directional_accuracy"):
            metrics[f"{name}_{key}"] = values[key]
    job.log_metrics(metrics)
    job.set_tags({"model": result.model, "model_available": str(result.available).lower()})
    if result.reason:
        job.set_tags({"model_unavailable_reason": result.reason[:5000]})


def _log_study(job: Job, result: ForecastStudyResult) -> None:
    best = result.best_metrics or {}
    job.log_params({f"best.{k}": v for k, v in (result.best_params or {}).items()})
    job.log_metrics(
        {
            **{k: best[k] for k in VALIDATION_METRICS if k in best},
            "model_calls": result.model_calls,
            "model_calls_uncached": result.model_calls_uncached,
            "calls_per_trial": result.calls_per_trial,
            "calls_per_trial_uncached": result.calls_per_trial_uncached,
        }
    )
    if result.output_path is not None:
        job.log_artifact(result.output_path, "forecast")

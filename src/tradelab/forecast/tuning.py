"""Tune one forecasting model for one symbol: Optuna TPE on `pct_return_mae`.

Order of work, so that a bad input fails before anything runs or is written:
config checks (search space, aggregations) -> data and windows -> model weights -> baselines
-> study (a child run per trial through the job) -> `<output_dir>/<model>/<SYMBOL>.json`.
Every trial uses the same sampling seed (common random numbers), so trials differ only by
their parameters, and the sample cache serves trials that differ only in aggregation.
The study is named `forecast-<SYMBOL>-<model>-<hash>` (the model settings, the windows, the
seed, the search settings but `n_trials`, the source of `tradelab.forecast` and
`tradelab.search`): with persistent storage a rerun resumes it, and
the best of all its evaluated trials is the result. Trial runs are named `trial_<k>` for the
k-th evaluated trial; those of earlier runs are logged too, after the study (a job that keeps
each trial's run once skips the ones a finished job already holds).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradelab.data.symbols import validate_symbol
from tradelab.errors import DataError, ModelUnavailableError
from tradelab.forecast.base import Forecaster, SeriesData, tunable_defaults
from tradelab.forecast.baselines import RANDOM_WALK, make_baselines
from tradelab.forecast.cache import SampleCache
from tradelab.forecast.outputs import result_path, write_strict_json
from tradelab.forecast.registry import adapter_class, load_forecaster, model_name
from tradelab.forecast.settings import (
    BaselineSettings,
    BaselinesModelConfig,
    ForecastStudyConfig,
    ModelConfig,
    ModelType,
    OnUnavailable,
)
from tradelab.forecast.space import build_space, make_suggest, trial_params
from tradelab.forecast.validation import ValidationPlan, Validator
from tradelab.search import (
    BatchResult,
    SearchSpace,
    evaluated_trials,
    logs_here,
    name_study,
    optimize_batched,
    trial_metrics,
    trial_worker,
)
from tradelab.search.settings import OptunaSearchConfig
from tradelab.settings import to_plain
from tradelab.tracking import Job

__all__ = [
    "ForecastStudyResult",
    "TrialRecord",
    "make_validator",
    "score_baselines",
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
    """What `tune_forecaster` found for one (symbol, model); `model_type` as seed 002 names it."""

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


def make_validator(
    data: Any, study: ForecastStudyConfig, cache: SampleCache | None = None
) -> Validator:
    """The study's windows over `data`, with `cache` (else a new one when `sample_cache`)."""
    series = SeriesData.from_input(data)
    if cache is None and study.sample_cache:
        cache = SampleCache(study.cache_dir)
    return Validator(series, ValidationPlan.from_study(study), seed=study.seed, cache=cache)


def score_baselines(
    validator: Validator, lookbacks: BaselineSettings
) -> dict[str, dict[str, float]]:
    """Score zero return, drift and lookback median on the validator's windows."""
    out: dict[str, dict[str, float]] = {}
    for model in make_baselines(lookbacks.drift_lookback, lookbacks.median_lookback):
        out[model.name] = validator.evaluate(model, {}).metrics
    reference = out[RANDOM_WALK]["pct_return_mae"]
    for metrics in out.values():
        metrics["skill_vs_zero"] = (
            1.0 - metrics["pct_return_mae"] / reference if reference > 0 else float("nan")
        )
    return out


def tune_forecaster(
    data: Any,
    model: ModelConfig,
    study: ForecastStudyConfig | None = None,
    search: OptunaSearchConfig | None = None,
    *,
    symbol: str,
    job: Job | None = None,
    output_dir: str | Path | None = None,
    forecaster: Forecaster | None = None,
    cache: SampleCache | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ForecastStudyResult:
    """Tune `model` on `data` (closes or a bars frame) and write the seed's result file.

    `study` defaults to `ForecastStudyConfig()`, `search` to `OptunaSearchConfig()`.
    `forecaster` skips loading (tests, reuse across symbols); `cache` shares sampled paths
    with later calls (e.g. `summarize_symbol`). Raises ModelUnavailableError before the study
    when weights are missing and `study.on_unavailable` is `error`; with `baselines` the
    result has `available=False`, the reason, and the baseline scores only.
    """
    symbol = validate_symbol(symbol)
    study = study or ForecastStudyConfig()
    search = search or OptunaSearchConfig()
    name = model_name(model)
    out_dir = Path(output_dir if output_dir is not None else study.output_dir)
    target = result_path(out_dir, name, symbol)
    series = SeriesData.from_input(data)
    space = _model_space(model, series)  # config errors before anything runs
    validator = make_validator(series, study, cache)
    model_type = ModelType(model.type).seed_name
    result = ForecastStudyResult(
        symbol, name, model_type, available=True, windows=validator.fingerprint()
    )
    forecaster = _forecaster(model, forecaster, study, result)
    result.baselines = score_baselines(validator, study.baselines)
    if job is not None:
        _log_baselines(job, result)
    if forecaster is None or space is None:
        if result.reason and not isinstance(model, BaselinesModelConfig):
            log.warning("%s unavailable for %s; baselines only: %s", name, symbol, result.reason)
        return result

    tunable = adapter_class(model.type).tunable  # type: ignore[attr-defined]
    if not search.study_name:
        shaping = (to_plain(model), validator.fingerprint(), study.seed)
        prefix = f"forecast-{symbol}-{result.model}"
        named = name_study(prefix, search, *shaping, code=("forecast",))
        search = dataclasses.replace(search, study_name=named)
    trials = _Trials(forecaster, tunable_defaults(model, tunable), validator, result)
    trials.run(space, search, job=job, progress=progress)
    document = _result_document(result, validator, study)
    result.output_path = write_strict_json(target, document)
    if job is not None:
        _log_study(job, result)
    return result


def _model_space(model: ModelConfig, series: SeriesData) -> SearchSpace | None:
    """Parse the model's search space and check the data suits it (None for the baselines)."""
    if isinstance(model, BaselinesModelConfig):
        return None
    adapter = adapter_class(model.type)
    space = build_space(model.search_space, tuple(adapter.tunable))  # type: ignore[attr-defined]
    if adapter.requires_timestamps and series.timestamps is None:
        raise DataError(
            f"{model_name(model)} needs bar timestamps: pass a bars frame with 'timestamp' or "
            "closes with a DatetimeIndex",
            field="timestamp",
        )
    return space


def _forecaster(
    model: ModelConfig,
    given: Forecaster | None,
    study: ForecastStudyConfig,
    result: ForecastStudyResult,
) -> Forecaster | None:
    """`given`, or the loaded model; None (reason in `result`) when there is none to tune."""
    if isinstance(model, BaselinesModelConfig):
        result.reason = "model=baselines: no model is tuned"
        return None
    if given is not None:
        return given
    try:
        return load_forecaster(model)
    except ModelUnavailableError as exc:
        if study.on_unavailable != OnUnavailable.baselines:
            raise
        result.available, result.reason = False, str(exc)
        return None


class _Trials:
    """The Optuna study of one forecaster: batches of trials evaluated on the shared windows,
    each logged as a child run in the order Optuna reports them."""

    def __init__(
        self,
        forecaster: Forecaster,
        defaults: dict[str, Any],
        validator: Validator,
        result: ForecastStudyResult,
    ) -> None:
        self.forecaster = forecaster
        self.defaults = defaults
        self.validator = validator
        self.result = result
        self.reference = result.baselines[RANDOM_WALK]["pct_return_mae"]

    def run(
        self,
        space: SearchSpace,
        search: OptunaSearchConfig,
        *,
        job: Job | None,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        """Run the study to `search.n_trials`; record the best trial in the result."""
        result = self.result
        result.study_name = search.study_name

        def on_result(res: BatchResult) -> None:
            params = self.forecaster.resolved_params(trial_params(self.defaults, res.params))
            self.record(res.index, res.number, params, dict(res.metrics), res.value, job)
            if progress is not None:
                progress(len(result.trials), search.n_trials)

        study = optimize_batched(
            space,
            self.evaluate_batch,
            n_trials=search.n_trials,
            batch_size=search.batch_size,
            direction="minimize",
            seed=search.seed,
            storage=search.storage,
            study_name=search.study_name,
            n_startup_trials=search.n_startup_trials,
            suggest=make_suggest(space),
            on_result=on_result,
            max_retries=search.max_retries,
            stale_after_s=search.stale_after_s,
            heartbeat_s=search.heartbeat_s,
            grace_s=search.grace_s,
        )
        evaluated = evaluated_trials(study, search.n_trials)
        self.log_earlier(evaluated, job)
        completed = [t for t in evaluated if t.value is not None and math.isfinite(t.value)]
        if not completed:
            raise RuntimeError(
                f"every {result.model} trial for {result.symbol} failed; nothing is written"
            )
        best = min(completed, key=lambda t: t.value)
        result.best_params = self.forecaster.resolved_params(
            trial_params(self.defaults, best.params)
        )
        result.best_metrics = trial_metrics(best)

    def log_earlier(self, evaluated: list[Any], job: Job | None) -> None:
        """Log the trials earlier runs of the study evaluated (a job that keeps each trial's
        run once, as `tradelab.jobs` gives, skips those already logged); those of other live
        processes sharing the study are theirs to log (`logs_here`)."""
        if job is None:
            return
        mine = {record.number for record in self.result.trials}
        for index, trial in enumerate(evaluated):
            if index not in mine and logs_here(trial_worker(trial)):
                params = self.forecaster.resolved_params(trial_params(self.defaults, trial.params))
                self.log(job, index, trial.number, params, trial_metrics(trial))

    def evaluate_batch(
        self, batch: list[dict[str, Any]]
    ) -> tuple[list[float], list[dict[str, float]]]:
        """Score each suggested parameter set; a failing one scores NaN (logged as failed)."""
        values: list[float] = []
        metrics: list[dict[str, float]] = []
        for suggested in batch:
            params = self.forecaster.resolved_params(trial_params(self.defaults, suggested))
            try:
                ev = self.validator.evaluate(self.forecaster, params, reference_mae=self.reference)
            except RuntimeError as exc:  # e.g. out of memory for one configuration
                log.warning("%s trial failed with %s: %s", self.result.model, params, exc)
                values.append(float("nan"))
                metrics.append({})
                continue
            self.result.model_calls += ev.model_calls
            self.result.model_calls_uncached += self.validator.n_windows
            values.append(ev.metrics["pct_return_mae"])
            metrics.append(ev.metrics)
        return values, metrics

    def record(
        self,
        index: int,
        number: int,
        params: dict[str, Any],
        metrics: dict[str, float],
        value: float,
        job: Job | None,
    ) -> None:
        """Log one trial of this run as a child run and keep it in the result."""
        run_id = None if job is None else self.log(job, index, number, params, metrics)
        self.result.trials.append(TrialRecord(index, params, value, dict(metrics), run_id))

    def log(
        self, job: Job, index: int, number: int, params: dict[str, Any], metrics: dict[str, float]
    ) -> str:
        """Log trial `index` (Optuna's `number`) as a finished child run; return its id."""
        finite = {k: v for k, v in metrics.items() if math.isfinite(v)}
        tags = {
            "model": self.result.model,
            "symbol": self.result.symbol,
            "cache_hit": metrics.get("model_calls") == 0,
            "optuna_trial": number,
            "kind": "trial",
        }
        if self.result.study_name:
            tags["optuna_study"] = self.result.study_name
        return job.log_trial(params, finite or {"failed": 1.0}, name=f"trial {index}", tags=tags)


def _result_document(
    result: ForecastStudyResult, validator: Validator, study: ForecastStudyConfig
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
            "seed": study.seed,
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
    if result.study_name:
        job.set_tags({"optuna_study": result.study_name})
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

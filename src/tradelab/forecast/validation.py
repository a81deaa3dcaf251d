"""Rolling validation shared by every forecaster: the same windows, seeds and metrics.

Notation
    n_bars      bars in the series
    steps       forecast origins; stride bars apart; the last one's targets end at the last bar
    origins:    (steps,) index of the first forecast bar of each window:
                origin_s = n_bars - horizon - (steps - 1 - s) * stride
    last:       (steps,) close[origin_s - 1]
    actual:     (steps, horizon) close[origin_s : origin_s + horizon]
    samples:    (steps, n_samples, horizon)
    point:      (steps, horizon)

One evaluation draws the samples of every window (through the cache), aggregates them and
scores them. `model_calls` counts window forecasts the model actually computed; a cache hit
costs none.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradelab.errors import ConfigError, DataError
from tradelab.forecast.base import Forecaster, SeriesData
from tradelab.forecast.cache import SampleCache, cache_key
from tradelab.forecast.metrics import forecast_metrics
from tradelab.forecast.settings import ForecastStudyConfig

__all__ = ["Evaluation", "ValidationPlan", "Validator"]


@dataclass(frozen=True)
class ValidationPlan:
    """How many windows, how far ahead, how far apart, and the least history before one."""

    steps: int = ForecastStudyConfig.steps
    horizon: int = ForecastStudyConfig.horizon
    stride: int = ForecastStudyConfig.stride
    min_context: int = ForecastStudyConfig.min_context

    def __post_init__(self) -> None:
        for key in ("steps", "horizon", "stride", "min_context"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"study.{key}", f"must be >= 1, got {getattr(self, key)}")

    @classmethod
    def from_study(cls, study: ForecastStudyConfig) -> ValidationPlan:
        """The windows of a forecast study (`steps`, `horizon`, `stride`, `min_context`)."""
        return cls(study.steps, study.horizon, study.stride, study.min_context)


@dataclass
class Evaluation:
    """One forecaster with one parameter set on every window."""

    metrics: dict[str, float]
    point: np.ndarray
    samples: np.ndarray
    model_calls: int
    cache_hit: bool
    params: dict[str, Any] = field(default_factory=dict)


class Validator:
    """The windows of one series; evaluates forecasters on them."""

    def __init__(
        self,
        data: SeriesData,
        plan: ValidationPlan,
        *,
        seed: int = 0,
        cache: SampleCache | None = None,
    ) -> None:
        self.data = data
        self.plan = plan
        self.seed = int(seed)
        self.cache = cache
        n = len(data)
        first = n - plan.horizon - (plan.steps - 1) * plan.stride
        if first < plan.min_context:
            need = plan.min_context + plan.horizon + (plan.steps - 1) * plan.stride
            raise DataError(
                f"{plan.steps} windows of horizon {plan.horizon} (stride {plan.stride}) after "
                f"{plan.min_context} bars of context need {need} bars; the series has {n}",
                field="close",
            )
        self.origins = first + plan.stride * np.arange(plan.steps, dtype=np.int64)
        self.last = data.close[self.origins - 1]
        offsets = np.arange(plan.horizon, dtype=np.int64)
        self.actual = data.close[self.origins[:, None] + offsets[None, :]]
        self._fingerprint = cache_key(
            data=data.fingerprint(), origins=self.origins.tolist(), horizon=plan.horizon
        )

    @property
    def n_windows(self) -> int:
        return int(self.origins.size)

    def fingerprint(self) -> str:
        """Identify the data and windows (equal fingerprints: directly comparable scores)."""
        return self._fingerprint

    def draw(self, forecaster: Forecaster, params: Mapping[str, Any]) -> tuple[np.ndarray, float]:
        """Sample every window with the model (no cache): (samples, seconds)."""
        length = min(int(forecaster.context_length(params)), int(self.origins[0]))
        contexts = [self.data.context(int(o), length, self.plan.horizon) for o in self.origins]
        start = time.perf_counter()
        samples = forecaster.sample_batch(contexts, self.plan.horizon, params, self.seed)
        seconds = time.perf_counter() - start
        samples = np.asarray(samples, dtype=np.float64)
        expected = (self.n_windows, self.plan.horizon)
        if samples.ndim != 3 or (samples.shape[0], samples.shape[2]) != expected:
            raise RuntimeError(
                f"{forecaster.name} returned samples of shape {samples.shape}; expected "
                f"({expected[0]}, n_samples, {expected[1]})"
            )
        if not np.all(np.isfinite(samples)):
            raise RuntimeError(f"{forecaster.name} returned NaN or infinite sample paths")
        return samples, seconds

    def samples_for(
        self, forecaster: Forecaster, params: Mapping[str, Any]
    ) -> tuple[np.ndarray, float, bool]:
        """Return `(samples, seconds, cache_hit)` for a parameter set."""
        if self.cache is None or forecaster.deterministic:  # baselines: cheaper to redo
            samples, seconds = self.draw(forecaster, params)
            return samples, seconds, False
        key = cache_key(
            model=forecaster.identity(),
            windows=self._fingerprint,
            sampling=forecaster.sampling_params(params),
            seed=self.seed,
        )
        return self.cache.get_or_draw(key, lambda: self.draw(forecaster, params))

    def evaluate(
        self,
        forecaster: Forecaster,
        params: Mapping[str, Any],
        *,
        reference_mae: float | None = None,
    ) -> Evaluation:
        """Score `forecaster` with `params` on every window.

        `latency_s` is the model's seconds per window forecast when the samples were drawn
        (also for a cache hit); `reference_mae` (the zero-return baseline's pct_return_mae)
        adds `skill_vs_zero`.
        """
        samples, seconds, hit = self.samples_for(forecaster, params)
        point = forecaster.point_forecast(samples, params)
        metrics = forecast_metrics(self.last, self.actual, point, samples)
        metrics["latency_s"] = seconds / self.n_windows
        if reference_mae is not None:
            metrics["skill_vs_zero"] = (
                1.0 - metrics["pct_return_mae"] / reference_mae
                if reference_mae > 0
                else float("nan")
            )
        calls = 0 if hit else self.n_windows
        metrics["model_calls"] = float(calls)
        metrics["model_calls_uncached"] = float(self.n_windows)
        return Evaluation(metrics, point, samples, calls, hit, dict(params))

    def score_points(
        self, point: np.ndarray, reference_mae: float | None = None
    ) -> dict[str, float]:
        """Score externally combined point forecasts (steps, horizon) on these windows."""
        metrics = forecast_metrics(self.last, self.actual, point)
        if reference_mae is not None and reference_mae > 0:
            metrics["skill_vs_zero"] = 1.0 - metrics["pct_return_mae"] / reference_mae
        return metrics

    def recent_volatility(self, lookback: int) -> np.ndarray:
        """Std of the last `lookback` one-bar returns before each origin: (steps,)."""
        returns = self.data.close[1:] / self.data.close[:-1] - 1.0
        out = np.empty(self.n_windows)
        for i, origin in enumerate(self.origins):
            # returns[j] ends at bar j + 1, so bars before `origin` give returns[: origin - 1]
            window = returns[max(0, origin - 1 - lookback) : origin - 1]
            out[i] = window.std(ddof=1) if window.size > 1 else np.nan
        return out

    def volatility_threshold(self, lookback: int, quantile: float) -> float:
        """The `quantile` of rolling volatility over the bars before the first origin."""
        returns = (
            self.data.close[1 : int(self.origins[0])] / self.data.close[: int(self.origins[0]) - 1]
            - 1.0
        )
        if returns.size <= lookback:
            raise DataError(
                f"regime switch needs more than {lookback} returns before the first window",
                field="close",
            )
        windows = np.lib.stride_tricks.sliding_window_view(returns, lookback)
        return float(np.quantile(windows.std(axis=1, ddof=1), quantile))

"""Forecast tuning settings: `conf/model/*.yaml` (what is tuned) and `conf/study/forecast.yaml`.

A model option names its weights (local directories, never downloaded by tradelab), the
default value of every tunable parameter, and `search_space`: the parameters Optuna tunes, in
the `tradelab.search.SearchSpace` config form. A trial's parameters are the defaults with the
searched ones replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tradelab.errors import ConfigError
from tradelab.settings import from_plain

__all__ = [
    "MODEL_TYPES",
    "BaselineSettings",
    "BaselinesModelConfig",
    "ForecastStudyConfig",
    "KronosEnsembleModelConfig",
    "KronosModelConfig",
    "ModelConfig",
    "ModelType",
    "OnUnavailable",
    "RegimeSwitchConfig",
    "TotoModelConfig",
    "model_config",
]


class ModelType(StrEnum):
    """A model's `type` (also its `conf/model/<type>.yaml` option: `model=kronos`)."""

    toto = "toto"
    kronos = "kronos"
    kronos_ensemble = "kronos_ensemble"
    baselines = "baselines"

    @property
    def seed_name(self) -> str:
        """Return the seed's name of this type: `model_type` in result files (seed 002)."""
        return "kronos_standard" if self is ModelType.kronos else self.value


class OnUnavailable(StrEnum):
    error = "error"
    baselines = "baselines"


@dataclass(frozen=True)
class TotoModelConfig:
    """Toto (Datadog, `toto-ts`): sampled paths aggregated into a point forecast.

    `weights_dir` holds `config.json` + `model.safetensors` (Datadog/Toto-Open-Base-1.0).
    `samples_per_batch` is a memory knob: the largest divisor of `num_samples` not above it is
    used. `window_batch` validation windows share one forward pass (0: all of them).
    `one_pass_sampling`: for horizons within Toto's first patch, draw every path from one
    forward pass per window (same distribution as upstream's per-sample decoding, N times
    cheaper); false always uses upstream `TotoForecaster.forecast`.
    """

    name: str = "toto"
    type: ModelType = ModelType.toto
    weights_dir: str = "models/toto/Toto-Open-Base-1.0"
    device: str = "auto"
    context_length: int = 4096
    num_samples: int = 256
    aggregate: str = "trimmed_mean_10"
    samples_per_batch: int = 256
    window_batch: int = 0
    one_pass_sampling: bool = True
    search_space: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KronosModelConfig:
    """Kronos (upstream code shipped as `sktime.libs.kronos`, or a checkout at `repo_path`).

    `weights_dir` (e.g. NeoQuasar/Kronos-small) and `tokenizer_dir`
    (NeoQuasar/Kronos-Tokenizer-base) each hold `config.json` + `model.safetensors`.
    `sample_count` independent paths per forecast (batched copies of the context), averaged
    (`aggregate`). `top_k > 0` disables `top_p` upstream, so the search treats them as
    exclusive. `batch_size`: most sequences per generate call (memory knob). Its results
    and runs go by the seed's name, `kronos_standard`; the config option is `model=kronos`.
    """

    name: str = "kronos_standard"
    type: ModelType = ModelType.kronos
    weights_dir: str = "models/kronos/Kronos-small"
    tokenizer_dir: str = "models/kronos/Kronos-Tokenizer-base"
    repo_path: str | None = None
    device: str = "auto"
    temperature: float = 0.2
    top_p: float = 0.8
    top_k: int = 0
    sample_count: int = 160
    max_context: int = 256
    clip: float = 2.0
    aggregate: str = "mean"
    batch_size: int = 4096
    search_space: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KronosEnsembleModelConfig:
    """Kronos paths at `num_samples` temperatures from `temperature` to `temp_max`, pooled.

    Each temperature contributes `paths_per_temperature` paths; the pool is aggregated like
    Toto's samples (`aggregate`).
    """

    name: str = "kronos_ensemble"
    type: ModelType = ModelType.kronos_ensemble
    weights_dir: str = "models/kronos/Kronos-small"
    tokenizer_dir: str = "models/kronos/Kronos-Tokenizer-base"
    repo_path: str | None = None
    device: str = "auto"
    temperature: float = 0.15
    temp_max: float = 0.3
    top_p: float = 0.85
    top_k: int = 0
    num_samples: int = 10
    paths_per_temperature: int = 1
    max_context: int = 256
    clip: float = 1.8
    aggregate: str = "trimmed_mean_10"
    batch_size: int = 4096
    search_space: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BaselinesModelConfig:
    """No model: score only the baselines (zero return, drift, lookback median) on the windows."""

    name: str = "baselines"
    type: ModelType = ModelType.baselines


@dataclass(frozen=True)
class BaselineSettings:
    """Lookbacks (bars) of the drift and median-return baselines; 0 uses the whole history."""

    drift_lookback: int = 252
    median_lookback: int = 20


@dataclass(frozen=True)
class RegimeSwitchConfig:
    """The seed's volatility switch: `high_vol_model` when recent volatility is high, else
    `low_vol_model`.

    Recent volatility is the standard deviation of the last `vol_lookback` one-bar returns at
    each forecast origin; the threshold is the `vol_quantile` quantile of that rolling
    volatility over the history before the first validation window (no look-ahead).
    `high_vol_aggregate` re-aggregates the high-volatility model's cached samples (null: keep
    its tuned aggregation). Models are named as in the results (`toto`, `kronos_standard`,
    `kronos_ensemble`), as are `ensemble_members`.
    """

    vol_lookback: int = 20
    vol_quantile: float = 0.5
    high_vol_model: str = "toto"
    high_vol_aggregate: str | None = "trimmed_mean_5"
    low_vol_model: str = "kronos_ensemble"


@dataclass(frozen=True)
class ForecastStudyConfig:
    """Rolling validation and outputs of `tradelab-tune study=forecast`.

    `steps` forecast origins, `stride` bars apart, each forecasting `horizon` bars from the
    bars before it; the last origin's targets end at the last bar. `seed` drives every model's
    sampling (the same for all trials: common random numbers). `models` lists config options
    (`conf/model/<option>.yaml`). `output_dir` receives `<name>/<SYMBOL>.json`, named by each
    model's `name` (seed 002: `toto`, `kronos_standard`, `kronos_ensemble`). `sample_cache`
    reuses sampled paths across trials that differ only in aggregation; `cache_dir` also keeps
    them on disk (null: memory only).
    `on_unavailable`: `error` (missing weights stop the job before it starts) or `baselines`
    (score the baselines only and record why). Without `model=...` the app tunes every model
    of `models` that has weights (the others are reported unavailable) and always scores the
    baselines, for every symbol of `symbols` (or `symbol=`).
    """

    kind: str = "forecast"
    symbols: tuple[str, ...] = ("AAPL", "NVDA", "SPY")
    models: tuple[str, ...] = ("toto", "kronos", "kronos_ensemble")
    steps: int = 20
    horizon: int = 1
    stride: int = 1
    min_context: int = 64
    timeframe: str = "1day"
    seed: int = 1234
    output_dir: str = "results/hyperparams_optimized_all"
    summary_file: str = "results/optimization_summary.json"
    sample_cache: bool = True
    cache_dir: str | None = None
    on_unavailable: OnUnavailable = OnUnavailable.error
    baselines: BaselineSettings = field(default_factory=BaselineSettings)
    ensemble_members: tuple[str, ...] = ("toto", "kronos_ensemble")
    regime: RegimeSwitchConfig = field(default_factory=RegimeSwitchConfig)


ModelConfig = TotoModelConfig | KronosModelConfig | KronosEnsembleModelConfig | BaselinesModelConfig

MODEL_TYPES: dict[ModelType, type] = {
    ModelType.toto: TotoModelConfig,
    ModelType.kronos: KronosModelConfig,
    ModelType.kronos_ensemble: KronosEnsembleModelConfig,
    ModelType.baselines: BaselinesModelConfig,
}


def model_config(data: Mapping[str, Any] | ModelConfig, key: str = "model") -> ModelConfig:
    """Build the settings of the model `type` names from plain data."""
    if isinstance(data, tuple(MODEL_TYPES.values())):
        return data  # type: ignore[return-value]
    raw = data.get("type")
    try:
        cls = MODEL_TYPES[ModelType(raw)]
    except ValueError:
        known = [t.value for t in ModelType]
        raise ConfigError(
            f"{key}.type", f"unknown model type {raw!r}; use one of {known}"
        ) from None
    return from_plain(cls, data, key)

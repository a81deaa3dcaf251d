"""Model settings to forecasters: which adapter, is it available, what it tunes."""

from __future__ import annotations

from tradelab.errors import ConfigError, ModelUnavailableError
from tradelab.forecast.base import Forecaster
from tradelab.forecast.settings import (
    BaselinesModelConfig,
    ModelConfig,
    ModelType,
    TotoModelConfig,
)
from tradelab.forecast.weights import check_weights_dir, require_modules

__all__ = [
    "adapter_class",
    "check_available",
    "load_forecaster",
    "model_name",
]


def model_name(model: ModelConfig) -> str:
    """Return the name a model's results and runs go by (its `name`, else its type)."""
    return model.name or ModelType(model.type).value


def adapter_class(model_type: ModelType | str) -> type[Forecaster]:
    """Return the adapter class of a model type (not `baselines`)."""
    kind = str(model_type)
    if kind == ModelType.toto:
        from tradelab.forecast.toto_model import TotoAdapter

        return TotoAdapter
    if kind == ModelType.kronos:
        from tradelab.forecast.kronos_model import KronosAdapter

        return KronosAdapter
    if kind == ModelType.kronos_ensemble:
        from tradelab.forecast.kronos_model import KronosEnsembleAdapter

        return KronosEnsembleAdapter
    raise ConfigError("model.type", f"{kind!r} has no model adapter")


def load_forecaster(model: ModelConfig, *, device: str | None = None) -> Forecaster:
    """Load the forecaster a model's settings describe (ModelUnavailableError when it cannot)."""
    return adapter_class(model.type).load(model, device=device)


def check_available(model: ModelConfig) -> str | None:
    """Return why a model cannot run (weights or libraries missing), or None; loads nothing."""
    if isinstance(model, BaselinesModelConfig):
        return None
    try:
        if isinstance(model, TotoModelConfig):
            check_weights_dir(model.weights_dir, "toto")
            require_modules("toto", ("torch", "toto", "gluonts"))
        else:
            check_weights_dir(model.weights_dir, "kronos")
            check_weights_dir(model.tokenizer_dir, "kronos_tokenizer")
            libs = ("torch", "huggingface_hub") if model.repo_path else ("torch", "sktime")
            require_modules("kronos", libs)
    except ModelUnavailableError as exc:
        return str(exc)
    return None

"""Model configs to forecasters: which adapter, is it available, what it tunes."""

from __future__ import annotations

from typing import Any

from tradelab.errors import ConfigError, ModelUnavailableError
from tradelab.forecast._config import as_plain
from tradelab.forecast.base import Forecaster
from tradelab.forecast.weights import check_weights_dir, require_modules

__all__ = [
    "MODEL_TYPES",
    "adapter_class",
    "check_available",
    "load_forecaster",
    "model_type_of",
]

MODEL_TYPES: tuple[str, ...] = ("toto", "kronos", "kronos_ensemble", "baselines")


def model_type_of(model_cfg: Any) -> str:
    """Return the config's `type` (defaults to its `name`), checked against MODEL_TYPES."""
    c = as_plain(model_cfg)
    kind = str(c.get("type") or c.get("name") or "")
    if kind not in MODEL_TYPES:
        raise ConfigError("model.type", f"unknown model type {kind!r}; use one of {MODEL_TYPES}")
    return kind


def adapter_class(model_type: str) -> type[Forecaster]:
    """Return the adapter class of a model type (not `baselines`)."""
    if model_type == "toto":
        from tradelab.forecast.toto_model import TotoAdapter

        return TotoAdapter
    if model_type == "kronos":
        from tradelab.forecast.kronos_model import KronosAdapter

        return KronosAdapter
    if model_type == "kronos_ensemble":
        from tradelab.forecast.kronos_model import KronosEnsembleAdapter

        return KronosEnsembleAdapter
    raise ConfigError("model.type", f"{model_type!r} has no model adapter")


def load_forecaster(model_cfg: Any, *, device: str | None = None) -> Forecaster:
    """Load the forecaster a model config describes (ModelUnavailableError when it cannot)."""
    return adapter_class(model_type_of(model_cfg)).load(model_cfg, device=device)


def check_available(model_cfg: Any) -> str | None:
    """Return why a model cannot run (weights or libraries missing), or None; loads nothing."""
    kind = model_type_of(model_cfg)
    if kind == "baselines":
        return None
    c = as_plain(model_cfg)
    try:
        if kind == "toto":
            check_weights_dir(c.get("weights_dir", ""), "toto")
            require_modules("toto", ("torch", "toto", "gluonts"))
        else:
            check_weights_dir(c.get("weights_dir", ""), "kronos")
            check_weights_dir(c.get("tokenizer_dir", ""), "kronos_tokenizer")
            libs = ("torch", "huggingface_hub") if c.get("repo_path") else ("torch", "sktime")
            require_modules("kronos", libs)
    except ModelUnavailableError as exc:
        return str(exc)
    return None

"""Kronos through the upstream classes (`sktime.libs.kronos`, or a checkout at `repo_path`).

Notation
    W             windows
    P             paths per window (`sample_count`; per temperature in the ensemble)
    L             context bars (the shortest window's, capped at `max_context`)
    features:     (W, L, 6) open, high, low, close, volume, amount, normalised per window
                  ((x - mean) / (std + 1e-5), clipped to +-clip) as upstream's predictor does
    stamps:       (W, L, 5) and (W, horizon, 5) minute, hour, weekday, day, month (UTC)
    samples:      (W, P, horizon) float64 close paths

Independent paths come from batching P copies of each window's context through
`KronosPredictor.generate` with `sample_count=1` (upstream averages inside one call, which
would hide the spread). At most `batch_size` sequences go through one call; each call is
seeded. `top_k > 0` disables `top_p` upstream; `top_p` is then passed as 1.0.
Kronos ensemble: P paths at each of `num_samples` temperatures evenly spaced from
`temperature` to `temp_max`, pooled into (W, num_samples * P, horizon).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradelab.errors import DataError, ModelUnavailableError
from tradelab.forecast._torch import file_identity, seeded_torch
from tradelab.forecast.base import (
    Context,
    Forecaster,
    derive_seed,
    resolve_device,
    tunable_defaults,
)
from tradelab.forecast.settings import KronosEnsembleModelConfig, KronosModelConfig
from tradelab.forecast.weights import check_weights_dir, require_modules

__all__ = ["KronosAdapter", "KronosEnsembleAdapter", "kronos_classes"]

_EPS = 1e-5


def kronos_classes(repo_path: str | Path | None = None) -> tuple[Any, Any, Any]:
    """Return upstream `(Kronos, KronosTokenizer, KronosPredictor)`.

    Without `repo_path` they come from `sktime.libs.kronos`. A checkout of
    github.com/shiyu-coder/Kronos is imported as the package `model` (its code imports
    `model.module` by that absolute name).
    """
    if repo_path is None:
        require_modules("kronos", ("torch", "sktime", "huggingface_hub"))
        try:
            from sktime.libs.kronos import Kronos, KronosPredictor, KronosTokenizer
        except ImportError as exc:
            raise ModelUnavailableError(f"sktime.libs.kronos cannot be imported: {exc}") from exc
        return Kronos, KronosTokenizer, KronosPredictor
    require_modules("kronos", ("torch", "huggingface_hub"))
    init = Path(repo_path).expanduser().resolve() / "model" / "__init__.py"
    if not init.is_file():
        raise ModelUnavailableError(
            f"kronos checkout {init.parents[1]} has no model/__init__.py: clone "
            "https://github.com/shiyu-coder/Kronos there, or unset model.repo_path to use "
            "sktime.libs.kronos"
        )
    module = sys.modules.get("model")
    if module is not None:
        loaded = Path(getattr(module, "__file__", "") or "").resolve()
        if loaded != init:
            raise ModelUnavailableError(
                f"a different module named 'model' ({loaded}) is already imported; the Kronos "
                f"checkout {init.parents[1]} cannot be loaded in this process"
            )
    else:
        spec = importlib.util.spec_from_file_location(
            "model", init, submodule_search_locations=[str(init.parent)]
        )
        if spec is None or spec.loader is None:
            raise ModelUnavailableError(f"cannot import the Kronos checkout at {init.parent}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["model"] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop("model", None)
            raise ModelUnavailableError(
                f"the Kronos checkout at {init.parent} failed to import: {exc}"
            ) from exc
    try:
        return module.Kronos, module.KronosTokenizer, module.KronosPredictor
    except AttributeError as exc:
        raise ModelUnavailableError(
            f"the Kronos checkout at {init.parent} lacks {exc.name}; update the checkout"
        ) from exc


class KronosAdapter(Forecaster):
    """Kronos: `sample_count` independent paths per window, averaged by default."""

    model_type = "kronos"
    default_aggregate = "mean"
    requires_timestamps = True
    tunable: tuple[str, ...] = (
        "temperature",
        "top_p",
        "top_k",
        "sample_count",
        "max_context",
        "clip",
        "aggregate",
    )

    def __init__(
        self,
        predictor: Any,
        *,
        name: str = "kronos",
        weights_dirs: tuple[Path, Path] | None = None,
        device: str = "cpu",
        defaults: Mapping[str, Any] | None = None,
        batch_size: int = 4096,
    ) -> None:
        self.predictor = predictor
        self.name = name
        self.weights_dirs = weights_dirs
        self.device = device
        self.defaults: dict[str, Any] = {
            "temperature": 1.0,
            "top_p": 0.9,
            "top_k": 0,
            "sample_count": 1,
            "max_context": 512,
            "clip": 5.0,
        }
        self.defaults.update(defaults or {})
        self.batch_size = max(1, int(batch_size))

    @classmethod
    def load(  # type: ignore[override]
        cls, cfg: KronosModelConfig | KronosEnsembleModelConfig, *, device: str | None = None
    ) -> KronosAdapter:
        """Load tokenizer and model from local directories, `.eval()` both, check the pair."""
        model_dir = check_weights_dir(cfg.weights_dir, "kronos")
        tokenizer_dir = check_weights_dir(cfg.tokenizer_dir, "kronos_tokenizer")
        kronos_cls, tokenizer_cls, predictor_cls = kronos_classes(cfg.repo_path)
        dev = resolve_device(device or cfg.device)
        try:
            tokenizer = tokenizer_cls.from_pretrained(str(tokenizer_dir))
            model = kronos_cls.from_pretrained(str(model_dir))
        except Exception as exc:  # hub mixin / torch / safetensors errors
            raise ModelUnavailableError(
                f"kronos weights could not be loaded from {model_dir} and {tokenizer_dir} "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        tokenizer.eval()
        model.eval()
        _check_pair(tokenizer, model, tokenizer_dir, model_dir)
        defaults = tunable_defaults(cfg, cls.tunable)
        predictor = predictor_cls(
            model,
            tokenizer,
            device=dev,
            max_context=int(defaults.get("max_context", 512)),
            clip=float(defaults.get("clip", 5.0)),
        )
        return cls(
            predictor,
            name=cfg.name or cls.model_type,
            weights_dirs=(model_dir, tokenizer_dir),
            device=dev,
            defaults=defaults,
            batch_size=cfg.batch_size,
        )

    def resolved_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Fill defaults; with `top_k > 0` record `top_p` as None (upstream ignores it)."""
        p = {**self.defaults, **{k: v for k, v in params.items() if v is not None}}
        p["top_k"] = int(p["top_k"])
        if p["top_k"] > 0:
            p["top_p"] = None
        return p

    def sampling_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        p = self.resolved_params(params)
        return {k: p.get(k) for k in self.tunable if k not in self.aggregation_params}

    def context_length(self, params: Mapping[str, Any]) -> int:
        return int(self.resolved_params(params)["max_context"])

    def sample_paths(
        self, context: Context, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        return self.sample_batch([context], horizon, params, seed)[0]

    def sample_batch(
        self, contexts: Sequence[Context], horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        p = self.resolved_params(params)
        return self._draw(
            contexts, horizon, p, int(p["sample_count"]), float(p["temperature"]), seed
        )

    def _draw(
        self,
        contexts: Sequence[Context],
        horizon: int,
        p: Mapping[str, Any],
        n_paths: int,
        temperature: float,
        seed: int,
    ) -> np.ndarray:
        """Draw `n_paths` close paths per window at one temperature: (W, n_paths, horizon)."""
        if n_paths < 1:
            raise ValueError(f"{self.name}: number of paths must be >= 1, got {n_paths}")
        max_context, clip = int(p["max_context"]), float(p["clip"])
        top_k = int(p["top_k"])
        top_p = 1.0 if top_k > 0 or p.get("top_p") is None else float(p["top_p"])
        features, stamps, future, mean, std = _prepare(contexts, horizon, max_context, clip)
        self.predictor.max_context = max_context
        self.predictor.clip = clip
        rows = np.repeat(np.arange(len(contexts)), n_paths)  # window-major copies
        closes = np.empty((rows.size, horizon), dtype=np.float64)
        for k, start in enumerate(range(0, rows.size, self.batch_size)):
            idx = rows[start : start + self.batch_size]
            with seeded_torch(derive_seed(seed, k), self.device):
                preds = self.predictor.generate(
                    features[idx],
                    stamps[idx],
                    future[idx],
                    horizon,
                    temperature,
                    top_k,
                    top_p,
                    1,
                    False,
                )
            closes[start : start + idx.size] = np.asarray(preds)[:, -horizon:, 3]
        paths = closes.reshape(len(contexts), n_paths, horizon)
        return paths * (std[:, 3] + _EPS)[:, None, None] + mean[:, 3][:, None, None]

    def identity(self) -> str:
        parts = [self.model_type, self.device, f"bs{self.batch_size}"]
        for folder in self.weights_dirs or ():
            weights = folder / "model.safetensors"
            parts.append(file_identity(weights) if weights.is_file() else str(folder))
        return ":".join(parts)

    def describe(self) -> dict[str, Any]:
        model_dir, tokenizer_dir = self.weights_dirs or ("", "")
        return {
            "model_type": self.model_type,
            "weights_dir": str(model_dir),
            "tokenizer_dir": str(tokenizer_dir),
            "device": self.device,
        }


class KronosEnsembleAdapter(KronosAdapter):
    """Kronos paths at several temperatures, pooled and aggregated like Toto's samples."""

    model_type = "kronos_ensemble"
    default_aggregate = "trimmed_mean_10"
    tunable: tuple[str, ...] = (
        "temperature",
        "temp_max",
        "top_p",
        "top_k",
        "num_samples",
        "paths_per_temperature",
        "max_context",
        "clip",
        "aggregate",
    )

    def __init__(self, predictor: Any, **kwargs: Any) -> None:
        super().__init__(predictor, **kwargs)
        self.defaults = {
            "temp_max": 0.3,
            "num_samples": 10,
            "paths_per_temperature": 1,
            **self.defaults,
        }
        self.defaults.pop("sample_count", None)

    def temperatures(self, params: Mapping[str, Any]) -> np.ndarray:
        """The `num_samples` temperatures, evenly spaced from `temperature` to `temp_max`."""
        p = self.resolved_params(params)
        count = int(p["num_samples"])
        if count < 1:
            raise ValueError(f"{self.name}: num_samples must be >= 1, got {count}")
        return np.linspace(float(p["temperature"]), float(p["temp_max"]), count)

    def sample_batch(
        self, contexts: Sequence[Context], horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        p = self.resolved_params(params)
        per_temp = int(p["paths_per_temperature"])
        parts = [
            self._draw(contexts, horizon, p, per_temp, float(t), derive_seed(seed, i))
            for i, t in enumerate(self.temperatures(p))
        ]
        return np.concatenate(parts, axis=1)


def _check_pair(tokenizer: Any, model: Any, tokenizer_dir: Path, model_dir: Path) -> None:
    """Raise ModelUnavailableError unless the tokenizer's codebook matches the model's."""
    tok_bits = (getattr(tokenizer, "s1_bits", None), getattr(tokenizer, "s2_bits", None))
    mod_bits = (getattr(model, "s1_bits", None), getattr(model, "s2_bits", None))
    if None in tok_bits or tok_bits != mod_bits:
        raise ModelUnavailableError(
            f"kronos tokenizer {tokenizer_dir} (s1_bits, s2_bits = {tok_bits}) does not match "
            f"model {model_dir} ({mod_bits}): use the tokenizer the model was trained with "
            "(Kronos-small/base: Kronos-Tokenizer-base; Kronos-mini: Kronos-Tokenizer-2k)"
        )
    d_in = getattr(tokenizer, "d_in", 6)
    if d_in != 6:
        raise ModelUnavailableError(
            f"kronos tokenizer {tokenizer_dir} reads {d_in} features; expected 6 "
            "(open, high, low, close, volume, amount)"
        )


def _prepare(
    contexts: Sequence[Context], horizon: int, max_context: int, clip: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Normalised features, calendar stamps and per-window mean/std (see module notation)."""
    length = min(min(c.close.size for c in contexts), max_context)
    feats, stamps, future, means, stds = [], [], [], [], []
    for ctx in contexts:
        if ctx.timestamps is None or ctx.future_timestamps is None:
            raise DataError("kronos needs bar timestamps (calendar features)", field="timestamp")
        if ctx.ohlcv is not None:
            ohlcv = ctx.ohlcv[-length:]
        else:
            close = ctx.close[-length:]
            ohlcv = np.column_stack([close, close, close, close, np.zeros_like(close)])
        amount = ohlcv[:, 4] * ohlcv[:, :4].mean(axis=1)
        x = np.column_stack([ohlcv, amount]).astype(np.float64)
        mean, std = x.mean(axis=0), x.std(axis=0)
        feats.append(np.clip((x - mean) / (std + _EPS), -clip, clip))
        means.append(mean)
        stds.append(std)
        stamps.append(_calendar(ctx.timestamps[-length:]))
        future.append(_calendar(ctx.future_timestamps[:horizon]))
    return (
        np.stack(feats).astype(np.float32),
        np.stack(stamps),
        np.stack(future),
        np.stack(means),
        np.stack(stds),
    )


def _calendar(ns: np.ndarray) -> np.ndarray:
    """Kronos calendar features (n, 5): minute, hour, weekday, day, month of UTC times."""
    index = pd.DatetimeIndex(np.asarray(ns, dtype="datetime64[ns]"))
    return np.column_stack(
        [index.minute, index.hour, index.day_of_week, index.day, index.month]
    ).astype(np.float32)

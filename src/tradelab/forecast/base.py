"""The forecaster contract and the series it reads.

Notation
    n_bars        bars in the series
    n_context     bars a forecaster sees before a forecast origin
    horizon       bars forecast after the origin
    close:        (n_bars,) float64, strictly positive
    ohlcv:        (n_bars, 5) float64 open, high, low, close, volume (None: closes only)
    timestamps:   (n_bars,) int64 nanoseconds since the epoch, UTC, increasing (None: unknown)
    samples:      (n_samples, horizon) sampled price paths of one window
    batch:        (n_windows, n_samples, horizon) the same for several windows

A forecaster draws price paths; an aggregation (see `aggregation`) turns them into a point
forecast. Sampling is seeded: the same context, parameters and seed give the same paths.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradelab.errors import DataError
from tradelab.forecast.aggregation import aggregate
from tradelab.forecast.settings import ModelConfig

__all__ = [
    "Context",
    "Forecaster",
    "SeriesData",
    "derive_seed",
    "resolve_device",
    "tunable_defaults",
]


def derive_seed(seed: int, *keys: int) -> int:
    """Derive an independent 31-bit seed from `seed` and integer `keys` (stable across runs)."""
    entropy = [int(seed) & 0xFFFFFFFF, *(int(k) & 0xFFFFFFFF for k in keys)]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint32)[0] >> 1)


def resolve_device(device: str | None) -> str:
    """Map `auto` to `cuda` when torch sees a GPU, else `cpu`; other values pass through."""
    if device in (None, "", "auto"):
        try:
            import torch
        except ImportError:
            return "cpu"
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def tunable_defaults(cfg: ModelConfig, names: Sequence[str]) -> dict[str, Any]:
    """The model settings' values of the tunable parameters `names` (None values left out)."""
    values = {k: getattr(cfg, k, None) for k in names}
    return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class Context:
    """What a forecaster sees for one window: the bars before the origin (oldest first)."""

    close: np.ndarray
    ohlcv: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    future_timestamps: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.close.ndim != 1 or self.close.size == 0:
            raise ValueError(f"context close must be 1-D and non-empty; got {self.close.shape}")

    @property
    def last(self) -> float:
        return float(self.close[-1])

    def tail(self, length: int) -> Context:
        """Return the last `length` bars (all of them when shorter)."""
        start = max(0, self.close.size - int(length))
        return Context(
            self.close[start:],
            None if self.ohlcv is None else self.ohlcv[start:],
            None if self.timestamps is None else self.timestamps[start:],
            self.future_timestamps,
        )


@dataclass(frozen=True)
class SeriesData:
    """One symbol's bars as arrays (see the notation above)."""

    close: np.ndarray
    ohlcv: np.ndarray | None = None
    timestamps: np.ndarray | None = None

    @classmethod
    def from_input(cls, data: Any) -> SeriesData:
        """Read closes (Series, array) or a bars frame (`timestamp`, `open` ... `volume`)."""
        timestamps = None
        ohlcv = None
        if isinstance(data, SeriesData):
            return data
        if isinstance(data, pd.DataFrame):
            if "close" not in data.columns:
                raise DataError("bars frame has no 'close' column", field="close")
            close = data["close"].to_numpy(dtype=np.float64)
            cols = ["open", "high", "low", "close", "volume"]
            if all(c in data.columns for c in cols):
                ohlcv = data[cols].to_numpy(dtype=np.float64)
            if "timestamp" in data.columns:
                timestamps = _to_ns(data["timestamp"])
            elif isinstance(data.index, pd.DatetimeIndex):
                timestamps = _to_ns(data.index)
        elif isinstance(data, pd.Series):
            close = data.to_numpy(dtype=np.float64)
            if isinstance(data.index, pd.DatetimeIndex):
                timestamps = _to_ns(data.index)
        else:
            close = np.asarray(data, dtype=np.float64)
        out = cls(close, ohlcv, timestamps)
        out.validate()
        return out

    def validate(self) -> None:
        """Raise DataError unless closes are finite and positive and timestamps increase."""
        if self.close.ndim != 1 or self.close.size < 3:
            raise DataError(f"need a 1-D series of at least 3 closes; got {self.close.shape}")
        bad = np.flatnonzero(~np.isfinite(self.close) | (self.close <= 0.0))
        if bad.size:
            raise DataError("close must be finite and positive", row=int(bad[0]), field="close")
        if self.ohlcv is not None:
            if self.ohlcv.shape != (self.close.size, 5):
                raise DataError(f"ohlcv must be (n_bars, 5); got {self.ohlcv.shape}")
            bad_rows = np.flatnonzero(~np.all(np.isfinite(self.ohlcv), axis=1))
            if bad_rows.size:
                raise DataError("OHLCV has NaN or infinite values", row=int(bad_rows[0]))
        if self.timestamps is not None:
            if self.timestamps.shape != self.close.shape:
                raise DataError("timestamps and closes differ in length", field="timestamp")
            steps = np.flatnonzero(np.diff(self.timestamps) <= 0)
            if steps.size:
                raise DataError(
                    "timestamps must increase strictly", row=int(steps[0]) + 1, field="timestamp"
                )

    def __len__(self) -> int:
        return int(self.close.size)

    def context(self, origin: int, length: int, horizon: int) -> Context:
        """Return the `length` bars before `origin` (and the next `horizon` timestamps)."""
        start = max(0, origin - length)
        future = None
        if self.timestamps is not None:
            future = self.future_timestamps(origin, horizon)
        return Context(
            self.close[start:origin],
            None if self.ohlcv is None else self.ohlcv[start:origin],
            None if self.timestamps is None else self.timestamps[start:origin],
            future,
        )

    def future_timestamps(self, origin: int, horizon: int) -> np.ndarray:
        """Timestamps of the `horizon` bars from `origin`, extrapolated past the last bar."""
        assert self.timestamps is not None
        known = self.timestamps[origin : origin + horizon]
        if known.size == horizon:
            return known
        span = self.timestamps[max(0, origin - 50) : origin]
        step = int(np.median(np.diff(span))) if span.size > 1 else 86_400_000_000_000
        start = known[-1] if known.size else self.timestamps[origin - 1]
        extra = start + step * np.arange(1, horizon - known.size + 1, dtype=np.int64)
        return np.concatenate([known, extra])

    def fingerprint(self) -> str:
        """Hash of the arrays (16 hex digits): identifies the data in cache keys."""
        h = hashlib.sha256()
        for arr in (self.close, self.ohlcv, self.timestamps):
            h.update(b"-" if arr is None else np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:16]


def _to_ns(values: Any) -> np.ndarray:
    index = pd.DatetimeIndex(values)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("ns").asi8.astype(np.int64)


class Forecaster(ABC):
    """A model that samples price paths. Implementations: Toto, Kronos, Kronos ensemble, baselines.

    `params` is a trial's parameters (model defaults with the searched ones replaced).
    Parameters in `aggregation_params` only change how samples become a point forecast, so
    trials that differ only there can reuse sampled paths (see `SampleCache`).
    """

    name: str = "forecaster"
    model_type: str = "forecaster"
    deterministic: bool = False
    requires_timestamps: bool = False
    default_aggregate: str = "mean"
    aggregation_params: frozenset[str] = frozenset({"aggregate"})

    @classmethod
    @abstractmethod
    def load(cls, cfg: ModelConfig, *, device: str | None = None) -> Forecaster:
        """Build the forecaster a model's settings describe (weights from local directories)."""

    @abstractmethod
    def sample_paths(
        self, context: Context, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        """Draw price paths for one window: (n_samples, horizon)."""

    def sample_batch(
        self, contexts: Sequence[Context], horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        """Draw paths for several windows: (n_windows, n_samples, horizon).

        The default calls `sample_paths` per window with seeds derived from `seed`; models
        override it to batch windows into one forward pass.
        """
        rows = [
            self.sample_paths(ctx, horizon, params, derive_seed(seed, i))
            for i, ctx in enumerate(contexts)
        ]
        return np.stack(rows)

    def context_length(self, params: Mapping[str, Any]) -> int:
        """Bars of history this forecaster reads for `params`."""
        return 512

    def point_forecast(self, samples: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
        """Aggregate samples (..., n_samples, horizon) with the trial's `aggregate`."""
        return aggregate(samples, str(params.get("aggregate") or self.default_aggregate))

    def resolved_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters as the model uses them (defaults filled, derived values set)."""
        return dict(params)

    def sampling_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters that change the sampled paths (everything but aggregation)."""
        return {k: params[k] for k in sorted(params) if k not in self.aggregation_params}

    def identity(self) -> str:
        """What distinguishes this forecaster's samples from another's (weights, knobs)."""
        return self.name

    def describe(self) -> dict[str, Any]:
        """Plain facts to log (model type, weights, device)."""
        return {"model_type": self.model_type}


def stable_json(obj: Any) -> str:
    """Serialise `obj` canonically (sorted keys, numpy scalars as Python numbers)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)

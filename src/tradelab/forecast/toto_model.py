"""Toto through the real `toto-ts` classes: `Toto.load_from_checkpoint` + `TotoForecaster`.

Notation
    W             windows forecast in one forward pass (`window_batch`, 0: all)
    L             context bars (the shortest window's, capped at `context_length`)
    N             num_samples; drawn `samples_per_batch` (a divisor of N) at a time
    series:       (W, 1, L) float32 closes, one variate per window
    samples:      (W, N, horizon) float64 price paths

Toto scales each series itself, so raw closes go in. Sampling is seeded per forward pass
(torch's global generators are forked, so the caller's random state is untouched).

Sampling modes (`one_pass_sampling`):
    true (default), horizon <= patch size: one forward pass per window, then N draws from the
        output distribution at the forecast positions (the same distribution upstream's
        per-sample decoding draws from, at 1/N of its forward cost);
    false, or a longer horizon: upstream `TotoForecaster.forecast`, which decodes each sample
        autoregressively from its own copy of the context, `samples_per_batch` at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tradelab.errors import ModelUnavailableError
from tradelab.forecast._torch import file_identity, seeded_torch
from tradelab.forecast.base import (
    Context,
    Forecaster,
    derive_seed,
    resolve_device,
    tunable_defaults,
)
from tradelab.forecast.settings import TotoModelConfig
from tradelab.forecast.weights import check_weights_dir, require_modules

__all__ = ["TotoAdapter", "masked_inputs", "samples_per_batch"]

_SECONDS_PER_DAY = 86_400


def samples_per_batch(num_samples: int, limit: int) -> int:
    """Return the largest divisor of `num_samples` that is at most `limit` (at least 1)."""
    n = int(num_samples)
    if n < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    for size in range(min(n, max(1, int(limit))), 0, -1):
        if n % size == 0:
            return size
    return 1


class TotoAdapter(Forecaster):
    """Toto sampled paths; the trial's `aggregate` makes the point forecast."""

    model_type = "toto"
    default_aggregate = "trimmed_mean_10"
    tunable: tuple[str, ...] = ("num_samples", "aggregate", "samples_per_batch", "context_length")

    def __init__(
        self,
        forecaster: Any,
        *,
        name: str = "toto",
        weights_dir: str | Path = "",
        device: str = "cpu",
        defaults: Mapping[str, Any] | None = None,
        window_batch: int = 0,
        one_pass: bool = True,
    ) -> None:
        self._forecaster = forecaster
        self.one_pass = bool(one_pass)
        self.name = name
        self.weights_dir = Path(weights_dir)
        self.device = device
        self.defaults = {"num_samples": 256, "samples_per_batch": 256, "context_length": 4096}
        self.defaults.update(defaults or {})
        self.window_batch = int(window_batch)

    @classmethod
    def load(  # type: ignore[override]
        cls, cfg: TotoModelConfig, *, device: str | None = None
    ) -> TotoAdapter:
        """Load Toto from `cfg.weights_dir` (config.json + model.safetensors)."""
        weights = check_weights_dir(cfg.weights_dir, "toto")
        require_modules("toto", ("torch", "toto", "gluonts", "einops", "jaxtyping"))
        dev = resolve_device(device or cfg.device)
        try:
            from toto.inference.forecaster import TotoForecaster
            from toto.model.toto import Toto
        except ImportError as exc:
            raise ModelUnavailableError(f"toto-ts cannot be imported: {exc}") from exc
        try:
            model = Toto.load_from_checkpoint(str(weights), map_location=dev)
        except Exception as exc:  # upstream raises whatever torch/safetensors raise
            raise ModelUnavailableError(
                f"toto weights in {weights} could not be loaded ({type(exc).__name__}: {exc}); "
                "check that config.json matches model.safetensors"
            ) from exc
        model.eval()
        return cls(
            TotoForecaster(model.model),
            name=cfg.name or "toto",
            weights_dir=weights,
            device=dev,
            defaults=tunable_defaults(cfg, cls.tunable),
            window_batch=cfg.window_batch,
            one_pass=cfg.one_pass_sampling,
        )

    def context_length(self, params: Mapping[str, Any]) -> int:
        return int(params.get("context_length") or self.defaults["context_length"])

    def resolved_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Fill defaults and make `samples_per_batch` a divisor of `num_samples`."""
        p = {**self.defaults, **{k: v for k, v in params.items() if v is not None}}
        p["num_samples"] = int(p["num_samples"])
        p["samples_per_batch"] = samples_per_batch(p["num_samples"], int(p["samples_per_batch"]))
        return p

    def sampling_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        p = self.resolved_params(params)
        return {k: p[k] for k in ("num_samples", "samples_per_batch", "context_length")}

    def sample_paths(
        self, context: Context, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        return self.sample_batch([context], horizon, params, seed)[0]

    def sample_batch(
        self, contexts: Sequence[Context], horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        import torch

        p = self.resolved_params(params)
        n, per_batch = p["num_samples"], p["samples_per_batch"]
        length = min(min(c.close.size for c in contexts), self.context_length(p))
        n_windows = len(contexts)
        group = self.window_batch if self.window_batch > 0 else n_windows
        out = np.empty((n_windows, n, horizon), dtype=np.float64)
        for g, start in enumerate(range(0, n_windows, group)):
            sl = slice(start, min(start + group, n_windows))
            inputs = masked_inputs(contexts[sl], length, self.device)
            with seeded_torch(derive_seed(seed, g), self.device):
                if self.one_pass and horizon <= self.patch_size:
                    distr = self.first_patch_distribution(inputs, horizon)
                    chunks = [distr.sample((per_batch,)) for _ in range(n // per_batch)]
                    # (N, w, variate, horizon) -> (w, N, horizon)
                    drawn = torch.cat(chunks, dim=0)[:, :, 0, :].permute(1, 0, 2)
                else:
                    forecast = self._forecaster.forecast(
                        inputs,
                        prediction_length=horizon,
                        num_samples=n,
                        samples_per_batch=per_batch,
                    )
                    # samples: (w, variate, horizon, N) -> (w, N, horizon)
                    drawn = forecast.samples[:, 0].permute(0, 2, 1)
            out[sl] = drawn.to(torch.float64).cpu().numpy()
        return out

    @property
    def patch_size(self) -> int:
        return int(self._forecaster.model.patch_embed.patch_size)

    def first_patch_distribution(self, inputs: Any, horizon: int) -> Any:
        """Return the output distribution of the first `horizon` forecast steps (one pass).

        Upstream decodes every sample from its own copy of the context; within the first
        patch those copies produce this same distribution, so N draws from it follow the
        distribution upstream samples, at 1/N of the forward cost. The output head runs on
        the forecast positions only (it acts on each position separately).
        """
        import torch
        from toto.data.util.dataset import pad_array, pad_id_mask

        backbone = self._forecaster.model
        stride = backbone.patch_embed.stride
        series = pad_array(inputs.series, stride)
        with torch.no_grad():
            features, loc, scale = backbone.backbone(
                series,
                pad_array(inputs.padding_mask, stride),
                pad_id_mask(inputs.id_mask, stride),
                None,
                series.shape[-1],
                0,
            )
            # the outputs at the last patch of the context predict the next patch
            first = features.shape[2] - self.patch_size
            positions = slice(first, first + horizon)
            if loc.shape[-1] > 1:
                loc, scale = loc[:, :, positions], scale[:, :, positions]
            head = backbone.output_distribution(features[:, :, positions, :])
        return self._forecaster.create_affine_transformed(head, loc, scale)

    def identity(self) -> str:
        weights = self.weights_dir / "model.safetensors"
        ident = file_identity(weights) if weights.is_file() else str(self.weights_dir)
        mode = "one_pass" if self.one_pass else "upstream"
        return f"{self.model_type}:{ident}:{self.device}:wb{self.window_batch}:{mode}"

    def describe(self) -> dict[str, Any]:
        return {
            "model_type": self.model_type,
            "weights_dir": str(self.weights_dir),
            "device": self.device,
        }


def masked_inputs(contexts: Sequence[Context], length: int, device: str) -> Any:
    """Toto's input for windows of equal `length`: a MaskedTimeseries of shape (W, 1, L)."""
    import torch
    from toto.data.util.dataset import MaskedTimeseries

    closes = np.stack([c.close[-length:] for c in contexts]).astype(np.float32)
    seconds, interval = _timestamp_seconds(contexts, length)
    dev = torch.device(device)
    series = torch.from_numpy(closes[:, None, :]).to(dev)
    return MaskedTimeseries(
        series=series,
        padding_mask=torch.ones_like(series, dtype=torch.bool),
        id_mask=torch.zeros_like(series, dtype=torch.int),
        timestamp_seconds=torch.from_numpy(seconds[:, None, :]).to(dev),
        time_interval_seconds=torch.full(
            (series.shape[0], 1), interval, dtype=torch.int, device=dev
        ),
    )


def _timestamp_seconds(contexts: Sequence[Context], length: int) -> tuple[np.ndarray, int]:
    """POSIX seconds (W, L) of each window's bars and the bar interval in seconds."""
    if all(c.timestamps is not None for c in contexts):
        stamps = np.stack([c.timestamps[-length:] for c in contexts]) // 1_000_000_000  # type: ignore[index]
        diffs = np.diff(stamps, axis=1)
        interval = int(np.median(diffs)) if diffs.size else _SECONDS_PER_DAY
        return stamps.astype(np.int64), max(1, interval)
    steps = np.arange(length, dtype=np.int64) * _SECONDS_PER_DAY
    return np.broadcast_to(steps, (len(contexts), length)).copy(), _SECONDS_PER_DAY

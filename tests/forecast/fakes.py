"""An in-memory stochastic forecaster with Toto's parameters (no torch)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tradelab.forecast.base import Context, Forecaster
from tradelab.forecast.settings import TotoModelConfig
from tradelab.forecast.toto_model import samples_per_batch


class NoisyWalk(Forecaster):
    """Paths: last close times exp(cumulative N(0, scale^2) returns), seeded by `seed`."""

    name = "toto"
    model_type = "toto"
    default_aggregate = "mean"

    def __init__(self, scale: float = 0.01) -> None:
        self.scale = scale
        self.calls = 0

    @classmethod
    def load(cls, cfg: TotoModelConfig | None = None, *, device: str | None = None) -> NoisyWalk:
        return cls()

    def resolved_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        p = {"num_samples": 16, "samples_per_batch": 8, "context_length": 64, **params}
        p["samples_per_batch"] = samples_per_batch(p["num_samples"], p["samples_per_batch"])
        return p

    def context_length(self, params: Mapping[str, Any]) -> int:
        return int(self.resolved_params(params)["context_length"])

    def sample_paths(
        self, context: Context, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        self.calls += 1
        n = int(self.resolved_params(params)["num_samples"])
        steps = np.random.default_rng(seed).normal(0.0, self.scale, size=(n, horizon))
        return context.last * np.exp(np.cumsum(steps, axis=1))

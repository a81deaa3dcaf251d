"""Baselines every model is scored against, on the same windows.

Notation
    c_0 .. c_{L-1}   closes of the window's lookback (c_{L-1} is the last close)
    r_t = c_t / c_{t-1} - 1   one-bar simple returns inside the lookback
    k = 1 .. horizon

    zero_return       c_{L-1}                                      (random walk)
    drift             c_{L-1} * (1 + g)^k,  g = (c_{L-1} / c_0)^(1 / (L - 1)) - 1
                      (the geometric mean one-bar return over the lookback)
    lookback_median   c_{L-1} * (1 + m)^k,  m = median(r_t)

Each returns one deterministic path: samples of shape (1, horizon).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tradelab.forecast.base import Context, Forecaster
from tradelab.forecast.settings import BaselineSettings, BaselinesModelConfig

__all__ = [
    "BASELINE_NAMES",
    "RANDOM_WALK",
    "Drift",
    "LookbackMedianReturn",
    "ZeroReturn",
    "make_baselines",
]

RANDOM_WALK = "zero_return"
"""The baseline every forecast is measured against (skill, promotion): tomorrow's close is
today's."""
BASELINE_NAMES: tuple[str, ...] = (RANDOM_WALK, "drift", "lookback_median")


class _Baseline(Forecaster):
    deterministic = True
    lookback = 0

    @classmethod
    def load(  # type: ignore[override]
        cls, cfg: BaselinesModelConfig | None = None, *, device: str | None = None
    ) -> Forecaster:
        return cls()

    def context_length(self, params: Mapping[str, Any]) -> int:
        return self.lookback + 1 if self.lookback > 0 else 1 << 30

    def sample_paths(
        self, context: Context, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        closes = context.close if self.lookback <= 0 else context.close[-(self.lookback + 1) :]
        rate = self._rate(np.asarray(closes, dtype=np.float64))
        steps = np.arange(1, horizon + 1, dtype=np.float64)
        return (closes[-1] * (1.0 + rate) ** steps)[None, :]

    def _rate(self, closes: np.ndarray) -> float:
        raise NotImplementedError

    def identity(self) -> str:
        return f"{self.name}:{self.lookback}"


class ZeroReturn(_Baseline):
    """Tomorrow's close is today's close."""

    name = model_type = RANDOM_WALK

    def _rate(self, closes: np.ndarray) -> float:
        return 0.0


class Drift(_Baseline):
    """Extrapolate the geometric mean return of the lookback (0: all history given)."""

    name = model_type = "drift"

    def __init__(self, lookback: int = 252) -> None:
        self.lookback = int(lookback)

    def _rate(self, closes: np.ndarray) -> float:
        if closes.size < 2:
            return 0.0
        return float((closes[-1] / closes[0]) ** (1.0 / (closes.size - 1)) - 1.0)


class LookbackMedianReturn(_Baseline):
    """Extrapolate the median one-bar return of the lookback."""

    name = model_type = "lookback_median"

    def __init__(self, lookback: int = 20) -> None:
        self.lookback = int(lookback)

    def _rate(self, closes: np.ndarray) -> float:
        if closes.size < 2:
            return 0.0
        return float(np.median(closes[1:] / closes[:-1] - 1.0))


def make_baselines(
    drift_lookback: int = BaselineSettings.drift_lookback,
    median_lookback: int = BaselineSettings.median_lookback,
) -> list[Forecaster]:
    """Return the three baselines in `BASELINE_NAMES` order."""
    return [ZeroReturn(), Drift(drift_lookback), LookbackMedianReturn(median_lookback)]

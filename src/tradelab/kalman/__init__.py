"""Batched Kalman filters (local level, dynamic hedge ratio) on NumPy, numba and CuPy."""

from __future__ import annotations

from tradelab.kalman.dispatch import (
    BACKENDS,
    available_backends,
    hedge_ratio_filter,
    local_level_filter,
    resolve_backend,
    rolling_zscore,
)
from tradelab.kalman.result import HedgeRatioResult, LocalLevelResult

__all__ = [
    "BACKENDS",
    "HedgeRatioResult",
    "LocalLevelResult",
    "available_backends",
    "hedge_ratio_filter",
    "local_level_filter",
    "resolve_backend",
    "rolling_zscore",
]

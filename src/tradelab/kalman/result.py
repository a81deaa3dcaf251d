"""Outputs of the batched Kalman filters.

Notation:
    n_sets   number of parameter sets filtered at once
    n_bars   length of the observed series
Every array is `(n_sets, n_bars)` float64. The compiled backends fill time-major buffers
`(n_bars, n_sets)` (so a time step writes one contiguous row across parameter sets) and return
their transposes: F-contiguous views with the same shape and values.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["HedgeRatioResult", "LocalLevelResult"]


class LocalLevelResult(NamedTuple):
    """Local-level (random walk plus noise) filter output."""

    levels: np.ndarray  # filtered level x_t|t
    residuals: np.ndarray  # y_t - x_t|t
    variances: np.ndarray  # filtered state variance p_t|t
    slopes: np.ndarray  # x_t|t - x_t-1|t-1 (0 at t = 0)
    residual_z: np.ndarray  # residual z-score against the previous `lookback` residuals


class HedgeRatioResult(NamedTuple):
    """Dynamic hedge-ratio filter output (a_t = beta_t * b_t + e_t)."""

    betas: np.ndarray  # filtered hedge ratio beta_t|t
    spreads: np.ndarray  # a_t - beta_t|t * b_t
    variances: np.ndarray  # filtered state variance P_t|t

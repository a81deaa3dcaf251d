"""Turn sampled paths into a point forecast; one set of methods shared by every model.

Notation
    samples: (..., n_samples, horizon)   sampled price paths; the samples axis is -2
    point:   (..., horizon)              the aggregated forecast
    n        number of samples, X a percentage, Q a probability

Methods (the `aggregate` parameter)
    mean                    arithmetic mean of the n samples
    median                  the 0.5 quantile
    trimmed_mean_X          sort; drop k = floor(n * X / 100) samples from EACH tail (the k
                            smallest and the k largest); mean of the n - 2k left.
                            0 <= X < 50; k is capped at (n - 1) // 2 so a sample remains.
    lower_trimmed_mean_X    sort; drop the k = floor(n * X / 100) LARGEST samples only; mean
                            of the n - k smallest left (a forecast leaning below the plain
                            mean, beside the low quantiles in seed 002's search space).
                            0 <= X < 100; k is capped at n - 1.
    quantile_Q              the Q quantile, 0 <= Q <= 1, linear interpolation between order
                            statistics (numpy's default), e.g. quantile_0.25
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import NamedTuple

import numpy as np

__all__ = ["AGGREGATIONS", "Aggregation", "aggregate", "parse_aggregation"]

# The forms a config may use (X and Q are numbers).
AGGREGATIONS: tuple[str, ...] = (
    "mean",
    "median",
    "trimmed_mean_X",
    "lower_trimmed_mean_X",
    "quantile_Q",
)

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_TRIMMED = re.compile(rf"^(lower_)?trimmed_mean_{_NUMBER}$")
_QUANTILE = re.compile(rf"^quantile_{_NUMBER}$")


class Aggregation(NamedTuple):
    """A parsed `aggregate` string: `kind` in mean/median/trimmed/lower_trimmed/quantile."""

    kind: str
    value: float = 0.0


@lru_cache(maxsize=256)
def parse_aggregation(spec: str) -> Aggregation:
    """Parse an `aggregate` string; a malformed one raises ValueError naming the field."""
    text = str(spec).strip()
    if text in ("mean", "median"):
        return Aggregation(text)
    match = _TRIMMED.match(text)
    if match:
        pct = float(match.group(2))
        lower = match.group(1) is not None
        limit = 100.0 if lower else 50.0
        if not 0.0 <= pct < limit:
            raise ValueError(f"aggregate {spec!r}: X must be in [0, {limit:g}) percent")
        return Aggregation("lower_trimmed" if lower else "trimmed", pct)
    match = _QUANTILE.match(text)
    if match:
        q = float(match.group(1))
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"aggregate {spec!r}: Q must be in [0, 1]")
        return Aggregation("quantile", q)
    raise ValueError(f"aggregate {spec!r}: use one of {', '.join(AGGREGATIONS)}")


def aggregate(samples: np.ndarray, spec: str) -> np.ndarray:
    """Aggregate `samples` (..., n_samples, horizon) into a point forecast (..., horizon)."""
    method = parse_aggregation(spec)
    arr = np.asarray(samples, dtype=np.float64)
    if arr.ndim < 2 or arr.shape[-2] == 0:
        raise ValueError(f"samples must be (..., n_samples >= 1, horizon); got shape {arr.shape}")
    n = arr.shape[-2]
    if method.kind == "mean":
        return arr.mean(axis=-2)
    if method.kind == "median":
        return np.median(arr, axis=-2)
    if method.kind == "quantile":
        return np.quantile(arr, method.value, axis=-2)
    k = math.floor(n * method.value / 100.0 + 1e-9)
    ordered = np.sort(arr, axis=-2)
    if method.kind == "trimmed":
        k = min(k, (n - 1) // 2)
        return ordered[..., k : n - k, :].mean(axis=-2)
    k = min(k, n - 1)
    return ordered[..., : n - k, :].mean(axis=-2)

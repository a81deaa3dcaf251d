"""Parameter grids encoded as mixed-radix integers.

Notation:
    n_params   number of grid dimensions
    radix      (n_params,) int64, number of values of each dimension
    values     (n_params, max_radix) float64, values of each dimension, NaN-padded
    combo      an int64 in [0, size): digit k = (combo // stride[k]) % radix[k],
               the LAST dimension varying fastest (stride[-1] = 1)

Kernels receive `radix` and `values` and decode combinations themselves; nothing here builds a
Python object per combination.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradelab.search.space import Dimension

__all__ = ["VERIFICATION_BELOW", "Grid"]

VERIFICATION_BELOW = 10
"""A grid of fewer combinations re-checks configurations rather than searching (a production
re-run, `grid=single`): its runs are verification runs, never promotion candidates."""


@dataclass(frozen=True)
class Grid:
    """A named exhaustive grid over strategy parameters."""

    names: tuple[str, ...]
    levels: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.levels):
            raise ValueError("grid names and levels differ in length")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate grid parameters in {self.names}")
        for name, lv in zip(self.names, self.levels):
            if not lv:
                raise ValueError(f"grid parameter '{name}' has no values")

    @classmethod
    def from_config(cls, spec: Mapping[str, Any]) -> Grid:
        """Build a grid from `{param: [values] | {values: [...]} | {min, max, step}}`."""
        names, levels = [], []
        for name, item in spec.items():
            dim = Dimension.parse(str(name), item)
            if not dim.discrete:
                raise ValueError(
                    f"grid parameter '{name}' must be discrete (values or min/max/step)"
                )
            assert dim.values is not None
            try:
                lv = tuple(float(v) for v in dim.values)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"grid parameter '{name}' has a non-numeric value") from exc
            names.append(str(name))
            levels.append(lv)
        return cls(tuple(names), tuple(levels))

    @property
    def radix(self) -> np.ndarray:
        return np.array([len(lv) for lv in self.levels], dtype=np.int64)

    @property
    def strides(self) -> np.ndarray:
        radix = self.radix
        strides = np.ones(len(radix), dtype=np.int64)
        for k in range(len(radix) - 2, -1, -1):
            strides[k] = strides[k + 1] * radix[k + 1]
        return strides

    @property
    def values(self) -> np.ndarray:
        width = max(len(lv) for lv in self.levels)
        out = np.full((len(self.levels), width), np.nan)
        for k, lv in enumerate(self.levels):
            out[k, : len(lv)] = lv
        return out

    @property
    def size(self) -> int:
        return math.prod(len(lv) for lv in self.levels)

    def index_of(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"grid has no parameter '{name}' (has {list(self.names)})") from None

    def digits(self, combos: np.ndarray) -> np.ndarray:
        """Return `(len(combos), n_params)` level indices of each combination."""
        combos = np.asarray(combos, dtype=np.int64)
        if combos.size and (combos.min() < 0 or combos.max() >= self.size):
            raise IndexError(f"combination index outside [0, {self.size})")
        return (combos[:, None] // self.strides[None, :]) % self.radix[None, :]

    def decode(self, combos: np.ndarray) -> dict[str, np.ndarray]:
        """Return parameter values of `combos`, one array per parameter (vectorized)."""
        digits = self.digits(combos)
        values = self.values
        return {name: values[k, digits[:, k]] for k, name in enumerate(self.names)}

    def encode(self, digits: np.ndarray) -> np.ndarray:
        """Inverse of `digits`: level indices `(n, n_params)` to combination indices."""
        digits = np.asarray(digits, dtype=np.int64)
        return digits @ self.strides

    def encode_values(self, values: Mapping[str, Any]) -> np.ndarray:
        """Inverse of `decode`: `{name: array of values}` to combination indices.

        Every value must be one of the grid's levels (to 1e-9 relative); a missing name or an
        off-grid value raises.
        """
        digits = []
        for k, name in enumerate(self.names):
            if name not in values:
                raise KeyError(f"no values for grid parameter '{name}'")
            v = np.atleast_1d(np.asarray(values[name], dtype=np.float64))
            lv = np.asarray(self.levels[k])
            idx = np.abs(v[:, None] - lv[None, :]).argmin(axis=1)
            if not np.allclose(lv[idx], v, rtol=1e-9, atol=1e-12):
                bad = v[~np.isclose(lv[idx], v, rtol=1e-9, atol=1e-12)][0]
                raise ValueError(f"value {bad!r} of '{name}' is not a level of the grid")
            digits.append(idx)
        return self.encode(np.stack(digits, axis=1))

    def fingerprint(self) -> str:
        """Hash of names and values: a cache built for another grid is never reused."""
        blob = json.dumps([self.names, self.levels])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

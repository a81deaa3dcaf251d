"""Search spaces: discrete value lists and continuous ranges, enumerated, sampled or suggested.

A space is a mapping `name -> Dimension`. Configs describe a dimension as
`{values: [...]}`, `{min: a, max: b, step: s}` (a discrete range) or
`{low: a, high: b, log: false, type: float}` (continuous, Optuna only).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Dimension", "SearchSpace"]


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: either `values` (discrete) or `low`/`high` (continuous)."""

    name: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    is_int: bool = False

    @property
    def discrete(self) -> bool:
        return self.values is not None

    @classmethod
    def parse(cls, name: str, spec: Any) -> Dimension:
        """Read a dimension from its config form (see module docstring)."""
        if isinstance(spec, list | tuple):
            spec = {"values": list(spec)}
        if not isinstance(spec, Mapping):
            return cls(name, values=(spec,))
        keys = set(spec)
        if "values" in keys:
            values = tuple(spec["values"])
            if not values:
                raise ValueError(f"search dimension '{name}': 'values' is empty")
            return cls(name, values=values)
        if {"min", "max"} <= keys:
            lo, hi = spec["min"], spec["max"]
            step = spec.get("step", 1)
            if step <= 0 or hi < lo:
                raise ValueError(f"search dimension '{name}': need min <= max and step > 0")
            count = math.floor((hi - lo) / step + 1e-9) + 1
            if all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi, step)):
                values = tuple(int(lo + i * step) for i in range(count))
            else:
                values = tuple(round(lo + i * step, 10) for i in range(count))
            return cls(name, values=values)
        if {"low", "high"} <= keys:
            lo, hi = float(spec["low"]), float(spec["high"])
            if hi < lo:
                raise ValueError(f"search dimension '{name}': need low <= high")
            is_int = spec.get("type", "float") == "int"
            return cls(name, low=lo, high=hi, log=bool(spec.get("log", False)), is_int=is_int)
        raise ValueError(
            f"search dimension '{name}': give 'values', 'min'/'max'[/'step'] or 'low'/'high'"
        )


class SearchSpace:
    """An ordered set of dimensions."""

    def __init__(self, dimensions: list[Dimension]) -> None:
        names = [d.name for d in dimensions]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate search dimensions in {names}")
        self.dimensions = dimensions

    @classmethod
    def from_config(cls, spec: Mapping[str, Any]) -> SearchSpace:
        """Build a space from `{name: spec}` (order kept)."""
        return cls([Dimension.parse(str(name), value) for name, value in spec.items()])

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    @property
    def discrete(self) -> bool:
        return all(d.discrete for d in self.dimensions)

    def size(self) -> int:
        """Return the number of grid combinations (discrete spaces only)."""
        self._require_discrete("size")
        return math.prod(len(d.values or ()) for d in self.dimensions)

    def grid(self) -> Iterator[dict[str, Any]]:
        """Yield every combination, the last dimension varying fastest."""
        self._require_discrete("grid")
        for combo in itertools.product(*(d.values or () for d in self.dimensions)):
            yield dict(zip(self.names, combo))

    def sample(self, n: int, seed: int) -> list[dict[str, Any]]:
        """Draw `n` combinations, each value chosen uniformly and independently (seeded)."""
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(n):
            row: dict[str, Any] = {}
            for d in self.dimensions:
                if d.discrete:
                    assert d.values is not None
                    row[d.name] = _plain(d.values[int(rng.integers(len(d.values)))])
                else:
                    assert d.low is not None and d.high is not None
                    if d.log:
                        value = math.exp(rng.uniform(math.log(d.low), math.log(d.high)))
                    else:
                        value = rng.uniform(d.low, d.high)
                    row[d.name] = round(value) if d.is_int else value
            out.append(row)
        return out

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Ask an Optuna trial for one value per dimension."""
        out: dict[str, Any] = {}
        for d in self.dimensions:
            if d.discrete:
                assert d.values is not None
                out[d.name] = trial.suggest_categorical(d.name, list(d.values))
            elif d.is_int:
                out[d.name] = trial.suggest_int(d.name, int(d.low), int(d.high), log=d.log)
            else:
                out[d.name] = trial.suggest_float(d.name, d.low, d.high, log=d.log)
        return out

    def _require_discrete(self, what: str) -> None:
        if not self.discrete:
            cont = [d.name for d in self.dimensions if not d.discrete]
            raise ValueError(f"{what} needs discrete dimensions; continuous: {cont}")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value

"""Search settings (`conf/search/*.yaml`): exhaustive grid, random sampling, Optuna TPE."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tradelab.errors import ConfigError
from tradelab.settings import from_plain

__all__ = [
    "GridSearchConfig",
    "OptunaSearchConfig",
    "RandomSearchConfig",
    "SearchConfig",
    "SearchKind",
    "search_config",
]


class SearchKind(StrEnum):
    grid = "grid"
    random = "random"
    optuna = "optuna"


@dataclass(frozen=True)
class GridSearchConfig:
    """Evaluate every combination, `chunk_size` combinations per kernel call."""

    kind: SearchKind = SearchKind.grid
    chunk_size: int = 10_000_000

    def __post_init__(self) -> None:
        _at_least(self, ("chunk_size",), 1)


@dataclass(frozen=True)
class RandomSearchConfig:
    """Sample `n_trials` combinations uniformly from the discrete grid (seeded)."""

    kind: SearchKind = SearchKind.random
    n_trials: int = 50
    seed: int = 42

    def __post_init__(self) -> None:
        _at_least(self, ("n_trials",), 1)


@dataclass(frozen=True)
class OptunaSearchConfig:
    """TPE through ask/tell; `batch_size` trials are evaluated in one kernel call.

    `storage` null keeps the study in memory; `journal:<path>` uses a journal file (safe for
    parallel processes); any SQLAlchemy URL uses a database. Studies resume by name.
    """

    kind: SearchKind = SearchKind.optuna
    n_trials: int = 30
    batch_size: int = 8
    seed: int = 42
    storage: str | None = None
    study_name: str | None = None
    n_startup_trials: int = 10

    def __post_init__(self) -> None:
        _at_least(self, ("n_trials", "batch_size"), 1)
        _at_least(self, ("n_startup_trials",), 0)


def _at_least(settings: Any, names: tuple[str, ...], low: int) -> None:
    for name in names:
        value = getattr(settings, name)
        if value < low:
            raise ConfigError(f"search.{name}", f"must be >= {low}, got {value}")


SearchConfig = GridSearchConfig | RandomSearchConfig | OptunaSearchConfig

_BY_KIND: dict[SearchKind, type] = {
    SearchKind.grid: GridSearchConfig,
    SearchKind.random: RandomSearchConfig,
    SearchKind.optuna: OptunaSearchConfig,
}


def search_config(data: Mapping[str, Any] | SearchConfig, key: str = "search") -> SearchConfig:
    """Build the search settings its `kind` names from plain data."""
    if isinstance(data, GridSearchConfig | RandomSearchConfig | OptunaSearchConfig):
        return data
    kind = data.get("kind")
    try:
        cls = _BY_KIND[SearchKind(kind)]
    except ValueError:
        raise ConfigError(
            f"{key}.kind", f"unknown search {kind!r}; use one of {[k.value for k in SearchKind]}"
        ) from None
    return from_plain(cls, data, key)

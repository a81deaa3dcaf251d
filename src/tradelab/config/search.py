"""Search schemas: exhaustive grid, random sampling from discrete grids, Optuna TPE."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["GridSearchConfig", "OptunaSearchConfig", "RandomSearchConfig", "SearchKind"]


class SearchKind(StrEnum):
    grid = "grid"
    random = "random"
    optuna = "optuna"


@dataclass
class GridSearchConfig:
    """Evaluate every combination, in chunks of `chunk_size`."""

    kind: SearchKind = SearchKind.grid
    chunk_size: int = 10_000_000


@dataclass
class RandomSearchConfig:
    """Sample `n_trials` combinations uniformly from the discrete grid (seeded)."""

    kind: SearchKind = SearchKind.random
    n_trials: int = 50
    seed: int = 42


@dataclass
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

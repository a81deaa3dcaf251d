"""Search settings (`conf/search/*.yaml`): exhaustive grid, random sampling, Optuna TPE."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tradelab.errors import ConfigError
from tradelab.settings import from_plain

__all__ = [
    "STORAGE_AUTO",
    "STORAGE_MEMORY",
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


STORAGE_AUTO = "auto"
STORAGE_MEMORY = "memory"


@dataclass(frozen=True)
class OptunaSearchConfig:
    """TPE through ask/tell; `batch_size` trials are evaluated in one kernel call.

    `storage`: `auto` (the default) keeps studies in a journal file beside the MLflow store
    (`mlruns/optuna/<family>.journal`; in memory when runs are not stored, or when a library
    function is called directly); `memory` (or null) in memory; `journal:<path>` a journal file
    (safe for parallel processes); any SQLAlchemy URL a database. `study_name` null: named after
    the target and a hash of everything that shapes the trials (space, objective, study and
    search settings but `n_trials`, the data, the source of the packages that compute them), so
    a rerun of the same job resumes its study to `n_trials` and a changed job starts a new one.
    A trial left RUNNING by a process that died is failed and queued again, at most
    `max_retries` times; one of another machine only once it started more than
    `stale_after_s` seconds ago (null: never).

    With a database (e.g. `postgresql://user@host/db`) any number of processes on any machines
    join the study and together evaluate exactly `n_trials`: each beats a heartbeat every
    `heartbeat_s` seconds for the trials it evaluates, and a trial whose heartbeat is older than
    `grace_s` seconds is failed and queued again (this replaces `stale_after_s`). Keep `grace_s`
    above the longest batch evaluation that holds the GIL (a numba kernel call), or a slow but
    live process's trials are evaluated twice (its results are then dropped, never counted).
    """

    kind: SearchKind = SearchKind.optuna
    n_trials: int = 30
    batch_size: int = 8
    seed: int = 42
    storage: str | None = STORAGE_AUTO
    study_name: str | None = None
    n_startup_trials: int = 10
    max_retries: int = 2
    stale_after_s: float | None = None
    heartbeat_s: int = 60
    grace_s: int = 300

    def __post_init__(self) -> None:
        _at_least(self, ("n_trials", "batch_size", "heartbeat_s"), 1)
        _at_least(self, ("n_startup_trials", "max_retries"), 0)
        if self.stale_after_s is not None and self.stale_after_s <= 0:
            raise ConfigError("search.stale_after_s", f"must be > 0, got {self.stale_after_s}")
        if self.grace_s < 2 * self.heartbeat_s:
            raise ConfigError(
                "search.grace_s",
                f"must be >= 2 x heartbeat_s ({self.heartbeat_s}), got {self.grace_s}",
            )


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

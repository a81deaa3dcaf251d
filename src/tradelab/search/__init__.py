"""Search over parameter spaces: grid, random, and batched Optuna TPE."""

from __future__ import annotations

from tradelab.search.grid import Grid
from tradelab.search.optuna_search import (
    BatchResult,
    evaluated_trials,
    fail_abandoned,
    logs_here,
    make_storage,
    name_study,
    optimize_batched,
    resolve_storage,
    trial_metrics,
    trial_worker,
)
from tradelab.search.space import Dimension, SearchSpace

__all__ = [
    "BatchResult",
    "Dimension",
    "Grid",
    "SearchSpace",
    "evaluated_trials",
    "fail_abandoned",
    "logs_here",
    "make_storage",
    "name_study",
    "optimize_batched",
    "resolve_storage",
    "trial_metrics",
    "trial_worker",
]

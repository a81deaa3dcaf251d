"""Search over parameter spaces: grid, random, and batched Optuna TPE."""

from __future__ import annotations

from tradelab.search.grid import Grid
from tradelab.search.optuna_search import BatchResult, make_storage, optimize_batched
from tradelab.search.space import Dimension, SearchSpace

__all__ = [
    "BatchResult",
    "Dimension",
    "Grid",
    "SearchSpace",
    "make_storage",
    "optimize_batched",
]

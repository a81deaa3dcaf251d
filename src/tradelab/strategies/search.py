"""Search drivers shared by the Kalman studies: exhaustive grid, random, batched Optuna TPE.

Each search hands whole batches of parameter sets to one `evaluate(columns)` call, so a batch
is one kernel call: `columns` maps each parameter to an array of values (one per set) and the
evaluator returns a metrics frame with one row per set. Grids are decoded by mixed radix in
chunks, never as one Python object per combination. The result is the trials table:
`trial`, the parameters, the metrics and `score` (the objective; NaN when excluded).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradelab.search import SearchSpace, optimize_batched
from tradelab.search.grid import Grid
from tradelab.search.settings import (
    GridSearchConfig,
    OptunaSearchConfig,
    RandomSearchConfig,
    SearchConfig,
)
from tradelab.strategies.objectives import objective_scores

__all__ = ["Evaluator", "run_search"]

Evaluator = Callable[[dict[str, np.ndarray]], pd.DataFrame]


def _typed(values: Sequence[Any], column: np.ndarray) -> np.ndarray:
    if all(isinstance(v, bool | np.bool_) for v in values):
        return column.astype(bool)
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        return np.rint(column).astype(np.int64)
    return column.astype(np.float64)


def _columns(space: SearchSpace, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    out = {}
    for dim in space.dimensions:
        col = np.array([float(r[dim.name]) for r in rows], dtype=np.float64)
        if dim.discrete:
            out[dim.name] = _typed(dim.values or (), col)
        else:
            out[dim.name] = np.rint(col).astype(np.int64) if dim.is_int else col
    return out


def _table(
    trial: np.ndarray, columns: dict[str, np.ndarray], metrics: pd.DataFrame, objective: str
) -> pd.DataFrame:
    if len(metrics) != len(trial):
        raise ValueError(f"evaluator returned {len(metrics)} rows for {len(trial)} sets")
    frame = pd.DataFrame({"trial": trial.astype(np.int64), **columns})
    frame = pd.concat([frame, metrics.reset_index(drop=True)], axis=1)
    frame["score"] = objective_scores(objective, metrics)
    return frame


def run_search(
    space: Mapping[str, Any] | SearchSpace,
    evaluate: Evaluator,
    objective: str,
    search: SearchConfig,
) -> pd.DataFrame:
    """Search `space` with `search`, scoring trials by `objective`; return the trials table."""
    sp = space if isinstance(space, SearchSpace) else SearchSpace.from_config(space)
    if not sp.dimensions:
        raise ValueError("space: needs at least one parameter")
    if isinstance(search, GridSearchConfig):
        return _grid(sp, evaluate, objective, search.chunk_size)
    if isinstance(search, RandomSearchConfig):
        rows = sp.sample(search.n_trials, search.seed)
        cols = _columns(sp, rows)
        return _table(np.arange(len(rows)), cols, evaluate(cols), objective)
    return _optuna(sp, evaluate, objective, search)


def _grid(sp: SearchSpace, evaluate: Evaluator, objective: str, chunk_size: int) -> pd.DataFrame:
    """Every combination, decoded by mixed radix `chunk_size` at a time."""
    sp.size()  # raises, naming any continuous dimension
    levels = tuple(tuple(float(v) for v in (d.values or ())) for d in sp.dimensions)
    grid = Grid(tuple(sp.names), levels)
    chunks = []
    for start in range(0, grid.size, chunk_size):
        combos = np.arange(start, min(start + chunk_size, grid.size), dtype=np.int64)
        decoded = grid.decode(combos)
        cols = {d.name: _typed(d.values or (), decoded[d.name]) for d in sp.dimensions}
        chunks.append(_table(combos, cols, evaluate(cols), objective))
    return pd.concat(chunks, ignore_index=True)


def _optuna(
    sp: SearchSpace, evaluate: Evaluator, objective: str, search: OptunaSearchConfig
) -> pd.DataFrame:
    """Batched TPE: each batch of `batch_size` trials is one `evaluate` call."""
    frames: list[pd.DataFrame] = []
    numbers: list[int] = []

    def evaluate_batch(batch: list[dict[str, Any]]) -> tuple[list[float], list[dict[str, float]]]:
        cols = _columns(sp, batch)
        metrics = evaluate(cols)
        frame = _table(np.zeros(len(batch)), cols, metrics, objective)
        frames.append(frame)
        numeric = metrics.select_dtypes("number").astype(float)
        return list(frame["score"]), [
            {k: v for k, v in row.items() if math.isfinite(v)} for row in numeric.to_dict("records")
        ]

    optimize_batched(
        sp,
        evaluate_batch,
        n_trials=search.n_trials,
        batch_size=search.batch_size,
        seed=search.seed,
        storage=search.storage,
        study_name=search.study_name,
        n_startup_trials=search.n_startup_trials,
        on_result=lambda result: numbers.append(result.number),
    )
    if not frames:
        return _table(np.zeros(0), _columns(sp, []), evaluate(_columns(sp, [])), objective)
    table = pd.concat(frames, ignore_index=True)
    table["trial"] = np.asarray(numbers, dtype=np.int64)
    return table

"""Search drivers shared by the Kalman studies: exhaustive grid, random, batched Optuna TPE.

Each search hands whole batches of parameter sets to one `evaluate(columns)` call, so a batch
is one kernel call: `columns` maps each parameter to an array of values (one per set) and the
evaluator returns a metrics frame with one row per set. Grids are decoded by mixed radix in
chunks, never as one Python object per combination. The result is the trials table:
`trial`, the parameters, the metrics and `score` (the objective; NaN when excluded).

An Optuna study's table is read back from the study, so a resumed study's table holds the
trials of every run of it: the first `n_trials` evaluated trials, `trial` numbering them in
order (the same table as an uninterrupted run's), and `worker`, the process that evaluated each
(processes sharing a study each log the runs of their own trials: `tradelab.search.logs_here`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradelab import faults
from tradelab.search import (
    SearchSpace,
    evaluated_trials,
    name_study,
    optimize_batched,
    trial_metrics,
    trial_worker,
)
from tradelab.search.grid import Grid
from tradelab.search.settings import (
    GridSearchConfig,
    OptunaSearchConfig,
    RandomSearchConfig,
    SearchConfig,
)
from tradelab.strategies.objectives import objective_scores

__all__ = ["SEARCHED", "WORKER_COLUMN", "Evaluator", "named_study", "run_search", "study_tags"]

Evaluator = Callable[[dict[str, np.ndarray]], pd.DataFrame]
# An Optuna study's table: the process that evaluated each trial (several may share a study)
WORKER_COLUMN = "worker"

SEARCHED = faults.declare(
    "kalman.search.done", "a Kalman study searched, before its best trial and trial runs are logged"
)


# the packages whose code computes a Kalman trial's metrics
STUDY_CODE = ("kalman", "kernels", "strategies")


def named_study(search: SearchConfig, prefix: str, *parts: Any) -> SearchConfig:
    """Give an Optuna search without `study_name` the name `<prefix>-<hash of the search, the
    parts and the code>` (`tradelab.search.name_study`); other searches pass through."""
    if not isinstance(search, OptunaSearchConfig) or search.study_name:
        return search
    name = name_study(prefix, search, *parts, code=STUDY_CODE)
    return dataclasses.replace(search, study_name=name)


def study_tags(search: SearchConfig) -> dict[str, str]:
    """Tags naming the Optuna study a run belongs to (none for other searches)."""
    if isinstance(search, OptunaSearchConfig) and search.study_name:
        return {"optuna_study": search.study_name}
    return {}


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
        table = _grid(sp, evaluate, objective, search.chunk_size)
    elif isinstance(search, RandomSearchConfig):
        rows = sp.sample(search.n_trials, search.seed)
        cols = _columns(sp, rows)
        table = _table(np.arange(len(rows)), cols, evaluate(cols), objective)
    else:
        table = _optuna(sp, evaluate, objective, search)
    faults.fault(SEARCHED)
    return table


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
    schema: list[pd.DataFrame] = []

    def evaluate_batch(batch: list[dict[str, Any]]) -> tuple[list[float], list[dict[str, float]]]:
        metrics = evaluate(_columns(sp, batch))
        if not schema:
            schema.append(metrics.iloc[:0])
        numeric = metrics.select_dtypes("number").astype(float)
        return list(objective_scores(objective, metrics)), numeric.to_dict("records")

    study = optimize_batched(
        sp,
        evaluate_batch,
        n_trials=search.n_trials,
        batch_size=search.batch_size,
        seed=search.seed,
        storage=search.storage,
        study_name=search.study_name,
        n_startup_trials=search.n_startup_trials,
        max_retries=search.max_retries,
        stale_after_s=search.stale_after_s,
        heartbeat_s=search.heartbeat_s,
        grace_s=search.grace_s,
    )
    trials = evaluated_trials(study, search.n_trials)
    empty = schema[0] if schema else evaluate(_columns(sp, []))  # columns and dtypes
    metrics = _restore(pd.DataFrame([trial_metrics(t) for t in trials]), empty)
    table = _table(
        np.arange(len(trials)), _columns(sp, [t.params for t in trials]), metrics, objective
    )
    table[WORKER_COLUMN] = [trial_worker(t) for t in trials]  # who logs each trial's run
    return table


def _restore(frame: pd.DataFrame, empty: pd.DataFrame) -> pd.DataFrame:
    """Give metrics read back from a study the evaluator's columns and dtypes."""
    out = frame.reindex(columns=empty.columns)
    for name, dtype in empty.dtypes.items():
        column = out[name]
        if dtype.kind in "iub" and column.isna().any():
            continue  # a missing value keeps the column float
        out[name] = column.astype(dtype)
    return out

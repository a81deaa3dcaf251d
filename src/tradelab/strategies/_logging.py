"""Logging helpers shared by the studies: trial child runs and table artifacts via a Job."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tradelab.search import logs_here
from tradelab.strategies.objectives import rank_trials
from tradelab.strategies.search import WORKER_COLUMN
from tradelab.tracking import Job
from tradelab.tracking.base import TABLE_ROWS

__all__ = ["TRIALS_CURVE", "log_frame", "log_trials"]

TRIALS_CURVE = "trials/score"
"""Every trial's score as the study run's steps (step = trial number): the optimization history,
which the MLflow UI draws, in one write however many trials there are."""


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def log_trials(
    job: Job,
    trials: pd.DataFrame,
    params: Sequence[str],
    metrics: Sequence[str],
    objective: str,
    cap: int,
    tags: dict[str, str] | None = None,
) -> int:
    """Log the best `cap` trials (all of them when there are fewer) as finished child runs, and
    every trial's score as the `TRIALS_CURVE` steps of `job`.

    A child run costs about 20 ms on a SQLite store, several times what a Kalman trial costs to
    evaluate, so the default cap (`tracking.max_trial_runs`) keeps the runs a user opens: every
    trial stays in the curve and in the trials table the studies log beside it.

    Each child gets its parameters, its finite metrics and `score`, and a `rank` tag; the best
    qualifying trial is also tagged `candidate=true` (what promotion considers). A trial another
    live process of a shared Optuna study evaluated (`worker`) is that process's to log: ranks
    are over the whole study, each trial's run is logged once. Return the runs logged.
    """
    if len(trials) and "score" in trials.columns:
        job.log_curve(TRIALS_CURVE, trials["score"].to_numpy(), steps=trials["trial"].to_numpy())
    order = rank_trials(objective, trials)
    chosen = order if len(order) <= cap else order[:cap]
    workers = trials[WORKER_COLUMN] if WORKER_COLUMN in trials.columns else None
    logged = 0
    for rank, idx in enumerate(chosen):
        row = trials.iloc[int(idx)]
        if workers is not None and not logs_here(str(workers.iloc[int(idx)])):
            continue
        logged += 1
        values = {k: _number(row[k]) for k in (*metrics, "score") if k in row}
        job.log_trial(
            {
                k: (v.item() if isinstance(v, np.generic) else v)
                for k, v in row[list(params)].items()
            },
            {k: v for k, v in values.items() if v is not None},
            name=f"trial {int(row['trial'])}",
            tags={
                "kind": "trial",
                "rank": str(rank),
                **(tags or {}),
                **({"candidate": "true"} if rank == 0 and values.get("score") is not None else {}),
            },
        )
    return logged


def log_preview(job: Job, trials: pd.DataFrame, artifact_file: str) -> None:
    """Log the best `TABLE_ROWS` trials by score (NaN last) as a table the UI previews."""
    best = trials.sort_values("score", ascending=False, na_position="last", kind="stable")
    job.log_table(best.head(TABLE_ROWS).reset_index(drop=True), artifact_file)


def log_frame(job: Job, frame: pd.DataFrame, artifact_file: str) -> None:
    """Store a frame as a Parquet or CSV artifact (by the file suffix)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        if path.suffix == ".parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
        parent = str(Path(artifact_file).parent)
        job.log_artifact(path, None if parent == "." else parent)

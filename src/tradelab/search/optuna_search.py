"""Optuna TPE through ask/tell in batches: one batch of trials is one evaluation call."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tradelab.search.space import SearchSpace

__all__ = ["BatchResult", "make_storage", "optimize_batched"]

log = logging.getLogger(__name__)

# Evaluate a batch of parameter dicts; return one objective value per dict (NaN: failed/excluded)
# and, optionally, metrics per dict to record with the trial.
BatchEvaluator = Callable[
    [list[dict[str, Any]]], tuple[Sequence[float], Sequence[Mapping[str, float]]]
]


@dataclass
class BatchResult:
    params: dict[str, Any]
    value: float
    metrics: Mapping[str, float]
    number: int


def make_storage(storage: str | None) -> Any:
    """Turn a config string into Optuna storage: None (memory), `journal:<file>`, or a DB URL."""
    if storage is None:
        return None
    if storage.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(storage.removeprefix("journal:")))
    return storage


def optimize_batched(
    space: SearchSpace,
    evaluate: BatchEvaluator,
    *,
    n_trials: int,
    batch_size: int = 8,
    direction: str = "maximize",
    seed: int = 42,
    storage: str | None = None,
    study_name: str | None = None,
    n_startup_trials: int = 10,
    suggest: Callable[[Any], dict[str, Any]] | None = None,
    on_result: Callable[[BatchResult], None] | None = None,
) -> Any:
    """Run a TPE study to `n_trials` complete trials and return it.

    A study with `storage` and `study_name` resumes: trials already completed count towards
    `n_trials`. `suggest(trial)` replaces the plain space suggestion (conditional spaces).
    NaN objective values are told as FAIL so TPE does not learn from them.
    """
    import optuna

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials)
    study = optuna.create_study(
        direction=direction,
        sampler=sampler,
        storage=make_storage(storage),
        study_name=study_name,
        load_if_exists=study_name is not None,
    )
    done = sum(1 for t in study.trials if t.state.is_finished())
    while done < n_trials:
        size = min(batch_size, n_trials - done)
        trials = [study.ask() for _ in range(size)]
        batch = [(suggest or space.suggest)(t) for t in trials]
        values, metrics = evaluate(batch)
        if len(values) != size:
            raise ValueError(f"evaluator returned {len(values)} values for {size} trials")
        for trial, params, value, mets in zip(trials, batch, values, metrics or [{}] * size):
            value = float(value)
            for key, metric in mets.items():
                trial.set_user_attr(key, float(metric))
            if math.isnan(value):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, value)
            if on_result is not None:
                on_result(BatchResult(params, value, mets, trial.number))
        done += size
    return study

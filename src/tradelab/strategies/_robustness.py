"""Research-validity statistics of a study's trials (PBO, deflated Sharpe, effective trials)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradelab.robustness import comparison_set, equal_blocks, sweep_statistics
from tradelab.robustness.settings import RobustnessConfig
from tradelab.strategies.objectives import rank_trials
from tradelab.tracking import Job, validity

__all__ = ["block_evaluator", "study_statistics"]

log = logging.getLogger(__name__)
# evaluate(columns, block_id, n_blocks) -> (block_ret_sum, block_ret_sq, block_n)
BlockEvaluator = Callable[
    [dict[str, np.ndarray], np.ndarray, int], tuple[np.ndarray, np.ndarray, np.ndarray]
]


def block_evaluator(evaluate: Callable[..., Any]) -> BlockEvaluator:
    """Adapt a batch evaluator (`evaluate(columns, block_id=, n_blocks=)` returning
    `block_ret_sum`, `block_ret_sq`, `block_n`) to what `study_statistics` calls."""

    def blocks(
        columns: dict[str, np.ndarray], block_id: np.ndarray, n_blocks: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ev = evaluate(columns, block_id=block_id, n_blocks=n_blocks)
        return ev.block_ret_sum, ev.block_ret_sq, ev.block_n

    return blocks


def study_statistics(
    trials: pd.DataFrame,
    params: Sequence[str],
    objective: str,
    n_bars: int,
    evaluate: BlockEvaluator,
    *,
    config: RobustnessConfig | None = None,
    job: Job | None = None,
    equity: np.ndarray | None = None,
) -> dict[str, float]:
    """Re-run the trials with per-block return sums and return the sweep statistics (logged
    into `job`); empty when under two trials. The best trial is compared with the other
    qualifying ones: all of them, or a seeded uniform sample when there are more than
    `config.max_configs` (`tradelab.robustness.comparison_set`).

    `config` (default: `RobustnessConfig()`) sets the blocks and the shortlist. `equity`: the
    best trial's equity curve; its returns' skewness and kurtosis enter the DSR.
    """
    config = config or RobustnessConfig()
    order = rank_trials(objective, trials)
    order = [int(i) for i in order if math.isfinite(float(trials["score"].iloc[int(i)]))]
    if len(trials) < 2 or not order:
        return {}
    rng = np.random.default_rng(config.seed)
    keep = comparison_set(order[0], np.asarray(order, dtype=np.int64), config.max_configs, rng)
    if len(keep) < 2:
        keep = np.arange(len(trials), dtype=np.int64)
    n_blocks = config.n_blocks
    if n_bars < 2 * n_blocks:
        log.warning(
            "only %d bars: too few for %d blocks, no overfitting statistics", n_bars, n_blocks
        )
        return {}
    columns = {k: trials[k].to_numpy()[keep] for k in params}
    ret_sum, ret_sq, block_n = evaluate(columns, equal_blocks(n_bars, n_blocks), n_blocks)
    selected = int(np.flatnonzero(keep == order[0])[0])
    returns = None
    if equity is not None and len(equity) > 2:
        eq = np.asarray(equity, dtype=np.float64)
        returns = eq[1:] / eq[:-1] - 1.0
    stats = sweep_statistics(
        ret_sum,
        ret_sq,
        block_n,
        n_trials=len(trials),
        selected=selected,
        selected_returns=returns,
        config=config,
    )
    if job is not None:
        job.log_metrics(validity(stats))
    return stats

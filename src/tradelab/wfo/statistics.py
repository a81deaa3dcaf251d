"""Research statistics of a WFO sweep: PBO, deflated Sharpe and effective trials.

The full history (the first phase's IS start to the last bar) is one more simulation. Every
combination's Sharpe there gives the cross-trial variance V[SR] of the deflated Sharpe (a
seeded sample of `max_full_eval` combinations for bigger grids). The selected configuration is
the best ranked one (with none, the best full-history Sharpe). PBO and effective trials compare
it with the other combinations, re-run with per-block return sums: all of them when the grid
has at most K = `robustness.max_configs`, else a seeded uniform sample of K - 1. The comparison
set is never chosen by a score: the stability score ranks OOS results, and a CSCV input picked
with the data it judges (the top K by that score) measures the selection's own bias, not the
sweep's overfitting.
"""

from __future__ import annotations

import numpy as np

from tradelab.robustness import comparison_set, sweep_statistics
from tradelab.robustness.settings import RobustnessConfig
from tradelab.search.grid import Grid
from tradelab.wfo.data import WfoData
from tradelab.wfo.engine import evaluate_combos
from tradelab.wfo.phases import Phase
from tradelab.wfo.reference import simulate_reference
from tradelab.wfo.strategy import StrategySpec

__all__ = ["full_history_phase", "wfo_statistics"]


def full_history_phase(phases: list[Phase], n_bars: int) -> Phase:
    """One simulation over all phases' history: IS from the first IS start to the last bar."""
    first = phases[0]
    return Phase("full", first.warmup_start, first.is_start, n_bars - 1, n_bars - 1)


def wfo_statistics(
    data: WfoData,
    spec: StrategySpec,
    grid: Grid,
    phases: list[Phase],
    ranked: np.ndarray,
    robustness: RobustnessConfig,
    *,
    max_full_eval: int = 2_000_000,
    seed: int = 0,
    prior_trials: int = 0,
) -> dict[str, float]:
    """PBO / DSR / effective trials of the sweep (module doc); empty for a one-point grid.

    `ranked`: combination indices the scoring kept, best first (may be empty).
    `prior_trials`: combinations other sweeps tried on the same target and data: `n_trials`
    (the deflated Sharpe's N) is this grid's size plus them (`n_trials_prior`).
    """
    if grid.size < 2:
        return {}
    full = full_history_phase(phases, data.n_bars)
    rng = np.random.default_rng(seed)
    every = np.arange(grid.size, dtype=np.int64)
    sample = every
    if grid.size > max_full_eval:
        sample = np.sort(rng.choice(every, max_full_eval, replace=False))
    result = evaluate_combos(data, spec, grid, full, sample)
    sharpes = result.metrics["is_sharpe"] / np.sqrt(252.0)
    finite = np.isfinite(sharpes)
    if not finite.any():
        return {}
    ranked = np.asarray(ranked, dtype=np.int64)
    best_sharpe = int(sample[finite][np.argmax(sharpes[finite])])
    selected = int(ranked[0]) if ranked.size else best_sharpe
    top = comparison_set(selected, sample[finite], max(2, robustness.max_configs), rng)
    if len(top) < 2:
        return {}
    blocks = evaluate_combos(data, spec, grid, full, top, n_blocks=robustness.n_blocks)
    chosen = {name: float(values[0]) for name, values in grid.decode(top[:1]).items()}
    equity = np.asarray(simulate_reference(data, spec, chosen, full).equity, dtype=np.float64)
    returns = equity[1:] / equity[:-1] - 1.0
    stats = sweep_statistics(
        blocks.block_ret_sum,
        blocks.block_ret_sq,
        blocks.block_n,
        n_trials=grid.size + max(int(prior_trials), 0),
        selected=0,
        selected_returns=returns,
        trial_sharpes=sharpes[finite],
        config=robustness,
    )
    return {**stats, "n_trials_sweep": float(grid.size), "n_trials_prior": float(prior_trials)}

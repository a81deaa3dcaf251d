"""Research statistics of a WFO sweep: PBO, deflated Sharpe and effective trials.

The full history (the first phase's IS start to the last bar) is one more simulation, of every
combination on grids up to `robustness.max_full_eval` and of a seeded uniform sample of that
many (plus the selected combination) on bigger ones, in one pass that also sums each
combination's returns per time block. Their Sharpes give the cross-trial variance V[SR] of the
deflated Sharpe (the variance of 20,000 draws is within ~1% of the grid's); the cost stays flat
as grids grow. The selected configuration is the best ranked one (with none, the best
full-history Sharpe). PBO and effective trials compare it with the others: all of them when
there are at most K = `robustness.max_configs`, else a seeded uniform sample of K - 1. The
comparison set is never chosen by a score: the stability score ranks OOS results, and a CSCV
input picked with the data it judges (the top K by that score) measures the selection's own
bias, not the sweep's overfitting.
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
    max_full_eval: int | None = None,
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
    if max_full_eval is None:
        max_full_eval = robustness.max_full_eval
    full = full_history_phase(phases, data.n_bars)
    rng = np.random.default_rng(seed)
    ranked = np.asarray(ranked, dtype=np.int64)
    if grid.size > max_full_eval:  # drawn without listing the grid: memory is the sample's
        sample = np.sort(rng.choice(grid.size, max_full_eval, replace=False)).astype(np.int64)
        if ranked.size:  # the selected combination is always simulated
            sample = np.union1d(sample, ranked[:1])
    else:
        sample = np.arange(grid.size, dtype=np.int64)
    # one pass: full-history Sharpes and the block sums PBO compares
    result = evaluate_combos(data, spec, grid, full, sample, n_blocks=robustness.n_blocks)
    sharpes = result.metrics["is_sharpe"] / np.sqrt(252.0)
    finite = np.isfinite(sharpes)
    if not finite.any():
        return {}
    best_sharpe = int(sample[finite][np.argmax(sharpes[finite])])
    selected = int(ranked[0]) if ranked.size else best_sharpe
    top = comparison_set(selected, sample[finite], max(2, robustness.max_configs), rng)
    if len(top) < 2:
        return {}
    rows = np.searchsorted(sample, top)
    assert result.block_ret_sum is not None and result.block_ret_sq is not None
    block_sum, block_sq = result.block_ret_sum[rows], result.block_ret_sq[rows]
    chosen = {name: float(values[0]) for name, values in grid.decode(top[:1]).items()}
    equity = np.asarray(simulate_reference(data, spec, chosen, full).equity, dtype=np.float64)
    returns = equity[1:] / equity[:-1] - 1.0
    stats = sweep_statistics(
        block_sum,
        block_sq,
        result.block_n,
        n_trials=grid.size + max(int(prior_trials), 0),
        selected=0,
        selected_returns=returns,
        trial_sharpes=sharpes[finite],
        config=robustness,
    )
    return {**stats, "n_trials_sweep": float(grid.size), "n_trials_prior": float(prior_trials)}

"""Research statistics of a WFO sweep: PBO, deflated Sharpe and effective trials.

The full history (the first phase's IS start to the last bar) is one more simulation. Every
combination's Sharpe there gives the cross-trial variance V[SR] of the deflated Sharpe (a
seeded sample of `max_full_eval` combinations for bigger grids); the top-K combinations by
stability score (K = `robustness.max_configs`) are re-run with per-block return sums for PBO
and effective trials, padded with the best full-history Sharpes up to K so a lone "winner"
still faces its competition; the selected configuration is the best ranked one (with none,
the best full-history Sharpe).
"""

from __future__ import annotations

import numpy as np

from tradelab.robustness import sweep_statistics
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


def _shortlist(ranked: np.ndarray, by_sharpe: np.ndarray, k: int) -> np.ndarray:
    """The ranked combinations first, padded with the best full-history Sharpes up to `k`."""
    pool = [int(c) for c in ranked[:k]]
    seen = set(pool)
    for combo in by_sharpe:
        if len(pool) >= k:
            break
        if int(combo) not in seen:
            pool.append(int(combo))
            seen.add(int(combo))
    return np.asarray(pool, dtype=np.int64)


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
) -> dict[str, float]:
    """PBO / DSR / effective trials of the sweep (module doc); empty for a one-point grid.

    `ranked`: combination indices the scoring kept, best first (may be empty).
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
    by_sharpe = sample[finite][np.argsort(-sharpes[finite], kind="stable")]
    top = _shortlist(np.asarray(ranked), by_sharpe, max(2, robustness.max_configs))
    if len(top) < 2:
        return {}
    blocks = evaluate_combos(data, spec, grid, full, top, n_blocks=robustness.n_blocks)
    chosen = {name: float(values[0]) for name, values in grid.decode(top[:1]).items()}
    equity = np.asarray(simulate_reference(data, spec, chosen, full).equity, dtype=np.float64)
    returns = equity[1:] / equity[:-1] - 1.0
    return sweep_statistics(
        blocks.block_ret_sum,
        blocks.block_ret_sq,
        blocks.block_n,
        n_trials=grid.size,
        selected=0,
        selected_returns=returns,
        trial_sharpes=sharpes[finite],
        config=robustness,
    )

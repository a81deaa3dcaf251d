"""Known-answer inputs: synthetic WFO phase results and return matrices with planted structure.

Notation:
    grid       a `Grid`; n = grid.size combinations, all of them present in the phase arrays
    region     {parameter: (low, high)}: the combinations whose values lie inside every range
    p_in       probability that a combination inside a planted region passes a phase's gates
    p_out      the same probability outside every region (noise)

Each phase mapping carries every engine metric name (`tradelab.wfo.scoring.PHASE_METRICS`).
A passing draw has IS PnL in [1000, 5000] $, OOS PnL 0.5-1.2x that, drawdowns well inside the
gates; a failing draw breaks one gate at random (loss, low efficiency or a deep drawdown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tradelab.search.grid import Grid

__all__ = ["planted_phase_results", "planted_returns", "region_mask"]


def region_mask(grid: Grid, region: Mapping[str, tuple[float, float]]) -> np.ndarray:
    """Return (grid.size,) bool: combinations whose values lie inside every range of `region`."""
    combos = np.arange(grid.size, dtype=np.int64)
    values = grid.decode(combos)
    inside = np.ones(grid.size, dtype=bool)
    for name, (lo, hi) in region.items():
        inside &= (values[name] >= lo) & (values[name] <= hi)
    return inside


def planted_phase_results(
    grid: Grid,
    regions: Sequence[Mapping[str, tuple[float, float]]] = (),
    *,
    n_phases: int = 4,
    p_in: float = 0.95,
    p_out: float = 0.15,
    seed: int = 0,
) -> list[dict[str, np.ndarray]]:
    """Return per-phase metric arrays where `regions` pass the gates far more often than noise."""
    rng = np.random.default_rng(seed)
    n = grid.size
    planted = np.zeros(n, dtype=bool)
    strength = np.zeros(n)
    for region in regions:
        inside = region_mask(grid, region)
        planted |= inside
        strength = np.maximum(strength, inside * rng.uniform(0.8, 1.0))
    phases = []
    for _ in range(n_phases):
        p = np.where(planted, p_in, p_out)
        ok = rng.random(n) < p
        is_pnl = rng.uniform(1000.0, 5000.0, n) * np.where(planted, 1.0 + strength, 1.0)
        oos_pnl = is_pnl * rng.uniform(0.5, 1.2, n)
        is_dd = rng.uniform(200.0, 800.0, n)
        oos_dd = np.minimum(oos_pnl, 2.5 * is_dd) * rng.uniform(0.2, 0.9, n)
        failure = rng.integers(0, 3, n)
        bad = ~ok
        loss = bad & (failure == 0)
        weak = bad & (failure == 1)
        deep = bad & (failure == 2)
        oos_pnl[loss] = -rng.uniform(10.0, 2000.0, int(loss.sum()))
        oos_pnl[weak] = is_pnl[weak] * rng.uniform(0.0, 0.3, int(weak.sum()))
        oos_dd[deep] = np.maximum(oos_pnl[deep], 3.0 * is_dd[deep]) * rng.uniform(
            1.01, 2.0, int(deep.sum())
        )
        trades = rng.integers(5, 200, n).astype(np.float64)
        phase = {
            "is_pnl": is_pnl,
            "oos_pnl": oos_pnl,
            "is_max_dd": is_dd,
            "oos_max_dd": oos_dd,
            "is_max_dd_pct": is_dd / 100_000.0,
            "oos_max_dd_pct": oos_dd / 100_000.0,
            "is_trades": trades,
            "oos_trades": np.floor(trades * rng.uniform(0.5, 1.0, n)),
            "is_win_rate": rng.uniform(0.3, 0.7, n),
            "oos_win_rate": rng.uniform(0.3, 0.7, n),
            "is_profit_factor": rng.uniform(0.8, 2.5, n),
            "oos_profit_factor": rng.uniform(0.8, 2.5, n),
            "is_sharpe": rng.normal(0.8, 0.4, n),
            "oos_sharpe": oos_pnl / 2000.0 + rng.normal(0.0, 0.2, n),
            "is_sortino": rng.normal(1.1, 0.5, n),
            "oos_sortino": rng.normal(1.0, 0.5, n),
            "is_cagr": is_pnl / 100_000.0 / 5.0,
            "oos_cagr": oos_pnl / 100_000.0 / 5.0,
        }
        phases.append(phase)
    return phases


def planted_returns(
    n_obs: int,
    n_configs: int,
    *,
    edge: float = 0.0,
    n_edge: int = 0,
    vol: float = 0.01,
    common: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Return (n_obs, n_configs) returns: noise, plus a mean `edge` per bar on the first n_edge.

    `common` (0-1) mixes a shared factor into every column so trials are correlated.
    """
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, vol, (n_obs, n_configs))
    if common > 0:
        factor = rng.normal(0.0, vol, (n_obs, 1))
        noise = np.sqrt(1.0 - common) * noise + np.sqrt(common) * factor
    noise[:, :n_edge] += edge
    return noise

"""Hansen's Superior Predictive Ability test on a capped candidate set (via `arch`).

Notation:
    returns    (T, K) float64, per-period returns of K candidate configurations
    benchmark  (T,) float64, per-period returns of the benchmark (default: flat, all zero)
    loss       -returns: arch's SPA compares losses, lower is better

Null hypothesis: no candidate beats the benchmark. A small p-value (e.g. < 0.05) says the
best candidate's edge over the benchmark survives the search over K candidates. The
`consistent` p-value is Hansen's recommended one; `lower` and `upper` bound it. Only the first
`max_candidates` columns are tested (pass them best first): the bootstrap is O(reps * T * K).
"""

from __future__ import annotations

import numpy as np

__all__ = ["spa_pvalues"]


def spa_pvalues(
    returns: np.ndarray,
    benchmark: np.ndarray | None = None,
    *,
    max_candidates: int = 200,
    reps: int = 1000,
    block_size: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Return Hansen SPA p-values {spa_pvalue_lower, spa_pvalue, spa_pvalue_upper}."""
    from arch.bootstrap import SPA

    x = np.asarray(returns, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 10 or x.shape[1] < 1:
        raise ValueError(f"returns must be (T >= 10, K >= 1); got shape {x.shape}")
    if max_candidates < 1 or reps < 1:
        raise ValueError("max_candidates and reps must be positive")
    x = x[:, :max_candidates]
    bench = np.zeros(x.shape[0]) if benchmark is None else np.asarray(benchmark, dtype=np.float64)
    if bench.shape != (x.shape[0],):
        raise ValueError(f"benchmark must have shape ({x.shape[0]},); got {bench.shape}")
    if not (np.isfinite(x).all() and np.isfinite(bench).all()):
        raise ValueError("returns and benchmark must be finite")
    spa = SPA(-bench, -x, block_size=block_size, reps=reps, seed=np.random.default_rng(seed))
    spa.compute()
    p = spa.pvalues
    return {
        "spa_pvalue_lower": float(p["lower"]),
        "spa_pvalue": float(p["consistent"]),
        "spa_pvalue_upper": float(p["upper"]),
        "spa_n_candidates": float(x.shape[1]),
    }

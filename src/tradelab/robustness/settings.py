"""Research-validity statistics settings (`conf/robustness/*.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["PboMetric", "RobustnessConfig"]


class PboMetric(StrEnum):
    sharpe = "sharpe"
    mean = "mean"


@dataclass(frozen=True)
class RobustnessConfig:
    """PBO (CSCV), deflated Sharpe, effective trials and the optional SPA test of a sweep.

    `n_blocks`: S, the even number of equal time blocks the kernels sum returns into (16 gives
    12,870 CSCV splits). `max_splits`: evaluate a seeded random subset of splits (null: all).
    `max_configs`: top-K rows kept for PBO and effective trials (huge grids: the kernels emit
    block sums for the top-K candidates only). `min_correlation`: configurations correlated at
    least this much on average count as one effective trial. `spa`: run Hansen's SPA test on
    at most `spa_max_candidates` candidates (needs their return series).
    """

    n_blocks: int = 16
    metric: PboMetric = PboMetric.sharpe
    max_splits: int | None = None
    max_configs: int = 5000
    min_correlation: float = 0.5
    spa: bool = False
    spa_max_candidates: int = 200
    spa_reps: int = 1000
    seed: int = 0

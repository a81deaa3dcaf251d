"""Research-validity statistics settings (`conf/robustness/*.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tradelab.errors import ConfigError

__all__ = ["DsrNull", "PboMetric", "RobustnessConfig"]


class PboMetric(StrEnum):
    sharpe = "sharpe"
    mean = "mean"


class DsrNull(StrEnum):
    """The variance of a skill-less trial's Sharpe in the deflated Sharpe's expected maximum."""

    estimator = "estimator"  # the Sharpe estimator's own variance at SR = 0: 1 / (T - 1)
    cross_section = "cross_section"  # the spread of every trial's Sharpe (Bailey & Lopez de Prado)


@dataclass(frozen=True)
class RobustnessConfig:
    """PBO (CSCV), deflated Sharpe, effective trials and the optional SPA test of a sweep.

    `n_blocks`: S, the even number of equal time blocks the kernels sum returns into (16 gives
    12,870 CSCV splits). `max_splits`: evaluate a seeded random subset of splits (null: all).
    `max_configs`: K, the most configurations PBO and effective trials compare (the selected
    one and a seeded uniform sample of the others on bigger grids: never the top K by a
    score). `min_correlation`: configurations correlated at least this much on average count
    as one effective trial. `spa`: run Hansen's SPA test on
    at most `spa_max_candidates` candidates (needs their return series). `dsr_null`: what
    the deflated Sharpe takes as the variance of a skill-less trial's Sharpe: `estimator`
    (1 / (T - 1), the sampling variance of a Sharpe estimate when the true Sharpe is 0) or
    `cross_section` (the variance of all trials' Sharpes, which also grows with genuine
    differences between configurations, so a big sweep of a real edge deflates to 0).
    `max_cluster_configs`: effective trials cluster at most this many of the compared
    configurations (the selected one and a seeded uniform sample of the others): average
    linkage costs K^2, about 0.15 s for 1,000 and 3.5 s for 5,000.
    `max_full_eval`: a WFO sweep simulates the full history of at most this many combinations,
    a seeded uniform sample (every one on smaller grids), for the trials' Sharpes and the set
    PBO draws its comparison from; the cost of the statistics grows with it, not with the grid.
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
    dsr_null: DsrNull = DsrNull.estimator
    max_full_eval: int = 20_000
    max_cluster_configs: int = 1000

    def __post_init__(self) -> None:
        for name in ("max_configs", "max_full_eval", "max_cluster_configs"):
            if getattr(self, name) < 2:
                raise ConfigError(f"robustness.{name}", f"must be >= 2, got {getattr(self, name)}")

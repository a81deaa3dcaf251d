"""Kalman study settings (`conf/study/kalman_residual.yaml`, `conf/study/kalman_pairs.yaml`).

Search spaces use parameter names of the strategy block; parameters not searched take the
strategy value. Spaces follow `tradelab.search.SearchSpace.from_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tradelab.errors import ConfigError

__all__ = [
    "KalmanBackend",
    "KalmanPairsStudyConfig",
    "KalmanResidualStudyConfig",
    "ObjectiveName",
    "PairScreenConfig",
    "PairSortKey",
    "PairsFill",
    "PairsStrategyConfig",
    "ResidualStrategyConfig",
]


class KalmanBackend(StrEnum):
    auto = "auto"
    numpy = "numpy"
    numba = "numba"
    cupy = "cupy"


class ObjectiveName(StrEnum):
    composite = "composite"
    sharpe = "sharpe"
    total_return = "total_return"
    sharpe_then_dd = "sharpe_then_dd"


class PairSortKey(StrEnum):
    pvalue = "pvalue"
    corr = "corr"


class PairsFill(StrEnum):
    """The price a market order submitted on a bar's close fills at, on the next bar."""

    next_open = "next_open"  # the next bar's real open
    close = "close"  # the next bar's close: seed 001's feed (open = close)


@dataclass(frozen=True)
class ResidualStrategyConfig:
    """Seed 000's `AggressiveConfig`. `max_positions` and `trend_slope_min` are kept for
    compatibility; the seed's logic holds one position and does not read the slope.

    Costs per fill: `commission` and `slippage` in $ a share, `commission_bps` and
    `slippage_bps` in basis points of the traded value. All 0 by default, as in seed 000 (the
    study warns); `conf/costs/both.yaml`'s values (0.005, 0.01, 0.5, 2.0) come to 32.5 bp a
    side on a $5 small cap.
    """

    initial_capital: float = 100_000.0
    position_size_pct: float = 0.15
    max_positions: int = 3
    process_noise_q: float = 1e-4
    observation_noise_r: float = 5e-3
    residual_z_entry: float = 0.75
    residual_z_exit: float = 0.1
    trend_slope_min: float = 0.0
    stop_loss_pct: float = 0.05
    take_profit_pct: float = 0.08
    trailing_stop_pct: float = 0.025
    aggregate_mins: int = 5
    commission: float = 0.0
    slippage: float = 0.0
    commission_bps: float = 0.0
    slippage_bps: float = 0.0

    def __post_init__(self) -> None:
        for name in ("commission", "slippage", "commission_bps", "slippage_bps"):
            if getattr(self, name) < 0:
                value = getattr(self, name)
                raise ConfigError(f"study.strategy.{name}", f"must be >= 0, got {value}")


def _residual_space() -> dict[str, Any]:
    return {
        "process_noise_q": [1e-5, 5e-5, 1e-4, 5e-4, 1e-3],
        "observation_noise_r": [1e-4, 5e-4, 1e-3, 5e-3, 1e-2],
        "residual_z_entry": [0.5, 0.75, 1.0, 1.25, 1.5],
        "residual_z_exit": [0.05, 0.1, 0.15, 0.2, 0.3],
        "stop_loss_pct": [0.03, 0.05, 0.07, 0.10],
        "take_profit_pct": [0.05, 0.08, 0.10, 0.15, 0.20],
        "trailing_stop_pct": [0.015, 0.02, 0.025, 0.03],
        "position_size_pct": [0.10, 0.15, 0.20],
    }


@dataclass(frozen=True)
class KalmanResidualStudyConfig:
    """Single-asset residual mean reversion on N-minute bars (seed 000).

    Bars finer than `strategy.aggregate_mins` are aggregated first. Sharpe is annualised with
    `trading_days_per_year * session_minutes / bar_minutes` bars per year. Symbols whose last
    close is at or above `max_last_price` (null: no limit) or with fewer than `min_bars`
    bars are skipped. `target_return` is the line drawn on the summary plot.
    """

    kind: str = "kalman_residual"
    strategy: ResidualStrategyConfig = field(default_factory=ResidualStrategyConfig)
    space: dict[str, Any] = field(default_factory=_residual_space)
    objective: ObjectiveName = ObjectiveName.composite
    warmup_bars: int = 60
    z_lookback: int = 50
    trail_activation_pct: float = 0.02
    session_minutes: int = 390
    trading_days_per_year: int = 252
    max_last_price: float | None = 25.0
    min_bars: int = 100
    target_return: float = 0.20
    backend: KalmanBackend = KalmanBackend.auto


@dataclass(frozen=True)
class PairsStrategyConfig:
    """Seed 001's `KalmanPairsTrading` parameters plus its broker settings."""

    window: int = 60
    entry_z: float = 2.5
    exit_z: float = 0.5
    stop_z: float = 4.0
    stake: int = 50
    long_only: bool = False
    delta: float = 1e-5
    R: float = 0.001
    initial_cash: float = 100_000.0
    commission: float = 0.0005


@dataclass(frozen=True)
class PairScreenConfig:
    """Engle-Granger screening and the choice of non-overlapping pairs.

    `symbols`: the tickers screened (empty: the universe's `extra` list, the ETFs and large
    caps); `lookback_days`: the most recent daily closes used (seed 001: five years).
    """

    pvalue_max: float | None = 0.05
    min_obs: int = 60
    max_pairs: int = 3
    sort_by: PairSortKey = PairSortKey.pvalue
    symbols: tuple[str, ...] = ()
    lookback_days: int = 1260


def _pairs_space() -> dict[str, Any]:
    return {
        "window": [45, 60, 90],
        "entry_z": [2.0, 2.5],
        "exit_z": [0.5],
        "stop_z": [3.5, 4.0],
        "stake": [25, 50, 75],
        "long_only": [False, True],
    }


@dataclass(frozen=True)
class KalmanPairsStudyConfig:
    """Kalman pairs trading on aligned closes (seed 001): the 72-combination grid by default.

    `asset_1`/`asset_2` name the pair (null: the best screened pair); `hedge_ratio` is the
    filter's starting beta (null: the OLS slope of asset_1 on asset_2). Market orders
    submitted on a bar's close fill on the next bar, as backtrader does, at `fill`: `close`
    (the default) is seed 001 exactly, whose feed is built from closes (open = close), so its
    results are the notebook's and signal and fill read one price series; `next_open` fills
    at the next bar's real open (sooner, across the overnight gap).
    """

    kind: str = "kalman_pairs"
    asset_1: str | None = None
    asset_2: str | None = None
    hedge_ratio: float | None = None
    strategy: PairsStrategyConfig = field(default_factory=PairsStrategyConfig)
    space: dict[str, Any] = field(default_factory=_pairs_space)
    objective: ObjectiveName = ObjectiveName.sharpe_then_dd
    screen: PairScreenConfig = field(default_factory=PairScreenConfig)
    session_tz: str = "America/New_York"
    fill: PairsFill = PairsFill.close
    backend: KalmanBackend = KalmanBackend.auto
    note: str = "Auto-generated by tradelab-tune study=kalman_pairs"

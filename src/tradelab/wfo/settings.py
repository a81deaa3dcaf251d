"""WFO settings: strategies (`conf/strategy`), grids (`conf/grid`), phases (`conf/phases`),
v4 scoring and plateaus (`conf/scoring`), the bias check (`check=bias`) and where the kernels
run (`conf/executor`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tradelab.errors import ConfigError

__all__ = [
    "BiasCheckConfig",
    "CandidatesFormat",
    "ExecutorConfig",
    "ExecutorKind",
    "GateConfig",
    "GridConfig",
    "PhaseConfig",
    "PhasesConfig",
    "PlateauConfig",
    "ScoringConfig",
    "StrategyConfig",
    "StrategyKind",
    "StrategyParamConfig",
]


class StrategyKind(StrEnum):
    atr_d_l = "atr_d_l"
    atr_d_ls = "atr_d_ls"
    atr_d_hma_l = "atr_d_hma_l"
    atr_d_hma_ls = "atr_d_hma_ls"
    atr_d_duals_l = "atr_d_duals_l"
    atr_d_duals_ls = "atr_d_duals_ls"


@dataclass(frozen=True, kw_only=True)
class StrategyParamConfig:
    """One documented parameter: default, refinement tier (1 searched, 2-3 fixed), TS input."""

    default: float
    tier: int = 2
    ts_input: str
    unit: str = ""
    description: str


@dataclass(frozen=True, kw_only=True)
class StrategyConfig:
    """An ATR-D variant: its parameters, TradeStation name, costs and position sizing.

    Costs per side (`conf/costs`): `commission` and `slippage` in $ per share, plus
    `commission_bps` and `slippage_bps` in basis points of the traded value (slippage moves
    the fill against the trade). `position_fraction` of equity is invested at each entry;
    `initial_capital` in $.
    """

    name: str
    kind: StrategyKind
    ts_name: str
    description: str = ""
    commission: float = 0.005
    slippage: float = 0.01
    commission_bps: float = 0.0
    slippage_bps: float = 0.0
    position_fraction: float = 1.0
    initial_capital: float = 100_000.0
    params: dict[str, StrategyParamConfig] = field(default_factory=dict)


@dataclass(frozen=True)
class GridConfig:
    """Searched values per parameter: `[values]` or `{min, max, step}`; others stay at default.

    One grid serves a whole strategy expansion: each variant keeps the parameters it has.
    """

    name: str = ""  # empty: the config group option's name (phase1_slim, ...)
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PhaseConfig:
    """IS and OOS lengths (years) and the gap between the OOS end and the last bar."""

    name: str
    is_years: float
    oos_years: float
    end_offset_years: float = 0.0

    def __post_init__(self) -> None:
        for field_ in ("is_years", "oos_years"):
            if not getattr(self, field_) > 0:
                raise ConfigError(f"phases.{self.name}.{field_}", "must be > 0")
        if not self.end_offset_years >= 0:
            raise ConfigError(f"phases.{self.name}.end_offset_years", "must be >= 0")


@dataclass(frozen=True)
class PhasesConfig:
    """Overlapping walk-forward phases, each one continuous simulation after `warmup_bars`."""

    description: str = ""
    warmup_bars: int = 100
    phases: tuple[PhaseConfig, ...] = ()

    def __post_init__(self) -> None:
        if self.warmup_bars < 1:
            raise ConfigError("phases.warmup_bars", "must be >= 1")
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise ConfigError("phases.phases", f"duplicate phase names {names}")


class CandidatesFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


@dataclass(frozen=True)
class GateConfig:
    """Per-phase quality gates (a combination passes a phase when all hold).

    Profitability: IS PnL > `min_is_pnl` and OOS PnL > `min_oos_pnl` (both >= 0).
    Efficiency: OOS PnL / IS PnL > `min_wfe`.
    Drawdown: OOS max DD < `max_oos_dd_to_pnl` x OOS PnL and OOS max DD <
    `max_oos_dd_to_is_dd` x IS max DD (drawdowns in $, positive).
    """

    min_is_pnl: float = 0.0
    min_oos_pnl: float = 0.0
    min_wfe: float = 0.35
    max_oos_dd_to_pnl: float = 1.0
    max_oos_dd_to_is_dd: float = 3.0


@dataclass(frozen=True)
class PlateauConfig:
    """Plateau detection on (x, y) cells of the candidates.

    Cells with at least `min_cell_count` stable combinations are clustered (when more than
    `max_cell_share` of the grid's (x, y) cells have that many, that share of the cells, those
    with the highest median stability score) by DBSCAN on grid level coordinates (1 = one grid
    step); `eps_grid` x `min_samples_grid` is searched and the clustering with the best
    silhouette x share of cells clustered wins among those leaving at most
    `max_noise_fraction` of the cells unclustered (a single cluster scores 0; a split must
    reach a silhouette of `min_silhouette`).
    Regime by the plateau's median x: TIGHT below `tight_below`, WIDE above `wide_above`,
    MEDIUM between (inclusive). `top_fraction` of each plateau's combinations (by score) is
    extracted for refinement; at most `max_plateaus` plateaus are kept, strongest first.
    """

    x: str = "atr_multiplier"
    y: str = "atr_buy_multiplier"
    min_cell_count: int = 50
    max_cell_share: float = 0.25
    eps_grid: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0)
    min_samples_grid: tuple[int, ...] = (2, 3, 4, 5)
    max_noise_fraction: float = 0.5
    min_silhouette: float = 0.25
    top_fraction: float = 0.10
    tight_below: float = 5.0
    wide_above: float = 12.0
    max_plateaus: int = 10


@dataclass(frozen=True)
class ScoringConfig:
    """v4 scoring: gates per phase, cross-phase stability, stability score, candidates.

    A combination is stable when it passes the gates in >= `min_phases` phases; when none
    does, `relaxed_min_phases` is used with a warning (and the run is tagged). Score =
    avg_rank x (1 + (phases_valid - 1) x `phase_bonus_step`) x 1 / (1 + stdev / `consistency_scale`)
    on percentile ranks (0-100) of `rank_metric`. The best `top_n` stable combinations are
    written as `candidates_<strategy>_<grid>-<phases>.<candidates_format>`.
    """

    gates: GateConfig = field(default_factory=GateConfig)
    min_phases: int = 3
    relaxed_min_phases: int = 2
    rank_metric: str = "oos_pnl"
    phase_bonus_step: float = 0.1
    consistency_scale: float = 20.0
    top_n: int = 2_000_000
    candidates_format: CandidatesFormat = CandidatesFormat.parquet
    plateaus: PlateauConfig = field(default_factory=PlateauConfig)


@dataclass(frozen=True)
class BiasCheckConfig:
    """`check=bias`: combinations sampled, look-ahead cut points, extra history for the warmup
    comparison (bars), relative tolerance of indicator differences, sampling seed (null: the
    job's seed)."""

    n_combos: int = 16
    n_cuts: int = 3
    extra_bars: int = 500
    tolerance: float = 0.05
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("n_combos", "n_cuts", "extra_bars"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bias.{name}", f"must be >= 1, got {getattr(self, name)}")
        if not self.tolerance >= 0:
            raise ConfigError("bias.tolerance", f"must be >= 0, got {self.tolerance}")


class ExecutorKind(StrEnum):
    local = "local"
    dask = "dask"


@dataclass(frozen=True)
class ExecutorConfig:
    """Where a sweep's kernels run (`tradelab.wfo.executor`).

    `local`: this process, numba threads over its cores. `dask`: tasks of `task_size`
    combinations on a Dask cluster: the scheduler at `address` (`tcp://host:8786`), or with
    `address` null an in-process `LocalCluster` of `n_workers` worker processes. Each task uses
    `threads_per_task` numba threads (1 for single-threaded workers, one per core).
    `workers_write`: workers write their results into the phase cache themselves (they must
    see the driver's results folder at the same path); null: for a `LocalCluster` only, a
    remote cluster sends them back to the driver.
    """

    kind: ExecutorKind = ExecutorKind.local
    address: str | None = None
    n_workers: int = 2
    task_size: int = 131_072
    threads_per_task: int = 1
    workers_write: bool | None = None

    def __post_init__(self) -> None:
        for name in ("n_workers", "task_size", "threads_per_task"):
            if getattr(self, name) < 1:
                raise ConfigError(f"executor.{name}", f"must be >= 1, got {getattr(self, name)}")
        if self.address is not None and not str(self.address).startswith(("tcp://", "tls://")):
            raise ConfigError(
                "executor.address",
                f"{self.address!r} is not a scheduler address: use tcp://host:8786 (null: a "
                "local cluster)",
            )

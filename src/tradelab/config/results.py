"""WFO results schema: v4 scoring, plateau detection and exports (`conf/scoring/*.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "GROUP_SCHEMAS",
    "CandidatesFormat",
    "GateConfig",
    "PlateauConfig",
    "ScoringConfig",
]


class CandidatesFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


@dataclass
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


@dataclass
class PlateauConfig:
    """Plateau detection on (x, y) cells of the candidates.

    Cells with at least `min_cell_count` stable combinations are clustered by DBSCAN on grid
    level coordinates (1 = one grid step); `eps_grid` x `min_samples_grid` is searched and the
    clustering with the best silhouette x share of cells clustered wins among those leaving at
    most `max_noise_fraction` of the cells unclustered (a single cluster scores 0; a split
    must reach a silhouette of `min_silhouette`).
    Regime by the plateau's median x: TIGHT below `tight_below`, WIDE above `wide_above`,
    MEDIUM between (inclusive). `top_fraction` of each plateau's combinations (by score) is
    extracted for refinement; at most `max_plateaus` plateaus are kept, strongest first.
    """

    x: str = "atr_multiplier"
    y: str = "atr_buy_multiplier"
    min_cell_count: int = 50
    eps_grid: list[float] = field(default_factory=lambda: [1.0, 1.5, 2.0, 3.0])
    min_samples_grid: list[int] = field(default_factory=lambda: [2, 3, 4, 5])
    max_noise_fraction: float = 0.5
    min_silhouette: float = 0.25
    top_fraction: float = 0.10
    tight_below: float = 5.0
    wide_above: float = 12.0
    max_plateaus: int = 10


@dataclass
class ScoringConfig:
    """v4 scoring: gates per phase, cross-phase stability, stability score, candidates.

    A combination is stable when it passes the gates in >= `min_phases` phases; when none
    does, `relaxed_min_phases` is used with a warning (and the run is tagged). Score =
    avg_rank x (1 + (phases_valid - 1) x `phase_bonus_step`) x 1 / (1 + stdev / `consistency_scale`)
    on percentile ranks (0-100) of `rank_metric`. The best `top_n` stable combinations are
    written as `candidates_<strategy>_<grid>.<candidates_format>`.
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


GROUP_SCHEMAS: dict[str, dict[str, type]] = {"scoring": {"v4": ScoringConfig}}

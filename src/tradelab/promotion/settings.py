"""Promotion settings (`conf/promote.yaml`): which runs compete, the margin over the champion
and the gates."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tradelab.errors import ConfigError
from tradelab.promotion.rules import Gates
from tradelab.search.grid import VERIFICATION_BELOW

__all__ = ["DEFAULT_GATES", "CandidateScope", "PromotionConfig", "Scope"]

DEFAULT_GATES = Gates(
    min_trades=10,
    max_drawdown=0.35,
    min_phases_valid=3,
    max_pbo=0.5,
    min_deflated_sharpe=0.95,
    min_sharpe_2x_costs=0.0,
    require_overfitting_stats=False,
)
"""Gates a candidate must pass unless the config says otherwise (null disables one)."""


class CandidateScope(StrEnum):
    """Which candidate runs of a target compete."""

    latest = "latest"  # the latest sweep (app invocation), within the DVC experiment/pipeline
    all = "all"  # every finished candidate on the latest data


@dataclass(frozen=True)
class PromotionConfig:
    """A candidate must pass `gates` and beat the champion by `margin` (x |champion| when
    `relative_margin`, else absolute); `candidates` says which runs compete and
    `min_grid_size` which sweeps are only verification runs (`Scope`). A baseline (a forecast
    reference such as the zero-return random walk) is registered only with `allow_baselines`:
    otherwise the decision says that no model beats it."""

    margin: float = 0.0
    relative_margin: bool = True
    gates: Gates = field(default_factory=lambda: DEFAULT_GATES)
    candidates: CandidateScope = CandidateScope.latest
    min_grid_size: int = VERIFICATION_BELOW
    allow_baselines: bool = False


@dataclass(frozen=True)
class Scope:
    """Where a promotion looks for candidates of a target.

    `candidates=latest`: the candidates of the latest app invocation (every parent run of one
    `tradelab-wfo` call, or of one Hydra multirun). Inside `dvc exp run` (`dvc_experiment`)
    only that experiment's runs count, the latest invocation of each DVC stage; a target the
    experiment did not run falls back to the pipeline rule. Inside a DVC stage (`pipeline`)
    only runs of pipeline stages count, the latest invocation of each stage.
    `candidates=all`: every finished candidate on the latest data.

    A sweep of fewer than `min_grid_size` combinations (its job's `grid_size` metric: a
    production re-run, `grid=single`) is a verification run: it re-checks a configuration found
    by a sweep, whose statistics (PBO, deflated Sharpe over every combination tried) it cannot
    carry, so it never competes and does not count as the latest sweep.
    """

    candidates: CandidateScope = CandidateScope.latest
    dvc_experiment: str | None = None
    pipeline: bool = False
    min_grid_size: int = VERIFICATION_BELOW

    def __post_init__(self) -> None:
        if self.min_grid_size < 1:
            raise ConfigError("min_grid_size", f"must be >= 1, got {self.min_grid_size}")

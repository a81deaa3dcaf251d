"""Promotion settings (`conf/promote.yaml`): which runs compete, the margin over the champion
and the gates."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tradelab.promotion.rules import Gates

__all__ = ["DEFAULT_GATES", "CandidateScope", "PromotionConfig", "Scope"]

DEFAULT_GATES = Gates(
    min_trades=10,
    max_drawdown=0.35,
    min_phases_valid=3,
    max_pbo=0.5,
    min_deflated_sharpe=0.95,
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
    `relative_margin`, else absolute); `candidates` says which runs compete (`Scope`)."""

    margin: float = 0.0
    relative_margin: bool = True
    gates: Gates = field(default_factory=lambda: DEFAULT_GATES)
    candidates: CandidateScope = CandidateScope.latest


@dataclass(frozen=True)
class Scope:
    """Where a promotion looks for candidates of a target.

    `candidates=latest`: the candidates of the latest app invocation (every parent run of one
    `tradelab-wfo` call, or of one Hydra multirun). Inside `dvc exp run` (`dvc_experiment`)
    only that experiment's runs count, the latest invocation of each DVC stage; a target the
    experiment did not run falls back to the pipeline rule. Inside a DVC stage (`pipeline`)
    only runs of pipeline stages count, the latest invocation of each stage.
    `candidates=all`: every finished candidate on the latest data.
    """

    candidates: CandidateScope = CandidateScope.latest
    dvc_experiment: str | None = None
    pipeline: bool = False

"""Promotion settings (`conf/promote.yaml`): the margin over the champion and the gates."""

from __future__ import annotations

from dataclasses import dataclass, field

from tradelab.promotion.rules import Gates

__all__ = ["DEFAULT_GATES", "PromotionConfig"]

DEFAULT_GATES = Gates(
    min_trades=10,
    max_drawdown=0.35,
    min_phases_valid=3,
    max_pbo=0.5,
    min_deflated_sharpe=0.95,
    require_overfitting_stats=False,
)
"""Gates a candidate must pass unless the config says otherwise (null disables one)."""


@dataclass(frozen=True)
class PromotionConfig:
    """A candidate must pass `gates` and beat the champion by `margin` (x |champion| when
    `relative_margin`, else absolute)."""

    margin: float = 0.0
    relative_margin: bool = True
    gates: Gates = field(default_factory=lambda: DEFAULT_GATES)

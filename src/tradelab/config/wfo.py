"""WFO schemas: strategies (`conf/strategy`), grids (`conf/grid`), phases (`conf/phases`).

Every shipped option registers its own `<option>_schema`; a new file may also start with the
generic `strategy_schema`, `grid_schema` or `phases_schema`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from omegaconf import MISSING

__all__ = [
    "GROUP_SCHEMAS",
    "GridConfig",
    "PhaseConfig",
    "PhasesConfig",
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


@dataclass
class StrategyParamConfig:
    """One documented parameter: default, refinement tier (1 searched, 2-3 fixed), TS input."""

    default: float = MISSING
    tier: int = 2
    ts_input: str = MISSING
    unit: str = ""
    description: str = MISSING


@dataclass
class StrategyConfig:
    """An ATR-D variant: its parameters, TradeStation name, costs and position sizing.

    `commission` and `slippage` are $ per share per side; `position_fraction` of equity is
    invested at each entry; `initial_capital` in $.
    """

    name: str = MISSING
    kind: StrategyKind = MISSING
    ts_name: str = MISSING
    description: str = ""
    commission: float = 0.005
    slippage: float = 0.01
    position_fraction: float = 1.0
    initial_capital: float = 100_000.0
    params: dict[str, StrategyParamConfig] = field(default_factory=dict)


@dataclass
class GridConfig:
    """Searched values per parameter: `[values]` or `{min, max, step}`; others stay at default.

    One grid serves a whole strategy expansion: each variant keeps the parameters it has.
    """

    name: str = ""  # empty: the config group option's name (phase1_slim, ...)
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class PhaseConfig:
    """IS and OOS lengths (years) and the gap between the OOS end and the last bar."""

    name: str = MISSING
    is_years: float = MISSING
    oos_years: float = MISSING
    end_offset_years: float = 0.0


@dataclass
class PhasesConfig:
    """Overlapping walk-forward phases, each one continuous simulation after `warmup_bars`."""

    description: str = ""
    warmup_bars: int = 100
    phases: list[PhaseConfig] = field(default_factory=list)


GROUP_SCHEMAS: dict[str, dict[str, type]] = {
    "strategy": {
        "strategy": StrategyConfig,
        **{kind.value: StrategyConfig for kind in StrategyKind},
    },
    "grid": {
        "grid": GridConfig,
        "phase1_slim": GridConfig,
        "smoke": GridConfig,
        "single": GridConfig,
        "full": GridConfig,
    },
    "phases": {
        "phases": PhasesConfig,
        "default": PhasesConfig,
        "compact": PhasesConfig,
    },
}

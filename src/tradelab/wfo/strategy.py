"""The six ATR-D variants: parameter sets, specs loaded from `conf/strategy/*.yaml`, expansion.

| kind            | sides | gate            | Bollinger width from | parameters |
|-----------------|-------|-----------------|----------------------|------------|
| atr_d_l         | long  | none            | data1                | 11         |
| atr_d_ls        | both  | EMA slope veto  | data1                | 16         |
| atr_d_hma_l     | long  | HMA fast > slow | data1                | 13         |
| atr_d_hma_ls    | both  | HMA crossover   | data1                | 14         |
| atr_d_duals_l   | long  | none            | data2                | 11         |
| atr_d_duals_ls  | both  | EMA slope veto  | data2                | 16         |

The dual variants run the same kernels as `atr_d_l` / `atr_d_ls` with Bollinger width computed
from the second symbol. `atr_d_hma_ls` enters only from flat (entry mode 0).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from tradelab.errors import ConfigError
from tradelab.kernels.enums import PARAM_NAMES
from tradelab.search.grid import Grid
from tradelab.wfo.settings import GridConfig, StrategyConfig, StrategyKind

__all__ = [
    "COST_FIELDS",
    "KIND_PARAMS",
    "SHARED_FIELDS",
    "ParamSpec",
    "StrategyKind",
    "StrategySpec",
    "expand_strategy",
    "expanded_specs",
    "grid_for_strategy",
    "grid_from_config",
    "strategy_from_config",
    "validate_param_values",
]


COST_FIELDS = ("commission", "slippage", "commission_bps", "slippage_bps")
"""Per-side costs of a strategy (spec and config): $ per share and basis points of the value."""
SHARED_FIELDS = (*COST_FIELDS, "position_fraction", "initial_capital")
"""What expanded variants take from the primary, so that the comparison is fair."""

_BASE = (
    "atr_period",
    "atr_multiplier",
    "atr_buy_multiplier",
    "bb_period",
    "bb_dev",
    "vol_threshold",
    "bb_scaling",
    "tighten_floor",
    "max_stop_atr",
    "baseline_period",
    "reentry_delay",
)
_SHORT = ("short_mult", "ema_period", "ema_slope_bars", "ema_slope_min", "entry_mode")
_HMA = ("hma_fast", "hma_slow")

KIND_PARAMS: dict[StrategyKind, tuple[str, ...]] = {
    StrategyKind.atr_d_l: _BASE,
    StrategyKind.atr_d_ls: _BASE + _SHORT,
    StrategyKind.atr_d_hma_l: _BASE + _HMA,
    StrategyKind.atr_d_hma_ls: _BASE + _HMA + ("short_mult",),
    StrategyKind.atr_d_duals_l: _BASE,
    StrategyKind.atr_d_duals_ls: _BASE + _SHORT,
}
"""Parameters of each variant, in the order the YAML documents them."""

_EXPANSION: dict[StrategyKind, tuple[StrategyKind, ...]] = {
    StrategyKind.atr_d_l: (StrategyKind.atr_d_l,),
    StrategyKind.atr_d_ls: (StrategyKind.atr_d_ls, StrategyKind.atr_d_l),
    StrategyKind.atr_d_hma_l: (StrategyKind.atr_d_hma_l, StrategyKind.atr_d_l),
    StrategyKind.atr_d_hma_ls: (
        StrategyKind.atr_d_hma_ls,
        StrategyKind.atr_d_hma_l,
        StrategyKind.atr_d_ls,
        StrategyKind.atr_d_l,
    ),
    StrategyKind.atr_d_duals_l: (StrategyKind.atr_d_duals_l, StrategyKind.atr_d_l),
    StrategyKind.atr_d_duals_ls: (
        StrategyKind.atr_d_duals_ls,
        StrategyKind.atr_d_duals_l,
        StrategyKind.atr_d_ls,
        StrategyKind.atr_d_l,
    ),
}

_INTEGER = {
    "atr_period",
    "bb_period",
    "baseline_period",
    "reentry_delay",
    "ema_period",
    "ema_slope_bars",
    "hma_fast",
    "hma_slow",
    "bb_scaling",
    "entry_mode",
}
_CHOICES = {"bb_scaling": (0, 1, 2), "entry_mode": (0, 1, 2)}
_MIN_ONE = {
    "atr_period",
    "bb_period",
    "baseline_period",
    "ema_period",
    "ema_slope_bars",
    "hma_fast",
    "hma_slow",
}
_POSITIVE = {"vol_threshold", "max_stop_atr", "short_mult", "bb_dev", "atr_multiplier"}
_NON_NEGATIVE = {"atr_buy_multiplier", "reentry_delay", "ema_slope_min"}


def validate_param_values(name: str, values: Iterable[float], *, key: str | None = None) -> None:
    """Raise ConfigError (naming `key`) unless every value is valid for parameter `name`."""
    key = key or name
    if name not in PARAM_NAMES:
        raise ConfigError(
            key, f"unknown ATR-D parameter '{name}' (known: {', '.join(PARAM_NAMES)})"
        )
    for v in values:
        v = float(v)
        if not math.isfinite(v):
            raise ConfigError(key, f"value {v!r} is not finite")
        if name in _INTEGER and v != int(v):
            raise ConfigError(key, f"value {v!r} must be an integer")
        if name in _CHOICES and int(v) not in _CHOICES[name]:
            raise ConfigError(key, f"value {v!r} must be one of {_CHOICES[name]}")
        if name in _MIN_ONE and v < 1:
            raise ConfigError(key, f"value {v!r} must be >= 1")
        if name in _POSITIVE and v <= 0:
            raise ConfigError(key, f"value {v!r} must be > 0")
        if name in _NON_NEGATIVE and v < 0:
            raise ConfigError(key, f"value {v!r} must be >= 0")
        if name == "tighten_floor" and not 0.0 <= v <= 1.0:
            raise ConfigError(key, f"value {v!r} must be in [0, 1]")


@dataclass(frozen=True)
class ParamSpec:
    """One documented strategy parameter (`tier` 1 is searched in TradeStation refinement)."""

    name: str
    default: float
    tier: int
    ts_input: str
    unit: str = ""
    description: str = ""


@dataclass(frozen=True)
class StrategySpec:
    """A variant with its documented parameters, costs and sizing.

    Costs per side: `commission` and `slippage` in dollars per share plus `commission_bps`
    and `slippage_bps` in basis points of the traded value; each entry buys
    `position_fraction` x equity worth of shares at the fill; `initial_capital` in dollars.
    """

    name: str
    kind: StrategyKind
    ts_name: str
    params: tuple[ParamSpec, ...]
    commission: float = 0.005
    slippage: float = 0.01
    position_fraction: float = 1.0
    initial_capital: float = 100_000.0
    description: str = ""
    commission_bps: float = 0.0
    slippage_bps: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _kind(self.kind, "strategy.kind"))
        expected = KIND_PARAMS[self.kind]
        names = tuple(p.name for p in self.params)
        missing = [n for n in expected if n not in names]
        extra = [n for n in names if n not in expected]
        if missing or extra:
            raise ConfigError(
                "strategy.params",
                f"{self.kind.value} takes exactly {list(expected)}; "
                f"missing {missing}, unknown {extra}",
            )
        by_name = {p.name: p for p in self.params}
        object.__setattr__(self, "params", tuple(by_name[n] for n in expected))
        for p in self.params:
            validate_param_values(p.name, [p.default], key=f"strategy.params.{p.name}.default")
            if p.tier not in (1, 2, 3):
                raise ConfigError(f"strategy.params.{p.name}.tier", "must be 1, 2 or 3")
        for field in COST_FIELDS:
            if not getattr(self, field) >= 0:
                raise ConfigError(f"strategy.{field}", "must be >= 0")
        if not 0 < self.position_fraction <= 1:
            raise ConfigError("strategy.position_fraction", "must be in (0, 1]")
        if not self.initial_capital > 0:
            raise ConfigError("strategy.initial_capital", "must be > 0")

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def dual(self) -> bool:
        """Whether Bollinger width comes from the second symbol."""
        return self.kind in (StrategyKind.atr_d_duals_l, StrategyKind.atr_d_duals_ls)

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def with_costs_of(self, other: StrategySpec) -> StrategySpec:
        """Return this spec with `other`'s costs, sizing and capital."""
        return replace(self, **{name: getattr(other, name) for name in SHARED_FIELDS})

    def scaled_costs(self, multiple: float) -> StrategySpec:
        """This spec with every cost (per share and in basis points) times `multiple`."""
        return replace(self, **{name: getattr(self, name) * multiple for name in COST_FIELDS})

    def fingerprint(self) -> str:
        """Hash of everything that changes results (not names or descriptions).

        Costs in basis points enter only when set, so a spec without them hashes as before.
        """
        fields: list[Any] = [
            self.kind.value,
            [(p.name, float(p.default)) for p in self.params],
            float(self.commission),
            float(self.slippage),
            float(self.position_fraction),
            float(self.initial_capital),
        ]
        if self.commission_bps or self.slippage_bps:
            fields.append({"bps": [float(self.commission_bps), float(self.slippage_bps)]})
        blob = json.dumps(fields)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _kind(value: Any, key: str) -> StrategyKind:
    try:
        return StrategyKind(getattr(value, "value", value))
    except ValueError:
        raise ConfigError(
            key, f"unknown strategy {value!r} (known: {[k.value for k in StrategyKind]})"
        ) from None


def strategy_from_config(config: StrategyConfig) -> StrategySpec:
    """Build the StrategySpec a strategy config (`conf/strategy/<name>.yaml`) describes."""
    params = tuple(
        ParamSpec(
            name=name,
            default=p.default,
            tier=p.tier,
            ts_input=p.ts_input,
            unit=p.unit,
            description=p.description,
        )
        for name, p in config.params.items()
    )
    return StrategySpec(
        name=config.name,
        kind=config.kind,
        ts_name=config.ts_name,
        params=params,
        commission=config.commission,
        slippage=config.slippage,
        position_fraction=config.position_fraction,
        initial_capital=config.initial_capital,
        description=config.description,
        commission_bps=config.commission_bps,
        slippage_bps=config.slippage_bps,
    )


def expand_strategy(name: str) -> list[str]:
    """Return the variants a request runs: itself first, then each simpler ancestor."""
    return [k.value for k in _EXPANSION[_kind(name, "strategy")]]


def expanded_specs(
    primary: StrategySpec, load: Callable[[str], StrategyConfig]
) -> list[StrategySpec]:
    """Return specs of `expand_strategy(primary.kind)`; others loaded by `load(name)`.

    Expanded variants take the primary's costs, sizing and capital, so the comparison is fair
    whatever their own files say.
    """
    out = [primary]
    for name in expand_strategy(primary.kind)[1:]:
        out.append(strategy_from_config(load(name)).with_costs_of(primary))
    return out


def grid_from_config(config: GridConfig) -> Grid:
    """Build the Grid of a grid config (`conf/grid/<name>.yaml`).

    Every parameter name must be an ATR-D parameter and every value valid for it.
    """
    try:
        grid = Grid.from_config(config.params)
    except ValueError as exc:
        raise ConfigError("grid.params", str(exc)) from exc
    for name, levels in zip(grid.names, grid.levels):
        validate_param_values(name, levels, key=f"grid.params.{name}")
    return grid


def grid_for_strategy(grid: Grid, strategy: StrategySpec, *, strict: bool = False) -> Grid:
    """Keep the dimensions `strategy` uses (order kept); `strict` refuses any other."""
    keep = [i for i, n in enumerate(grid.names) if n in strategy.param_names]
    dropped = [n for n in grid.names if n not in strategy.param_names]
    if strict and dropped:
        raise ConfigError("grid.params", f"{strategy.kind.value} has no parameters {dropped}")
    if not keep:
        raise ConfigError(
            "grid.params", f"no dimension of the grid is a parameter of {strategy.kind.value}"
        )
    return Grid(tuple(grid.names[i] for i in keep), tuple(grid.levels[i] for i in keep))

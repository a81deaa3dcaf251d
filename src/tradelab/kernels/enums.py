"""Integer enums and record layouts shared by the ATR-D kernels (numba-friendly constants).

Every strategy kernel sees the same superset of parameters, in the order of `Param`; a
variant that does not use a parameter gets a single level for it. Categorical parameters are
small integers (`BBScaling`, `EntryMode`). Metrics come out as rows of a `(n_metrics, n_combos)`
array in the order of `Metric` / `METRIC_NAMES`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "METRIC_NAMES",
    "N_METRICS",
    "N_PARAMS",
    "PARAM_NAMES",
    "TRADE_DTYPE",
    "BBScaling",
    "EntryMode",
    "ExitReason",
    "Metric",
    "Param",
]


class ParamT(NamedTuple):
    atr_period: int = 0
    atr_multiplier: int = 1
    atr_buy_multiplier: int = 2
    bb_period: int = 3
    bb_dev: int = 4
    vol_threshold: int = 5
    bb_scaling: int = 6
    tighten_floor: int = 7
    max_stop_atr: int = 8
    baseline_period: int = 9
    reentry_delay: int = 10
    short_mult: int = 11
    ema_period: int = 12
    ema_slope_bars: int = 13
    ema_slope_min: int = 14
    entry_mode: int = 15
    hma_fast: int = 16
    hma_slow: int = 17


Param = ParamT()
"""Index of each strategy parameter in the kernels' parameter superset."""

PARAM_NAMES: tuple[str, ...] = ParamT._fields
N_PARAMS = len(PARAM_NAMES)


class BBScalingT(NamedTuple):
    linear: int = 0
    sqrt: int = 1
    quadratic: int = 2


BBScaling = BBScalingT()
"""How the stop tightens with the squeeze ratio r = BB width / vol_threshold (< 1)."""


class EntryModeT(NamedTuple):
    flat_only: int = 0
    long_priority: int = 1
    full_reversal: int = 2


EntryMode = EntryModeT()
"""Which entries may reverse an open position (long/short variants)."""


class ExitReasonT(NamedTuple):
    stop: int = 0
    reversal: int = 1


ExitReason = ExitReasonT()


class MetricT(NamedTuple):
    is_pnl: int = 0
    oos_pnl: int = 1
    is_max_dd: int = 2
    oos_max_dd: int = 3
    is_max_dd_pct: int = 4
    oos_max_dd_pct: int = 5
    is_trades: int = 6
    oos_trades: int = 7
    is_win_rate: int = 8
    oos_win_rate: int = 9
    is_profit_factor: int = 10
    oos_profit_factor: int = 11
    is_sharpe: int = 12
    oos_sharpe: int = 13
    is_sortino: int = 14
    oos_sortino: int = 15
    is_cagr: int = 16
    oos_cagr: int = 17


Metric = MetricT()
"""Row of each per-combination metric in the kernels' output."""

METRIC_NAMES: tuple[str, ...] = MetricT._fields
N_METRICS = len(METRIC_NAMES)

TRADE_DTYPE = np.dtype(
    [
        ("combo", np.int64),
        ("direction", np.int64),
        ("entry_bar", np.int64),
        ("exit_bar", np.int64),
        ("entry_price", np.float64),
        ("exit_price", np.float64),
        ("shares", np.float64),
        ("pnl", np.float64),
        ("reason", np.int64),
    ]
)
"""One closed round trip: bars index the simulated arrays, prices are fills (after slippage)."""

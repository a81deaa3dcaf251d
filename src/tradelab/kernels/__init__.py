"""Pure numba kernels: indicators, ATR-D strategy simulation, metric accumulators.

Arrays in, arrays out; nothing here imports pandas, MLflow, Hydra or touches the file system.
"""

from __future__ import annotations

from tradelab.kernels.atr_d import (
    LANES,
    TREND_EMA,
    TREND_HMA,
    TREND_NONE,
    simulate_long_nb,
    simulate_long_trend_nb,
    simulate_ls_nb,
    trace_long_nb,
    trace_long_trend_nb,
    trace_ls_nb,
)
from tradelab.kernels.enums import (
    METRIC_NAMES,
    N_METRICS,
    N_PARAMS,
    PARAM_NAMES,
    TRADE_DTYPE,
    BBScaling,
    EntryMode,
    ExitReason,
    Metric,
    Param,
)
from tradelab.kernels.indicators import (
    atr_matrix_nb,
    atr_nb,
    bb_width_matrix_nb,
    bb_width_nb,
    ema_nb,
    ema_slope_matrix_nb,
    ema_slope_nb,
    hma_matrix_nb,
    hma_nb,
    true_range_nb,
    wma_nb,
)

__all__ = [
    "LANES",
    "METRIC_NAMES",
    "N_METRICS",
    "N_PARAMS",
    "PARAM_NAMES",
    "TRADE_DTYPE",
    "TREND_EMA",
    "TREND_HMA",
    "TREND_NONE",
    "BBScaling",
    "EntryMode",
    "ExitReason",
    "Metric",
    "Param",
    "atr_matrix_nb",
    "atr_nb",
    "bb_width_matrix_nb",
    "bb_width_nb",
    "ema_nb",
    "ema_slope_matrix_nb",
    "ema_slope_nb",
    "hma_matrix_nb",
    "hma_nb",
    "simulate_long_nb",
    "simulate_long_trend_nb",
    "simulate_ls_nb",
    "trace_long_nb",
    "trace_long_trend_nb",
    "trace_ls_nb",
    "true_range_nb",
    "wma_nb",
]

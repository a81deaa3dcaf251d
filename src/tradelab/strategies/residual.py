"""Residual mean-reversion strategy (seed 000): adapters from arrays and dicts to the kernel.

Notation:
    close    (n_bars,)  closing prices of one symbol
    columns  {name: (n_sets,)} searched parameters, named as `ResidualStrategyConfig` fields
    z        (n_filters, n_bars) residual z-score of each distinct (q, r), computed once

Parameter sets that share (process_noise_q, observation_noise_r) share one filter run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradelab.kalman import local_level_filter
from tradelab.kernels.residual import (
    ER,
    N_METRICS,
    N_PARAMS,
    RM,
    RP,
    TRADE_DTYPE,
    ExitReason,
    residual_batch_nb,
    residual_run_nb,
)
from tradelab.strategies._params import param_arrays

__all__ = [
    "EXIT_REASONS",
    "METRIC_COLUMNS",
    "SEARCHABLE",
    "ResidualBacktest",
    "ResidualEvaluation",
    "ResidualSettings",
    "backtest_residual",
    "evaluate_residual",
    "residual_costs",
    "seed_config",
]

# searchable strategy fields -> kernel parameter column (None: a filter parameter)
SEARCHABLE: dict[str, int | None] = {
    "process_noise_q": None,
    "observation_noise_r": None,
    "residual_z_entry": RP.z_entry,
    "residual_z_exit": RP.z_exit,
    "stop_loss_pct": RP.stop_loss,
    "take_profit_pct": RP.take_profit,
    "trailing_stop_pct": RP.trailing_stop,
    "position_size_pct": RP.position_size,
}
METRIC_COLUMNS = tuple(RM._fields)
EXIT_REASONS = tuple(ExitReason._fields)
DEFAULTS = {
    "process_noise_q": 1e-4,
    "observation_noise_r": 5e-3,
    "residual_z_entry": 0.75,
    "residual_z_exit": 0.1,
    "stop_loss_pct": 0.05,
    "take_profit_pct": 0.08,
    "trailing_stop_pct": 0.025,
    "position_size_pct": 0.15,
}
# filter outputs per bar held at once when sets use many distinct (q, r): ~128 MB
_FILTER_BUDGET = 1 << 24


@dataclass(frozen=True)
class ResidualSettings:
    """What stays fixed across trials. `bars_per_year` annualises the Sharpe ratio; each fill
    pays `cost_per_share` $ a share plus `cost_rate` of its value (0: seed 000, no costs)."""

    initial_capital: float = 100_000.0
    warmup_bars: int = 60
    z_lookback: int = 50
    trail_activation_pct: float = 0.02
    bars_per_year: float = 252.0 * 78.0
    backend: str = "auto"
    cost_per_share: float = 0.0
    cost_rate: float = 0.0


def residual_costs(strategy: Mapping[str, Any]) -> dict[str, float]:
    """`ResidualSettings` cost fields from a strategy config's commission and slippage ($ a
    share) and commission_bps and slippage_bps (of the traded value); a missing one is 0 (runs
    logged before costs existed had none)."""
    commission, slippage, commission_bps, slippage_bps = (
        float(strategy.get(name) or 0.0)
        for name in ("commission", "slippage", "commission_bps", "slippage_bps")
    )
    return {
        "cost_per_share": commission + slippage,
        "cost_rate": (commission_bps + slippage_bps) / 1e4,
    }


@dataclass
class ResidualEvaluation:
    """Metrics of many parameter sets, plus block sums when blocks were requested."""

    metrics: pd.DataFrame
    block_ret_sum: np.ndarray | None = None  # (n_sets, n_blocks)
    block_ret_sq: np.ndarray | None = None  # (n_sets, n_blocks)
    block_n: np.ndarray | None = None  # (n_blocks,)


@dataclass
class ResidualBacktest:
    """One parameter set in detail: metrics, equity at every close, closed trades, and the
    signed shares held after each bar's close (`positions`). A position still open at the
    last bar is booked as an `end_of_data` trade and stays in `positions` at that bar."""

    params: dict[str, float]
    metrics: dict[str, float]
    equity: np.ndarray
    trades: pd.DataFrame
    positions: np.ndarray


def _close(close: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(close, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"close: expected a non-empty 1-D array, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0))
    if bad.size:
        raise ValueError(f"close: non-positive or non-finite price at bar {int(bad[0])}")
    return arr


def _block_ids(
    block_id: np.ndarray | None, n_blocks: int | None, n_bars: int
) -> tuple[np.ndarray, int]:
    """The kernel's block ids (empty: no block sums) and the number of blocks."""
    blocks = np.zeros(0, dtype=np.int32) if block_id is None else np.asarray(block_id, np.int32)
    if block_id is not None and blocks.shape != (n_bars,):
        raise ValueError(f"block_id: expected shape ({n_bars},), got {blocks.shape}")
    n_blk = 0 if block_id is None else int(n_blocks if n_blocks is not None else blocks.max() + 1)
    if blocks.size and blocks.max() >= n_blk:
        raise ValueError(f"block_id: values must be < n_blocks ({n_blk})")
    return blocks, n_blk


def _run_filter_batches(
    prices: np.ndarray,
    qr: np.ndarray,
    params: np.ndarray,
    settings: ResidualSettings,
    blocks: np.ndarray,
    n_blk: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Filter each distinct (q, r) once, in batches within the memory budget, and run the
    strategy kernel on the sets that use them: (metrics, block return sums, block squares)."""
    n_sets, n_bars = params.shape[0], prices.shape[0]
    metrics = np.zeros((n_sets, N_METRICS))
    ret_sum = np.zeros((n_sets, n_blk))
    ret_sq = np.zeros((n_sets, n_blk))
    uniq, filt = np.unique(qr, axis=0, return_inverse=True)
    filt = filt.reshape(-1).astype(np.int64)
    per_batch = max(1, _FILTER_BUDGET // (5 * n_bars))
    for lo in range(0, uniq.shape[0], per_batch):
        hi = min(lo + per_batch, uniq.shape[0])
        result = local_level_filter(
            prices,
            uniq[lo:hi, 0],
            uniq[lo:hi, 1],
            lookback=settings.z_lookback,
            backend=settings.backend,
        )
        z = np.ascontiguousarray(result.residual_z)
        sets = np.flatnonzero((filt >= lo) & (filt < hi))
        if sets.size == 0:
            continue
        m = np.zeros((sets.size, N_METRICS))
        bs = np.zeros((sets.size, n_blk))
        bq = np.zeros((sets.size, n_blk))
        residual_batch_nb(
            prices,
            z,
            filt[sets] - lo,
            np.ascontiguousarray(params[sets]),
            float(settings.initial_capital),
            int(settings.warmup_bars),
            float(settings.trail_activation_pct),
            float(settings.bars_per_year),
            float(settings.cost_rate),
            float(settings.cost_per_share),
            blocks,
            m,
            bs,
            bq,
        )
        metrics[sets], ret_sum[sets], ret_sq[sets] = m, bs, bq
    return metrics, ret_sum, ret_sq


def evaluate_residual(
    close: np.ndarray,
    columns: Mapping[str, object],
    *,
    defaults: Mapping[str, float] | None = None,
    settings: ResidualSettings | None = None,
    block_id: np.ndarray | None = None,
    n_blocks: int | None = None,
) -> ResidualEvaluation:
    """Backtest every parameter set (columns of equal length) in one kernel call per filter batch.

    Unsearched parameters take `defaults` (else seed 000's AggressiveConfig). With `block_id`
    (int, -1: not counted), also return per-block sums of per-bar equity returns.
    """
    settings = settings or ResidualSettings()
    prices = _close(close)
    n_sets, full = param_arrays("residual", columns, defaults, searchable=SEARCHABLE, base=DEFAULTS)
    params = np.empty((n_sets, N_PARAMS))
    for name, col in SEARCHABLE.items():
        if col is not None:
            params[:, col] = full[name]
    blocks, n_blk = _block_ids(block_id, n_blocks, prices.shape[0])
    qr = np.column_stack([full["process_noise_q"], full["observation_noise_r"]])
    metrics, ret_sum, ret_sq = _run_filter_batches(prices, qr, params, settings, blocks, n_blk)

    frame = pd.DataFrame(metrics, columns=list(METRIC_COLUMNS))
    frame["num_trades"] = frame["num_trades"].astype(np.int64)
    if block_id is None:
        return ResidualEvaluation(frame)
    counted = blocks[blocks >= 0]
    block_n = np.bincount(counted, minlength=n_blk).astype(np.int64)
    return ResidualEvaluation(frame, ret_sum, ret_sq, block_n)


def _positions(trades: np.ndarray, n_trades: int, n_bars: int) -> np.ndarray:
    """Signed shares held after each bar, as the kernel's trade record gives them: held from
    the entry bar's close up to, not including, the exit bar; an `end_of_data` trade through
    the last bar. NaN after the last recorded exit when the record is cut at `max_trades`."""
    out = np.zeros(n_bars)
    for rec in trades[: min(n_trades, trades.shape[0])]:
        end = n_bars if rec["reason"] == ER.end_of_data else int(rec["exit_bar"])
        out[int(rec["entry_bar"]) : end] = rec["side"] * rec["shares"]
    if n_trades > trades.shape[0]:
        out[int(trades[-1]["exit_bar"]) if trades.shape[0] else 0 :] = np.nan
    return out


def backtest_residual(
    close: np.ndarray,
    params: Mapping[str, float] | None = None,
    settings: ResidualSettings | None = None,
    *,
    max_trades: int = 100_000,
) -> ResidualBacktest:
    """Backtest one parameter set, keeping its equity curve, trade list and positions."""
    settings = settings or ResidualSettings()
    prices = _close(close)
    single = {k: [v] for k, v in (params or {}).items()}
    _, full = param_arrays("residual", single, None, searchable=SEARCHABLE, base=DEFAULTS)
    p = np.empty(N_PARAMS)
    for name, col in SEARCHABLE.items():
        if col is not None:
            p[col] = full[name][0]
    result = local_level_filter(
        prices,
        full["process_noise_q"],
        full["observation_noise_r"],
        lookback=settings.z_lookback,
        backend=settings.backend,
    )
    z = np.ascontiguousarray(result.residual_z[0])
    metrics = np.zeros(N_METRICS)
    equity = np.empty(prices.shape[0])
    trades = np.zeros(max_trades, dtype=TRADE_DTYPE)
    n = residual_run_nb(
        prices,
        z,
        p,
        float(settings.initial_capital),
        int(settings.warmup_bars),
        float(settings.trail_activation_pct),
        float(settings.bars_per_year),
        float(settings.cost_rate),
        float(settings.cost_per_share),
        metrics,
        equity,
        trades,
    )
    table = pd.DataFrame(trades[: min(n, max_trades)])
    table["reason"] = [EXIT_REASONS[i] for i in table["reason"]]
    values = dict(zip(METRIC_COLUMNS, (float(v) for v in metrics)))
    values["num_trades"] = int(values["num_trades"])
    params_used = {k: float(v[0]) for k, v in full.items()}
    positions = _positions(trades, n, prices.shape[0])
    return ResidualBacktest(params_used, values, equity, table, positions)


def seed_config(params: Mapping[str, float]) -> dict[str, float]:
    """Return the parameter dict as seed 000 reports it (plus the trailing stop and size)."""
    p = {**DEFAULTS, **params}
    return {
        "q": float(p["process_noise_q"]),
        "r": float(p["observation_noise_r"]),
        "z_entry": float(p["residual_z_entry"]),
        "z_exit": float(p["residual_z_exit"]),
        "stop_loss": float(p["stop_loss_pct"]),
        "take_profit": float(p["take_profit_pct"]),
        "trailing_stop": float(p["trailing_stop_pct"]),
        "position_size": float(p["position_size_pct"]),
    }

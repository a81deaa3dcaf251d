"""Kalman pairs strategy (seed 001): adapters from series and dicts to the kernel.

Notation:
    close_a, close_b, open_a, open_b  (n_bars,)  aligned prices of asset_1 (A) and asset_2 (B)
    columns  {name: (n_sets,)} searched parameters, named as `PairsStrategyConfig` fields
    betas    (n_filters, n_bars)  hedge ratio of each distinct (delta, R), filtered once
    z        (n_z, n_bars)        spread z-score of each distinct (filter, window), once

Fills follow backtrader's defaults (see `tradelab.kernels.pairs`): market orders submitted on
a bar's close fill at the next bar's open. `fill` chooses that open: `close` gives the kernel
the closes as opens, as seed 001's feed does (its OHLC is built from the close), so orders fill
at the next bar's close; `next_open` gives it the real opens (the closes when none were given).
The commission is a fraction of traded value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradelab.errors import ConfigError, DataValidationError
from tradelab.kalman import hedge_ratio_filter, rolling_zscore
from tradelab.kernels.pairs import (
    FILL_DTYPE,
    N_METRICS,
    N_PARAMS,
    PM,
    PP,
    pairs_batch_nb,
    pairs_run_nb,
)
from tradelab.strategies._params import param_arrays
from tradelab.strategies.bars import period_ends
from tradelab.strategies.settings import KalmanPairsStudyConfig, PairsFill

__all__ = [
    "METRIC_COLUMNS",
    "SEARCHABLE",
    "PairBacktest",
    "PairData",
    "PairsEvaluation",
    "backtest_pair",
    "evaluate_pairs",
]

# searchable fields -> kernel parameter column (None: filter or z-score parameter)
SEARCHABLE: dict[str, int | None] = {
    "window": None,
    "delta": None,
    "R": None,
    "entry_z": PP.entry_z,
    "exit_z": PP.exit_z,
    "stop_z": PP.stop_z,
    "stake": PP.stake,
    "long_only": PP.long_only,
    "commission": PP.commission,
    "initial_cash": PP.initial_cash,
}
DEFAULTS = {
    "window": 60,
    "delta": 1e-5,
    "R": 0.001,
    "entry_z": 2.5,
    "exit_z": 0.5,
    "stop_z": 4.0,
    "stake": 50,
    "long_only": False,
    "commission": 0.0005,
    "initial_cash": 100_000.0,
}
METRIC_COLUMNS = (
    "final_value",
    "total_return",
    "sharpe",
    "max_dd_pct",
    "max_dd_abs",
    "max_drawdown",
    "num_trades",
    "won_trades",
    "win_rate",
    "n_days",
    "rejected_orders",
)


@dataclass(frozen=True)
class PairData:
    """Two legs aligned on their common bars."""

    asset_1: str
    asset_2: str
    times: pd.DatetimeIndex
    open_a: np.ndarray
    close_a: np.ndarray
    open_b: np.ndarray
    close_b: np.ndarray
    period_end: np.ndarray

    @property
    def n_bars(self) -> int:
        return int(self.close_a.shape[0])

    @classmethod
    def from_series(
        cls,
        close_a: pd.Series,
        close_b: pd.Series,
        *,
        open_a: pd.Series | None = None,
        open_b: pd.Series | None = None,
        session_tz: str | None = "America/New_York",
    ) -> PairData:
        """Align closes (and opens; default: the closes) on their common timestamps."""
        if not isinstance(close_a.index, pd.DatetimeIndex):
            raise DataValidationError("pair closes need a DatetimeIndex", field="timestamp")
        frame = pd.concat(
            {
                "close_a": close_a,
                "close_b": close_b,
                "open_a": close_a if open_a is None else open_a,
                "open_b": close_b if open_b is None else open_b,
            },
            axis=1,
            join="inner",
        ).dropna()
        frame = frame[~frame.index.duplicated(keep="first")].sort_index()
        if len(frame) < 2:
            raise DataValidationError("the two legs share fewer than 2 bars", field="close")
        values = frame.to_numpy(dtype=np.float64)
        bad = np.argwhere(values <= 0)
        if bad.size:
            row, col = bad[0]
            raise DataValidationError(
                "prices must be positive", row=int(row), field=str(frame.columns[col])
            )
        times = pd.DatetimeIndex(frame.index)
        return cls(
            asset_1=str(close_a.name or "A"),
            asset_2=str(close_b.name or "B"),
            times=times,
            open_a=np.ascontiguousarray(values[:, 2]),
            close_a=np.ascontiguousarray(values[:, 0]),
            open_b=np.ascontiguousarray(values[:, 3]),
            close_b=np.ascontiguousarray(values[:, 1]),
            period_end=period_ends(times, session_tz),
        )


@dataclass
class PairsEvaluation:
    """Metrics of many parameter sets, plus block sums when blocks were requested."""

    metrics: pd.DataFrame
    block_ret_sum: np.ndarray | None = None
    block_ret_sq: np.ndarray | None = None
    block_n: np.ndarray | None = None


@dataclass
class PairBacktest:
    """One parameter set in detail: metrics, value at every close, executed fills, and the
    shares of each leg (columns: asset_1, asset_2) held after each bar's fills."""

    params: dict[str, float]
    metrics: dict[str, float]
    values: pd.Series
    fills: pd.DataFrame
    positions: np.ndarray  # (n_bars, 2)


def _positions(fills: np.ndarray, n_fills: int, n_bars: int) -> np.ndarray:
    """Shares held after each bar: the running sum of the executed fills, as the kernel books
    them; NaN from the bar of the last recorded fill on when the record is cut."""
    kept = fills[: min(n_fills, fills.shape[0])]
    per_bar = np.zeros((n_bars, 2))
    np.add.at(per_bar, (kept["bar"], kept["leg"]), kept["size"])
    out = np.cumsum(per_bar, axis=0)
    if n_fills > kept.shape[0]:
        out[int(kept["bar"][-1]) if kept.shape[0] else 0 :] = np.nan
    return out


def _fill_prices(data: PairData, fill: PairsFill | str) -> PairData:
    """Return `data` with the opens the kernel fills at: real (`next_open`) or closes (`close`)."""
    try:
        mode = PairsFill(fill)
    except ValueError:
        known = [f.value for f in PairsFill]
        raise ConfigError("fill", f"unknown fill {fill!r}; use one of {known}") from None
    if mode is PairsFill.next_open:
        return data
    return dataclasses.replace(data, open_a=data.close_a, open_b=data.close_b)


def _full_params(
    columns: Mapping[str, object], defaults: Mapping[str, object] | None
) -> tuple[int, dict[str, np.ndarray]]:
    n_sets, full = param_arrays("pairs", columns, defaults, searchable=SEARCHABLE, base=DEFAULTS)
    window = full["window"]
    if np.any(window < 1) or np.any(window != np.rint(window)):
        raise ValueError("window: must be a positive integer")
    if np.any(full["initial_cash"] <= 0):
        raise ValueError("initial_cash: must be > 0")
    if np.any(full["stake"] < 0):
        raise ValueError("stake: must be >= 0")
    return n_sets, full


def _z_rows(
    data: PairData, full: dict[str, np.ndarray], beta0: float, backend: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Filter each distinct (delta, R) and z-score each distinct (filter, window) once."""
    dr = np.column_stack([full["delta"], full["R"]])
    uniq, frow = np.unique(dr, axis=0, return_inverse=True)
    frow = frow.reshape(-1).astype(np.int64)
    hedge = hedge_ratio_filter(
        data.close_a, data.close_b, uniq[:, 0], uniq[:, 1], beta0=beta0, backend=backend
    )
    betas = np.ascontiguousarray(hedge.betas)
    keys = np.column_stack([frow, full["window"].astype(np.int64)])
    zkeys, zrow = np.unique(keys, axis=0, return_inverse=True)
    z = np.empty((zkeys.shape[0], data.n_bars))
    for window in np.unique(zkeys[:, 1]):
        rows = np.flatnonzero(zkeys[:, 1] == window)
        spreads = np.ascontiguousarray(hedge.spreads[zkeys[rows, 0]])
        z[rows] = rolling_zscore(spreads, int(window), lag=0, backend=backend)
    return betas, z, frow, zrow.reshape(-1).astype(np.int64)


def _param_matrix(full: dict[str, np.ndarray], n_sets: int) -> np.ndarray:
    params = np.empty((n_sets, N_PARAMS))
    for name, col in SEARCHABLE.items():
        if col is not None:
            params[:, col] = full[name]
    return params


def _metric_frame(raw: np.ndarray) -> pd.DataFrame:
    """Canonical metric columns (all float64: counts too) from the kernel's metric matrix."""
    out = np.empty((raw.shape[0], len(METRIC_COLUMNS)))
    trades = raw[:, PM.total_trades]
    won = raw[:, PM.won_trades]
    out[:, 0] = raw[:, PM.final_value]
    out[:, 1] = raw[:, PM.total_return]
    out[:, 2] = raw[:, PM.sharpe]
    out[:, 3] = raw[:, PM.max_dd_pct]
    out[:, 4] = raw[:, PM.max_dd_abs]
    out[:, 5] = raw[:, PM.max_dd_pct] / 100.0
    out[:, 6] = trades
    out[:, 7] = won
    out[:, 8] = np.where(trades > 0, won / np.maximum(trades, 1.0), 0.0)
    out[:, 9] = raw[:, PM.n_periods]
    out[:, 10] = raw[:, PM.rejected_orders]
    return pd.DataFrame(out, columns=list(METRIC_COLUMNS))


def evaluate_pairs(
    data: PairData,
    columns: Mapping[str, object],
    *,
    defaults: Mapping[str, object] | None = None,
    beta0: float = 1.0,
    backend: str = "auto",
    block_id: np.ndarray | None = None,
    n_blocks: int | None = None,
    fill: PairsFill | str = KalmanPairsStudyConfig.fill,
) -> PairsEvaluation:
    """Backtest every parameter set (columns of equal length) in one kernel call.

    Unsearched parameters take `defaults` (else seed 001's values). `beta0` starts the hedge
    filter. With `block_id` (int, -1: not counted), also return per-block sums of per-bar
    portfolio returns. `fill`: the next bar's `close` (seed 001) or its real `next_open`.
    """
    data = _fill_prices(data, fill)
    n_sets, full = _full_params(columns, defaults)
    betas, z, frow, zrow = _z_rows(data, full, beta0, backend)
    blocks = np.zeros(0, dtype=np.int32) if block_id is None else np.asarray(block_id, np.int32)
    if block_id is not None and blocks.shape != (data.n_bars,):
        raise ValueError(f"block_id: expected shape ({data.n_bars},), got {blocks.shape}")
    n_blk = 0 if block_id is None else int(n_blocks if n_blocks is not None else blocks.max() + 1)
    if blocks.size and blocks.max() >= n_blk:
        raise ValueError(f"block_id: values must be < n_blocks ({n_blk})")
    raw = np.zeros((n_sets, N_METRICS))
    ret_sum = np.zeros((n_sets, n_blk))
    ret_sq = np.zeros((n_sets, n_blk))
    pairs_batch_nb(
        data.open_a,
        data.close_a,
        data.open_b,
        data.close_b,
        betas,
        z,
        frow,
        zrow,
        _param_matrix(full, n_sets),
        data.period_end,
        blocks,
        raw,
        ret_sum,
        ret_sq,
    )
    frame = _metric_frame(raw)
    if block_id is None:
        return PairsEvaluation(frame)
    block_n = np.bincount(blocks[blocks >= 0], minlength=n_blk).astype(np.int64)
    return PairsEvaluation(frame, ret_sum, ret_sq, block_n)


def backtest_pair(
    data: PairData,
    params: Mapping[str, object] | None = None,
    *,
    beta0: float = 1.0,
    backend: str = "auto",
    max_fills: int = 100_000,
    fill: PairsFill | str = KalmanPairsStudyConfig.fill,
) -> PairBacktest:
    """Backtest one parameter set, keeping the value curve and the executed fills."""
    data = _fill_prices(data, fill)
    _, full = _full_params({k: [v] for k, v in (params or {}).items()}, None)
    betas, z, _, _ = _z_rows(data, full, beta0, backend)
    raw = np.zeros(N_METRICS)
    values = np.empty(data.n_bars)
    fills = np.zeros(max_fills, dtype=FILL_DTYPE)
    n = pairs_run_nb(
        data.open_a,
        data.close_a,
        data.open_b,
        data.close_b,
        betas[0],
        z[0],
        _param_matrix(full, 1)[0],
        data.period_end,
        raw,
        values,
        fills,
    )
    table = pd.DataFrame(fills[: min(n, max_fills)])
    table.insert(0, "timestamp", data.times[table["bar"].to_numpy()])
    table.insert(2, "asset", np.where(table["leg"] == 0, data.asset_1, data.asset_2))
    metrics: dict[str, float] = _metric_frame(raw[None, :]).iloc[0].to_dict()
    for name in ("num_trades", "won_trades", "n_days", "rejected_orders"):
        metrics[name] = int(metrics[name])
    plain = {k: full[k][0].item() for k in SEARCHABLE}
    series = pd.Series(values, index=data.times, name="value")
    return PairBacktest(plain, metrics, series, table, _positions(fills, n, data.n_bars))

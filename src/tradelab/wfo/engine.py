"""Turn (bars, strategy, grid, phase) into kernel inputs and evaluate combinations.

Indicators are computed once per phase and per distinct parameter value (or pair of values);
the kernels decode each combination index into grid digits and read the matching columns.
Memory per phase: the indicator matrices, `n_bars x (distinct ATR periods + BB period x
deviation pairs + trend pairs) x 8` bytes, plus `n x (18 + 2 S) x 8` bytes of results for the
`n` combinations of a call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradelab.errors import ConfigError
from tradelab.kernels import atr_d
from tradelab.kernels.enums import (
    METRIC_NAMES,
    N_METRICS,
    N_PARAMS,
    PARAM_NAMES,
    TRADE_DTYPE,
    Param,
)
from tradelab.kernels.indicators import (
    atr_matrix_nb,
    bb_width_matrix_nb,
    ema_slope_matrix_nb,
    hma_matrix_nb,
)
from tradelab.search.grid import Grid
from tradelab.wfo.data import WfoData
from tradelab.wfo.phases import Phase
from tradelab.wfo.strategy import StrategyKind, StrategySpec, validate_param_values

__all__ = [
    "ComboResult",
    "PreparedPhase",
    "equal_block_id",
    "evaluate_combos",
    "prepare_phase",
    "run_prepared",
    "short_atr_period",
    "trace_combos",
]


@dataclass(frozen=True)
class _Features:
    short: bool
    trend: int
    fixed_mode: int  # -1: from the entry_mode parameter


_FEATURES = {
    StrategyKind.atr_d_l: _Features(False, atr_d.TREND_NONE, 0),
    StrategyKind.atr_d_duals_l: _Features(False, atr_d.TREND_NONE, 0),
    StrategyKind.atr_d_hma_l: _Features(False, atr_d.TREND_HMA, 0),
    StrategyKind.atr_d_ls: _Features(True, atr_d.TREND_EMA, -1),
    StrategyKind.atr_d_duals_ls: _Features(True, atr_d.TREND_EMA, -1),
    StrategyKind.atr_d_hma_ls: _Features(True, atr_d.TREND_HMA, 0),
}

# Values of parameters a variant does not have (never read by its kernel, or harmless).
_NEUTRAL = {
    "short_mult": 1.0,
    "ema_period": 1.0,
    "ema_slope_bars": 1.0,
    "ema_slope_min": 0.0,
    "entry_mode": 0.0,
    "hma_fast": 1.0,
    "hma_slow": 1.0,
}


def short_atr_period(atr_period: float, short_mult: float) -> int:
    """Return the short side's ATR period: atr_period x short_mult rounded half up, >= 1."""
    return max(1, math.floor(atr_period * short_mult + 0.5))


def _kernels(f: _Features) -> tuple[Callable[..., Any], Callable[..., Any]]:
    if f.short:
        return atr_d.simulate_ls_nb, atr_d.trace_ls_nb
    if f.trend != atr_d.TREND_NONE:
        return atr_d.simulate_long_trend_nb, atr_d.trace_long_trend_nb
    return atr_d.simulate_long_nb, atr_d.trace_long_nb


def equal_block_id(n_bars: int, start: int, stop: int, n_blocks: int) -> np.ndarray:
    """Return `block_id` (n_bars,) int32: bars start..stop-1 cut into n_blocks equal runs."""
    span = stop - start
    if n_blocks < 1 or span < n_blocks:
        raise ConfigError(
            "n_blocks", f"must be in [1, {span}] (bars in the window), got {n_blocks}"
        )
    out = np.full(n_bars, -1, dtype=np.int32)
    out[start:stop] = (np.arange(span, dtype=np.int64) * n_blocks // span).astype(np.int32)
    return out


@dataclass(frozen=True, eq=False)
class PreparedPhase:
    """Everything a strategy kernel needs for one phase: sliced bars, indicators, digit maps."""

    strategy: StrategySpec
    grid: Grid
    phase: Phase
    bars: atr_d.Bars  # the phase window's bars
    ind: atr_d.Indicators
    tables: atr_d.GridTables
    consts: atr_d.SimConsts
    block_id: np.ndarray  # (phase.n_bars,) int32, -1 = not counted
    n_blocks: int
    kernel: Callable[..., Any]
    trace_kernel: Callable[..., Any]

    @property
    def block_n(self) -> np.ndarray:
        """Bars per block, (n_blocks,) int64."""
        ids = self.block_id[self.block_id >= 0]
        return np.bincount(ids, minlength=self.n_blocks).astype(np.int64)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the data, not the compiled kernels: the receiving process (a Dask worker)
        takes its own, from the strategy's kind."""
        data = (self.strategy, self.grid, self.phase, self.bars, self.ind, self.tables)
        return (_rebuild_prepared, (*data, self.consts, self.block_id, self.n_blocks))


def _rebuild_prepared(*fields: Any) -> PreparedPhase:
    kernel, trace = _kernels(_FEATURES[fields[0].kind])
    return PreparedPhase(*fields, kernel, trace)


def _superset(
    grid: Grid, strategy: StrategySpec
) -> tuple[list[tuple[float, ...]], np.ndarray, np.ndarray]:
    radix = np.ones(N_PARAMS, dtype=np.int64)
    strides = np.ones(N_PARAMS, dtype=np.int64)
    levels: list[tuple[float, ...]] = []
    defaults = strategy.defaults()
    g_radix, g_strides = grid.radix, grid.strides
    for k, name in enumerate(PARAM_NAMES):
        if name in grid.names:
            i = grid.index_of(name)
            radix[k], strides[k] = g_radix[i], g_strides[i]
            levels.append(tuple(float(v) for v in grid.levels[i]))
        else:
            levels.append((float(defaults.get(name, _NEUTRAL.get(name, 0.0))),))
    return levels, radix, strides


def _check_history(mat: np.ndarray, first: int, labels: list[str], phase: Phase) -> None:
    bad = np.isnan(mat[first:]).any(axis=0)
    if bad.any():
        label = labels[int(np.argmax(bad))]
        raise ConfigError(
            label.split("=")[0].split(" ")[0],
            f"{label} needs more history than the {phase.n_warmup} warmup bars of {phase.name}",
        )


def _check_inputs(data: WfoData, strategy: StrategySpec, grid: Grid, phase: Phase) -> None:
    unknown = [n for n in grid.names if n not in strategy.param_names]
    if unknown:
        raise ConfigError("grid.params", f"{strategy.kind.value} has no parameters {unknown}")
    for name, lv in zip(grid.names, grid.levels):
        validate_param_values(name, lv, key=f"grid.params.{name}")
    if strategy.dual and data.close2 is None:
        raise ConfigError("symbol2", f"{strategy.kind.value} needs a second symbol (data close2)")
    if phase.oos_end >= data.n_bars:
        raise ConfigError(
            f"phases.{phase.name}",
            f"ends at bar {phase.oos_end} beyond the data ({data.n_bars} bars)",
        )


def _atr_columns(
    bars: atr_d.Bars, lv: Callable[[str], tuple[float, ...]], short: bool, first: int, phase: Phase
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ATR of every distinct period (long, short = atr_period x short_mult, baseline) and the
    digit-to-column maps: (atr, atr_row, atr_row_s, base_row)."""
    long_p = [int(p) for p in lv("atr_period")]
    if short:
        short_p = [[short_atr_period(p, m) for m in lv("short_mult")] for p in long_p]
    else:
        short_p = [[p] * len(lv("short_mult")) for p in long_p]
    base_p = [int(p) for p in lv("baseline_period")]
    periods = sorted({*long_p, *base_p, *(p for row in short_p for p in row)})
    col = {p: i for i, p in enumerate(periods)}
    atr = atr_matrix_nb(bars.high, bars.low, bars.close, np.array(periods, dtype=np.int64))

    def atr_label(p: int) -> str:
        if p in long_p:
            return f"atr_period={p}"
        if p in base_p:
            return f"baseline_period={p}"
        return f"short_mult (short ATR period {p})"

    _check_history(atr, first, [atr_label(p) for p in periods], phase)
    atr_row = np.array([col[p] for p in long_p], dtype=np.int64)
    atr_row_s = np.array([[col[p] for p in row] for row in short_p], dtype=np.int64)
    base_row = np.array([col[p] for p in base_p], dtype=np.int64)
    return atr, atr_row, atr_row_s, base_row


def _bb_columns(
    src: np.ndarray, lv: Callable[[str], tuple[float, ...]], first: int, phase: Phase
) -> tuple[np.ndarray, np.ndarray]:
    """Bollinger width of every (bb_period, bb_dev) pair and its column map: (bbw, bbw_row)."""
    bb_p, bb_d = lv("bb_period"), lv("bb_dev")
    pairs = [(int(p), d) for p in bb_p for d in bb_d]
    bbw = bb_width_matrix_nb(
        src, np.array([p for p, _ in pairs], dtype=np.int64), np.array([d for _, d in pairs])
    )
    _check_history(bbw, first, [f"bb_period={p}" for p, _ in pairs], phase)
    bbw_row = np.arange(len(pairs), dtype=np.int64).reshape(len(bb_p), len(bb_d))
    return bbw, bbw_row


def _trend_columns(
    close: np.ndarray,
    lv: Callable[[str], tuple[float, ...]],
    trend: int,
    first: int,
    phase: Phase,
) -> tuple[np.ndarray, np.ndarray]:
    """The trend series (EMA slope per (ema_period, ema_slope_bars) pair, or HMA fast - slow
    per (hma_fast, hma_slow) pair) and its column map: (trd, trd_row)."""
    if trend == atr_d.TREND_EMA:
        e_p, e_b = lv("ema_period"), lv("ema_slope_bars")
        tp = [(int(p), int(b)) for p in e_p for b in e_b]
        trd = ema_slope_matrix_nb(
            close,
            np.array([p for p, _ in tp], dtype=np.int64),
            np.array([b for _, b in tp], dtype=np.int64),
        )
        _check_history(trd, first, [f"ema_slope_bars={b}" for _, b in tp], phase)
        return trd, np.arange(len(tp), dtype=np.int64).reshape(len(e_p), len(e_b))
    if trend == atr_d.TREND_HMA:
        f_l, s_l = [int(v) for v in lv("hma_fast")], [int(v) for v in lv("hma_slow")]
        lengths = sorted({*f_l, *s_l})
        hcol = {n: i for i, n in enumerate(lengths)}
        hm = hma_matrix_nb(close, np.array(lengths, dtype=np.int64))
        labels = [f"hma_fast={n}" if n in f_l else f"hma_slow={n}" for n in lengths]
        _check_history(hm, first, labels, phase)
        trd = np.ascontiguousarray(
            np.stack([hm[:, hcol[f]] - hm[:, hcol[s]] for f in f_l for s in s_l], axis=1)
        )
        return trd, np.arange(len(f_l) * len(s_l), dtype=np.int64).reshape(len(f_l), len(s_l))
    return np.zeros((phase.n_bars, 1)), np.zeros((1, 1), dtype=np.int64)


def _phase_blocks(
    data: WfoData, phase: Phase, n_blocks: int, block_id: np.ndarray | None
) -> tuple[np.ndarray, int]:
    """The phase window's block ids (-1: not counted) and the number of blocks."""
    if block_id is not None:
        bid = np.asarray(block_id)
        if bid.shape != (data.n_bars,):
            raise ConfigError(
                "block_id", f"needs one entry per bar ({data.n_bars}), got {bid.shape}"
            )
        n_blocks = int(n_blocks) if n_blocks else int(bid.max()) + 1
        if bid.size and (bid.min() < -1 or bid.max() >= n_blocks):
            raise ConfigError("block_id", f"values must be -1 or in [0, {n_blocks})")
        window = np.ascontiguousarray(bid[phase.warmup_start : phase.oos_end + 1], dtype=np.int32)
        window = window.copy()
        window[: phase.n_warmup] = -1
        return window, n_blocks
    if n_blocks:
        return equal_block_id(phase.n_bars, phase.n_warmup, phase.n_bars, int(n_blocks)), n_blocks
    return np.full(phase.n_bars, -1, dtype=np.int32), 0


def prepare_phase(
    data: WfoData,
    strategy: StrategySpec,
    grid: Grid,
    phase: Phase,
    *,
    n_blocks: int = 0,
    block_id: np.ndarray | None = None,
) -> PreparedPhase:
    """Slice the phase, compute its indicators and the digit-to-column maps.

    `block_id` (data.n_bars,) int32 assigns bars to blocks (-1: not counted); with `n_blocks`
    alone, the traded bars (IS and OOS) are cut into `n_blocks` equal blocks.
    """
    _check_inputs(data, strategy, grid, phase)
    feat = _FEATURES[strategy.kind]
    levels, radix, strides = _superset(grid, strategy)
    width = max(len(lv) for lv in levels)
    values = np.full((N_PARAMS, width), np.nan)
    for k, lv in enumerate(levels):
        values[k, : len(lv)] = lv

    sl = slice(phase.warmup_start, phase.oos_end + 1)
    bars = atr_d.Bars(
        *(np.array(a[sl], dtype=np.float64) for a in (data.open, data.high, data.low, data.close))
    )
    src = np.array((data.bb_source if strategy.dual else data.close)[sl], dtype=np.float64)
    first = phase.n_warmup - 1  # the close whose orders the first traded bar can fill

    def lv(name: str) -> tuple[float, ...]:
        return levels[getattr(Param, name)]

    atr, atr_row, atr_row_s, base_row = _atr_columns(bars, lv, feat.short, first, phase)
    bbw, bbw_row = _bb_columns(src, lv, first, phase)
    trd, trd_row = _trend_columns(bars.close, lv, feat.trend, first, phase)
    consts = atr_d.SimConsts(
        t_first=int(phase.n_warmup),
        t_bound=int(phase.oos_start - 1 - phase.warmup_start),
        t_last=int(phase.n_bars - 1),
        trend_kind=int(feat.trend),
        fixed_mode=int(feat.fixed_mode),
        capital=float(strategy.initial_capital),
        position_fraction=float(strategy.position_fraction),
        commission=float(strategy.commission),
        slippage=float(strategy.slippage),
        bars_per_year=float(data.bars_per_year),
        commission_rate=float(strategy.commission_bps) * 1e-4,
        slippage_rate=float(strategy.slippage_bps) * 1e-4,
    )
    bid, n_blocks = _phase_blocks(data, phase, n_blocks, block_id)
    kernel, trace = _kernels(feat)
    return PreparedPhase(
        strategy,
        grid,
        phase,
        bars,
        atr_d.Indicators(atr, bbw, trd),
        atr_d.GridTables(strides, radix, values, atr_row, atr_row_s, base_row, bbw_row, trd_row),
        consts,
        bid,
        int(n_blocks),
        kernel,
        trace,
    )


def _as_combos(prep: PreparedPhase, combos: np.ndarray | None) -> np.ndarray:
    if combos is None:
        return np.arange(prep.grid.size, dtype=np.int64)
    arr = np.ascontiguousarray(combos, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError("combos must be a 1-D array of combination indices")
    if arr.size and (arr.min() < 0 or arr.max() >= prep.grid.size):
        raise IndexError(f"combination index outside [0, {prep.grid.size})")
    return arr


def _call(
    prep: PreparedPhase, kernel: Callable[..., Any], combos: np.ndarray, outputs: atr_d.Outputs
) -> None:
    kernel(prep.bars, prep.ind, prep.tables, prep.consts, combos, prep.block_id, outputs)


def run_prepared(
    prep: PreparedPhase,
    combos: np.ndarray,
    out: np.ndarray | None = None,
    bsum: np.ndarray | None = None,
    bsq: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate `combos`; return `(out (N_METRICS, n), bsum (n, S), bsq (n, S))`."""
    combos = _as_combos(prep, combos)
    n = combos.shape[0]
    out = np.empty((N_METRICS, n)) if out is None else out
    bsum = np.empty((n, prep.n_blocks)) if bsum is None else bsum
    bsq = np.empty((n, prep.n_blocks)) if bsq is None else bsq
    if n:
        no_trades = np.empty(0, dtype=TRADE_DTYPE)
        outputs = atr_d.Outputs(out, bsum, bsq, no_trades, np.zeros(0, dtype=np.int64))
        _call(prep, prep.kernel, combos, outputs)
    return out, bsum, bsq


@dataclass(frozen=True, eq=False)
class ComboResult:
    """Metrics of selected combinations of one phase (and block sums when asked for)."""

    combos: np.ndarray
    metrics: dict[str, np.ndarray]
    block_ret_sum: np.ndarray | None = None
    block_ret_sq: np.ndarray | None = None
    block_n: np.ndarray | None = None


def evaluate_combos(
    data: WfoData,
    strategy: StrategySpec,
    grid: Grid,
    phase: Phase,
    combos: np.ndarray | None = None,
    *,
    n_blocks: int = 0,
    block_id: np.ndarray | None = None,
) -> ComboResult:
    """Evaluate `combos` (int64 indices into `grid`; None: all) over one phase.

    With `n_blocks` (and optionally `block_id` over the data's bars) also return per-block sums
    of each combination's per-bar equity returns and squared returns, for PBO / deflated Sharpe.
    """
    prep = prepare_phase(data, strategy, grid, phase, n_blocks=n_blocks, block_id=block_id)
    combos = _as_combos(prep, combos)
    out, bsum, bsq = run_prepared(prep, combos)
    metrics = {name: out[k] for k, name in enumerate(METRIC_NAMES)}
    if prep.n_blocks:
        return ComboResult(combos, metrics, bsum, bsq, prep.block_n)
    return ComboResult(combos, metrics)


def trace_combos(
    data: WfoData,
    strategy: StrategySpec,
    grid: Grid,
    phase: Phase,
    combos: np.ndarray,
    *,
    max_trades: int = 2000,
) -> tuple[list[np.ndarray], ComboResult]:
    """Evaluate `combos` and return each one's closed round trips (`TRADE_DTYPE`, bars index
    the data) with the metrics; raises if a combination trades more than `max_trades` times."""
    prep = prepare_phase(data, strategy, grid, phase)
    combos = _as_combos(prep, combos)
    n = combos.shape[0]
    out = np.empty((N_METRICS, n))
    trades = np.zeros(n * max_trades, dtype=TRADE_DTYPE)
    n_trades = np.zeros(n, dtype=np.int64)
    empty = np.empty((n, 0))
    if n:
        _call(prep, prep.trace_kernel, combos, atr_d.Outputs(out, empty, empty, trades, n_trades))
    if n_trades.size and n_trades.max() > max_trades:
        raise ValueError(f"a combination made {int(n_trades.max())} trades; raise max_trades")
    per_combo = []
    for i in range(n):
        rec = trades[i * max_trades : i * max_trades + n_trades[i]].copy()
        rec["combo"] = combos[i]
        rec["entry_bar"] += phase.warmup_start
        rec["exit_bar"] += phase.warmup_start
        per_combo.append(rec)
    metrics = {name: out[k] for k, name in enumerate(METRIC_NAMES)}
    return per_combo, ComboResult(combos, metrics)

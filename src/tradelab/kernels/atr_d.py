"""ATR-D strategy kernels: many parameter combinations of one phase, simulated at once.

Entry points `kernel(bars, ind, tables, consts, combos, block_id, outputs)` (simulate_*_nb,
trace_*_nb) write their results into `outputs` in place.

Notation:
    n_bars      bars of the phase window (warmup, IS, OOS); `t` indexes them
    bars        `Bars`: open_, high, low, close, (n_bars,) float64 bars of the traded symbol
    ind         `Indicators`:
      atr       (n_bars, n_atr) ATR of every distinct period (long, short, 70-bar baseline)
      bbw       (n_bars, n_bbw) Bollinger width of every (bb_period, bb_dev) pair
      trd       (n_bars, n_trd) trend series: EMA slope (%/bar) of every (ema_period,
                ema_slope_bars) pair, or HMA(fast) - HMA(slow) of every (hma_fast, hma_slow)
    tables      `GridTables`: strides, radix (N_PARAMS,) int64; values (N_PARAMS, max_radix)
                float64 (see `Param`); *_row int64 maps from grid digits to indicator columns
    consts      `SimConsts`: t_first, t_bound, t_last, trend_kind, fixed_mode (int);
                capital, position_fraction, commission, slippage, bars_per_year,
                commission_rate, slippage_rate (float)
    combos      (n,) int64 combination indices of a mixed-radix grid
    block_id    (n_bars,) int32 block of each bar for the block sums, -1 = not counted
    outputs     `Outputs`:
      out       (N_METRICS, n) float64, rows as `Metric`
      bsum, bsq (n, S) block sums of per-bar returns and their squares (S = n_blocks)
      trades    (n * max_trades,) TRADE_DTYPE round trips (trace kernels; else empty)
      n_trades  (n,) int64 round trips of each combination (trace kernels; else empty)

Trading rules (the plain-Python reference in `tradelab.wfo.reference` applies the same):
    - Orders are placed at the close of bar t-1 and can fill during bar t; at most one fill
      event per bar (a stop exit, or an entry which may reverse the open position).
    - Long stop: exit when low <= stop at min(open, stop); short stop: high >= stop at
      max(open, stop). Stops are checked before entries; a stopped bar enters nothing.
    - Long buy-touch: while allowed, a buy limit at close - atr_buy_multiplier * ATR fills when
      low <= level at min(open, level). Short sell-touch at close + atr_buy_multiplier *
      ATR_short, fills when high >= level at max(open, level). A long wins a bar where both
      would fill.
    - Trailing stop after bar t: ext = highest high (lowest low for shorts) since entry, the
      entry bar counting max(fill, close); distance = min(ATR * multiplier * tightening,
      max_stop_atr * ATR_baseline); long stop = max(previous stop, ext - distance), short stop
      = min(previous stop, ext + distance).
    - Tightening: r = BBW / vol_threshold; when r < 1 the factor is max(tighten_floor, s(r))
      with s = r, sqrt(r) or r**2 (bb_scaling 0, 1, 2), else 1.
    - Entries from flat wait `reentry_delay` bars after the bar of a stop exit. Long entries
      need trend > tlim, short entries trend < slim (EMA variants: slope < -ema_slope_min;
      HMA variants: fast above / below slow). Entry mode: 0 entries only from flat, 1 a long
      entry may also reverse a short, 2 both directions reverse.
    - Fills pay slippage (adverse): `slippage` $ per share plus `slippage_rate` x the raw fill
      price; and commission: `commission` $ per share plus `commission_rate` x the fill price.
      A new position buys position_fraction x equity / fill shares (fractional shares).
    - The first traded bar is t_first; IS ends after bar t_bound, OOS after t_last. At the IS
      end an open position is marked to market for the IS figures (counted as an IS trade
      without exit costs) and carried into OOS with the boundary close as its reference price.

Layout: a block of `LANES` combinations runs bar by bar with the lanes innermost, so each pass
over the lanes compiles to SIMD code. Per bar: (1) one check whether any lane's stop or entry
order fills; (2) only then the fill pass (exits, entries, trade statistics) - on most bars no
lane trades; (3) the mark-to-market pass (equity, return sums, drawdowns, trailing stop, next
orders). Blocks whose lanes share their indicator columns read one value per bar, others stage
per-lane values. Every variant compiles its own copy with the variant switches as constants:
the factories close over Python bools only (numba's disk-cache key hashes closure contents, and
a dispatcher does not pickle stably) and reach the functions they call as module-level globals,
chosen by branches on those constants, which numba prunes before typing. Each variant compiles
under its own name (`_jit_variant`), so that variants loaded from the cache never share symbols.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numba import njit, prange

from tradelab.kernels.enums import N_PARAMS, Metric, Param
from tradelab.kernels.metrics import cagr_nb, profit_factor_nb, sharpe_nb, sortino_nb, win_rate_nb

__all__ = [
    "LANES",
    "TREND_EMA",
    "TREND_HMA",
    "TREND_NONE",
    "Bars",
    "GridTables",
    "Indicators",
    "Outputs",
    "SimConsts",
    "simulate_long_nb",
    "simulate_long_trend_nb",
    "simulate_ls_nb",
    "trace_long_nb",
    "trace_long_trend_nb",
    "trace_ls_nb",
]

LANES = 32
"""Combinations simulated together by one block (bar outer, lanes inner, vectorized)."""

TREND_NONE = 0
TREND_EMA = 1
TREND_HMA = 2


class Bars(NamedTuple):
    """Bars of the traded symbol over the phase window, (n_bars,) float64 each."""

    open_: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray


class Indicators(NamedTuple):
    """Indicator matrices, one column per distinct parameter value (or pair of values)."""

    atr: np.ndarray  # (n_bars, n_atr) float64
    bbw: np.ndarray  # (n_bars, n_bbw) float64
    trd: np.ndarray  # (n_bars, n_trd) float64


class GridTables(NamedTuple):
    """The parameter grid as mixed-radix digits and values, and the digit-to-column maps."""

    strides: np.ndarray  # (N_PARAMS,) int64
    radix: np.ndarray  # (N_PARAMS,) int64
    values: np.ndarray  # (N_PARAMS, max_radix) float64
    atr_row: np.ndarray  # (atr_period levels,) int64
    atr_row_s: np.ndarray  # (atr_period levels, short_mult levels) int64
    base_row: np.ndarray  # (baseline_period levels,) int64
    bbw_row: np.ndarray  # (bb_period levels, bb_dev levels) int64
    trd_row: np.ndarray  # (ema_period | hma_fast levels, ema_slope_bars | hma_slow levels)


class SimConsts(NamedTuple):
    """Scalars of one phase simulation; bar indices count from the window start."""

    t_first: int  # first traded bar
    t_bound: int  # last IS bar
    t_last: int  # last OOS bar
    trend_kind: int  # TREND_NONE, TREND_EMA or TREND_HMA
    fixed_mode: int  # entry mode of every combination; -1: the entry_mode parameter
    capital: float
    position_fraction: float
    commission: float  # $ per share per side
    slippage: float  # $ per share per side
    bars_per_year: float
    commission_rate: float = 0.0  # fraction of the traded value per side (1 bp = 1e-4)
    slippage_rate: float = 0.0  # fraction of the raw fill price per side


class Outputs(NamedTuple):
    """Kernel results, written in place."""

    out: np.ndarray  # (N_METRICS, n) float64
    bsum: np.ndarray  # (n, S) float64
    bsq: np.ndarray  # (n, S) float64
    trades: np.ndarray  # (n * max_trades,) TRADE_DTYPE; empty for the simulate kernels
    n_trades: np.ndarray  # (n,) int64; empty for the simulate kernels


_B = LANES

# Lane state, `S[row * LANES + lane]`: one flat array so the compiler sees constant offsets.
# Position and orders: Q shares (signed), CASH, STOP, EXT (extreme since entry), TL / TS (buy /
# sell-touch levels, +-inf when not allowed), REF / COST (reference price and entry costs of the
# open position), XT (bar of the last stop exit), EEXT / EN (entry extreme / entry flag of the
# bar's fill). Metrics: SEG0 (segment start equity), PREV (last equity), PEAK, MDD, XR (equity
# over peak), MDDP, SR / SR2 / SD2 (return sums), NTR, NW, GP, GL (trade counts and sums), RET
# (last return). Lane parameters: MULT ... REVS. Recorder: CL ... SH.
_Q, _CASH, _STOP, _EXT, _TL, _TS, _REF, _COST, _XT, _EEXT, _EN = range(11)
_SEG0, _PREV, _PEAK, _MDD, _XR, _MDDP, _SR, _SR2, _SD2, _NTR, _NW, _GP, _GL, _RET = range(11, 25)
_MULT, _MULTS, _BMULT, _INVT, _FLOOR, _SCAL, _MAXS, _DELAY = range(25, 33)
_TLIM, _SLIM, _REVL, _REVS = range(33, 37)
_CL, _EX, _QOLD, _CLP, _OPX, _SH = range(37, 43)
_NROWS = 43

# Rows of the per-lane indicator values of one bar, for blocks whose lanes read different
# indicator columns (`V[row * LANES + lane]`).
_V_ATR, _V_TIGHT, _V_ATRB, _V_ATRS, _V_TRD, _N_V = range(6)

# Rows of the per-lane indicator column table.
_IX_ATR, _IX_ATRS, _IX_ATRB, _IX_BBW, _IX_TRD, _N_IX = range(6)


@njit(cache=True, error_model="numpy")
def _decode_lanes_nb(S, rows, combos, first, tables, consts):
    """Decode the block's combinations into lane parameters, indicator columns, fresh state."""
    n = combos.shape[0]
    strides, radix, values = tables.strides, tables.radix, tables.values
    atr_row, atr_row_s, base_row = tables.atr_row, tables.atr_row_s, tables.base_row
    bbw_row, trd_row = tables.bbw_row, tables.trd_row
    trend_kind = consts.trend_kind
    fixed_mode = consts.fixed_mode
    capital = consts.capital
    digit = np.empty(N_PARAMS, np.int64)
    for j in range(_B):
        combo = combos[min(first + j, n - 1)]
        for p in range(N_PARAMS):
            digit[p] = (combo // strides[p]) % radix[p]
        da = digit[Param.atr_period]
        rows[_IX_ATR * _B + j] = atr_row[da]
        rows[_IX_ATRS * _B + j] = atr_row_s[da, digit[Param.short_mult]]
        rows[_IX_ATRB * _B + j] = base_row[digit[Param.baseline_period]]
        rows[_IX_BBW * _B + j] = bbw_row[digit[Param.bb_period], digit[Param.bb_dev]]
        if trend_kind == TREND_HMA:
            rows[_IX_TRD * _B + j] = trd_row[digit[Param.hma_fast], digit[Param.hma_slow]]
        else:
            rows[_IX_TRD * _B + j] = trd_row[digit[Param.ema_period], digit[Param.ema_slope_bars]]

        mult = values[Param.atr_multiplier, digit[Param.atr_multiplier]]
        S[_MULT * _B + j] = mult
        S[_MULTS * _B + j] = mult * values[Param.short_mult, digit[Param.short_mult]]
        S[_BMULT * _B + j] = values[Param.atr_buy_multiplier, digit[Param.atr_buy_multiplier]]
        S[_INVT * _B + j] = 1.0 / values[Param.vol_threshold, digit[Param.vol_threshold]]
        S[_FLOOR * _B + j] = values[Param.tighten_floor, digit[Param.tighten_floor]]
        S[_SCAL * _B + j] = values[Param.bb_scaling, digit[Param.bb_scaling]]
        S[_MAXS * _B + j] = values[Param.max_stop_atr, digit[Param.max_stop_atr]]
        S[_DELAY * _B + j] = values[Param.reentry_delay, digit[Param.reentry_delay]]
        if trend_kind == TREND_EMA:
            S[_TLIM * _B + j] = -np.inf
            S[_SLIM * _B + j] = -values[Param.ema_slope_min, digit[Param.ema_slope_min]]
        elif trend_kind == TREND_HMA:
            S[_TLIM * _B + j] = 0.0
            S[_SLIM * _B + j] = 0.0
        else:
            S[_TLIM * _B + j] = -np.inf
            S[_SLIM * _B + j] = np.inf
        mode = fixed_mode
        if mode < 0:
            mode = int(values[Param.entry_mode, digit[Param.entry_mode]])
        S[_REVL * _B + j] = 1.0 if mode >= 1 else 0.0
        S[_REVS * _B + j] = 1.0 if mode >= 2 else 0.0

        S[_Q * _B + j] = 0.0
        S[_CASH * _B + j] = capital
        S[_STOP * _B + j] = 0.0
        S[_EXT * _B + j] = 0.0
        S[_TL * _B + j] = -np.inf
        S[_TS * _B + j] = np.inf
        S[_REF * _B + j] = 0.0
        S[_COST * _B + j] = 0.0
        S[_XT * _B + j] = -1e18
        S[_EEXT * _B + j] = 0.0
        S[_EN * _B + j] = 0.0
        S[_SEG0 * _B + j] = capital
        S[_PREV * _B + j] = capital
        S[_PEAK * _B + j] = capital
        S[_XR * _B + j] = 1.0
        for r in (_MDD, _MDDP, _SR, _SR2, _SD2, _NTR, _NW, _GP, _GL):
            S[r * _B + j] = 0.0


@njit(cache=True, error_model="numpy")
def _close_segment_nb(S, ct, n_seg, oos, out, first, n, bpy):
    """Finalise one segment (IS or OOS) of every lane into `out`; reset for the next one."""
    for j in range(_B):
        i = first + j
        q = S[_Q * _B + j]
        eq = S[_PREV * _B + j]
        ntr = S[_NTR * _B + j]
        nw = S[_NW * _B + j]
        gp = S[_GP * _B + j]
        gl = S[_GL * _B + j]
        if q != 0.0:  # open position: marked to market, counted as a trade of this segment
            tp = q * (ct - S[_REF * _B + j]) - S[_COST * _B + j]
            ntr += 1.0
            if tp > 0.0:
                nw += 1.0
                gp += tp
            elif tp < 0.0:
                gl -= tp
        if i < n:
            k = 1 if oos else 0
            eq0 = S[_SEG0 * _B + j]
            sr = S[_SR * _B + j]
            out[Metric.is_pnl + k, i] = eq - eq0
            out[Metric.is_max_dd + k, i] = S[_MDD * _B + j]
            out[Metric.is_max_dd_pct + k, i] = S[_MDDP * _B + j]
            out[Metric.is_trades + k, i] = ntr
            out[Metric.is_win_rate + k, i] = win_rate_nb(nw, ntr)
            out[Metric.is_profit_factor + k, i] = profit_factor_nb(gp, gl, ntr)
            out[Metric.is_sharpe + k, i] = sharpe_nb(sr, S[_SR2 * _B + j], n_seg, bpy)
            out[Metric.is_sortino + k, i] = sortino_nb(sr, S[_SD2 * _B + j], n_seg, bpy)
            out[Metric.is_cagr + k, i] = cagr_nb(eq0, eq, n_seg, bpy)
        S[_SEG0 * _B + j] = eq
        S[_PEAK * _B + j] = eq
        S[_XR * _B + j] = 1.0
        S[_REF * _B + j] = ct
        S[_COST * _B + j] = 0.0
        for r in (_MDD, _MDDP, _SR, _SR2, _SD2, _NTR, _NW, _GP, _GL):
            S[r * _B + j] = 0.0


@njit(cache=True, error_model="numpy")
def _record_nb(S, t, first, n, comm, crate, rec, trades, n_trades, max_trades):
    """Append the round trips closed at bar `t` to `trades`; remember new entries."""
    for j in range(_B):
        i = first + j
        if i >= n:
            continue
        if S[_CL * _B + j] != 0.0:
            k = n_trades[i]
            if k < max_trades:
                qold = S[_QOLD * _B + j]
                px = S[_CLP * _B + j]
                tr = trades[i * max_trades + k]
                tr.combo = i
                tr.direction = 1 if qold > 0.0 else -1
                tr.entry_bar = int(rec[0 * _B + j])
                tr.exit_bar = t
                tr.entry_price = rec[1 * _B + j]
                tr.exit_price = px
                tr.shares = abs(qold)
                exit_cost = abs(qold) * (comm + crate * px)
                tr.pnl = qold * (px - rec[1 * _B + j]) - rec[2 * _B + j] - exit_cost
                tr.reason = 0 if S[_EX * _B + j] != 0.0 else 1
            n_trades[i] = k + 1
        if S[_EN * _B + j] != 0.0:
            rec[0 * _B + j] = t
            rec[1 * _B + j] = S[_OPX * _B + j]
            rec[2 * _B + j] = S[_SH * _B + j] * (comm + crate * S[_OPX * _B + j])


_VARIANT_NAMES: set[str] = set()


def _jit_variant(name: str, fn: Callable[..., Any], parallel: bool = False) -> Callable[..., Any]:
    """Compile the factory-made `fn` under its own qualified name `name`.

    numba names the compiled symbols (and cache files) after the qualified name and a
    per-process counter: variants of one factory compiled by different processes could share a
    symbol, and a process loading both from the disk cache would run one body for both.
    """
    if name in _VARIANT_NAMES:
        raise ValueError(f"kernel variant {name} defined twice")
    _VARIANT_NAMES.add(name)
    fn.__name__ = fn.__qualname__ = name
    return njit(cache=True, parallel=parallel, error_model="numpy")(fn)


def _make_bar_loop(
    name: str, short: bool, trend: bool, record: bool, uniform: bool
) -> Callable[..., Any]:
    """Return the bar loop of one block; `uniform`: every lane reads the same indicator columns."""

    def bar_loop_nb(S, V, rows, rec, bs, bq, first, n, bars, ind, consts, block_id, outputs):
        """Simulate the block's lanes bar by bar, closing the IS and OOS segments into `out`."""
        open_, high, low, close = bars.open_, bars.high, bars.low, bars.close
        atr, bbw, trd = ind.atr, ind.bbw, ind.trd
        out, trades, n_trades = outputs.out, outputs.trades, outputs.n_trades
        max_trades = trades.shape[0] // max(n, 1)
        t_first, t_bound, t_last = consts.t_first, consts.t_bound, consts.t_last
        frac, comm, slip = consts.position_fraction, consts.commission, consts.slippage
        crate, srate = consts.commission_rate, consts.slippage_rate
        bpy = consts.bars_per_year
        n_blocks = bs.shape[0] // _B
        invt0, floor0, scal0 = S[_INVT * _B], S[_FLOOR * _B], S[_SCAL * _B]
        r_atr, r_atrs, r_atrb = rows[_IX_ATR * _B], rows[_IX_ATRS * _B], rows[_IX_ATRB * _B]
        r_bbw, r_trd = rows[_IX_BBW * _B], rows[_IX_TRD * _B]
        v_atr = v_tight = v_atrb = v_atrs = v_trd = 0.0
        for t in range(t_first - 1, t_last + 1):
            # -- this bar's ATRs and stop tightening: one value, or one per lane
            if uniform:
                v_atr = atr[t, r_atr]
                rr = bbw[t, r_bbw] * invt0
                sc = rr if scal0 == 0.0 else (math.sqrt(rr) if scal0 == 1.0 else rr * rr)
                v_tight = max(floor0, sc) if rr < 1.0 else 1.0
                v_atrb = atr[t, r_atrb]
                if short:
                    v_atrs = atr[t, r_atrs]
                if trend:
                    v_trd = trd[t, r_trd]
            else:
                for j in range(_B):
                    V[_V_ATR * _B + j] = atr[t, rows[_IX_ATR * _B + j]]
                    V[_V_TIGHT * _B + j] = bbw[t, rows[_IX_BBW * _B + j]]
                    V[_V_ATRB * _B + j] = atr[t, rows[_IX_ATRB * _B + j]]
                    if short:
                        V[_V_ATRS * _B + j] = atr[t, rows[_IX_ATRS * _B + j]]
                    if trend:
                        V[_V_TRD * _B + j] = trd[t, rows[_IX_TRD * _B + j]]
                for j in range(_B):
                    rr = V[_V_TIGHT * _B + j] * S[_INVT * _B + j]
                    scal = S[_SCAL * _B + j]
                    sc = rr if scal == 0.0 else (math.sqrt(rr) if scal == 1.0 else rr * rr)
                    V[_V_TIGHT * _B + j] = max(S[_FLOOR * _B + j], sc) if rr < 1.0 else 1.0
            ot, ht, lt, ct = open_[t], high[t], low[t], close[t]

            # -- does an order of any lane fill on this bar? (on most bars none does)
            n_ev = 0
            for j in range(_B):
                q = S[_Q * _B + j]
                stop = S[_STOP * _B + j]
                hit = ((q > 0.0) & (lt <= stop)) | (lt <= S[_TL * _B + j])
                if short:
                    hit = hit | ((q < 0.0) & (ht >= stop)) | (ht >= S[_TS * _B + j])
                n_ev += 1 if hit else 0

            # -- fills against the orders placed at the previous close
            if n_ev > 0:
                for j in range(_B):
                    q = S[_Q * _B + j]
                    cash = S[_CASH * _B + j]
                    stop = S[_STOP * _B + j]
                    tl = S[_TL * _B + j]
                    islong = q > 0.0
                    ex = islong & (lt <= stop)
                    xraw = min(ot, stop)
                    xp = xraw - (slip + srate * xraw)
                    enl = (not ex) & (lt <= tl)
                    lraw = min(ot, tl)
                    lfill = lraw + (slip + srate * lraw)
                    if short:
                        ts = S[_TS * _B + j]
                        isshort = q < 0.0
                        exs = isshort & (ht >= stop)
                        xraw = xraw if islong else max(ot, stop)
                        xp = xp if islong else xraw + (slip + srate * xraw)
                        ex = ex | exs
                        enl = (not ex) & (lt <= tl)
                        ens = (not ex) & (not enl) & (ht >= ts)
                        sraw = max(ot, ts)
                        sfill = sraw - (slip + srate * sraw)
                        cl = ex | (enl & isshort) | (ens & islong)
                        en = enl | ens
                        clp = xp if ex else (lfill if enl else sfill)
                        oraw = lraw if enl else sraw
                        opx = lfill if enl else sfill
                    else:
                        cl = ex
                        en = enl
                        clp = xp
                        oraw = lraw
                        opx = lfill

                    # close the open position (stop or reversal)
                    qold = q
                    aq = abs(q)
                    clp = clp if cl else ct
                    xcost = aq * (comm + crate * clp)
                    tp = q * (clp - S[_REF * _B + j]) - S[_COST * _B + j] - xcost
                    cash = (cash + q * clp - xcost) if cl else cash
                    win = cl & (tp > 0.0)
                    loss = cl & (tp < 0.0)
                    S[_NTR * _B + j] += 1.0 if cl else 0.0
                    S[_NW * _B + j] += 1.0 if win else 0.0
                    S[_GP * _B + j] += tp if win else 0.0
                    S[_GL * _B + j] += -tp if loss else 0.0
                    q = 0.0 if cl else q

                    # open the new position, sized on equity
                    opx = opx if en else ct
                    sh = frac * cash / opx
                    if short:
                        nq = sh if enl else -sh
                        S[_EEXT * _B + j] = max(oraw, ct) if enl else min(oraw, ct)
                    else:
                        nq = sh
                        S[_EEXT * _B + j] = max(oraw, ct)
                    ecost = sh * (comm + crate * opx)
                    S[_CASH * _B + j] = (cash - nq * opx - ecost) if en else cash
                    S[_Q * _B + j] = nq if en else q
                    if en:
                        S[_REF * _B + j] = opx
                        S[_COST * _B + j] = ecost
                    if ex:
                        S[_XT * _B + j] = t
                    S[_EN * _B + j] = 1.0 if en else 0.0
                    if record:  # event details for the trade recorder
                        S[_CL * _B + j] = 1.0 if cl else 0.0
                        S[_EX * _B + j] = 1.0 if ex else 0.0
                        S[_QOLD * _B + j] = qold
                        S[_CLP * _B + j] = clp
                        S[_OPX * _B + j] = opx
                        S[_SH * _B + j] = sh
                if record:
                    _record_nb(S, t, first, n, comm, crate, rec, trades, n_trades, max_trades)

            # -- mark to market, per-bar metrics, trailing stop and orders for the next bar
            for j in range(_B):
                q = S[_Q * _B + j]
                en = (n_ev > 0) & (S[_EN * _B + j] != 0.0)  # EN is stale on bars without fills
                eq = S[_CASH * _B + j] + q * ct
                g = eq / S[_PREV * _B + j]
                r = g - 1.0
                S[_PREV * _B + j] = eq
                S[_RET * _B + j] = r
                S[_SR * _B + j] += r
                S[_SR2 * _B + j] += r * r
                dn = min(r, 0.0)
                S[_SD2 * _B + j] += dn * dn
                peak = S[_PEAK * _B + j]
                newpk = eq >= peak
                peak = eq if newpk else peak
                S[_PEAK * _B + j] = peak
                S[_MDD * _B + j] = max(S[_MDD * _B + j], peak - eq)
                xr = 1.0 if newpk else S[_XR * _B + j] * g
                S[_XR * _B + j] = xr
                S[_MDDP * _B + j] = max(S[_MDDP * _B + j], 1.0 - xr)

                atr_j = v_atr if uniform else V[_V_ATR * _B + j]
                tight = v_tight if uniform else V[_V_TIGHT * _B + j]
                capd = S[_MAXS * _B + j] * (v_atrb if uniform else V[_V_ATRB * _B + j])
                dl = min(atr_j * S[_MULT * _B + j] * tight, capd)
                stop = S[_STOP * _B + j]
                ext = S[_EXT * _B + j]
                eext = S[_EEXT * _B + j]
                if short:
                    atr_s_j = v_atrs if uniform else V[_V_ATRS * _B + j]
                    islong = q > 0.0
                    ext = eext if en else (max(ext, ht) if islong else min(ext, lt))
                    sl = ext - dl
                    sl = sl if en else max(stop, sl)
                    ds = min(atr_s_j * S[_MULTS * _B + j] * tight, capd)
                    ss = ext + ds
                    ss = ss if en else min(stop, ss)
                    stop = sl if islong else ss
                else:
                    ext = eext if en else max(ext, ht)
                    sl = ext - dl
                    stop = sl if en else max(stop, sl)
                S[_STOP * _B + j] = stop
                S[_EXT * _B + j] = ext

                armed = (q == 0.0) & (t - S[_XT * _B + j] >= S[_DELAY * _B + j])
                if short:
                    allow_l = armed | ((q < 0.0) & (S[_REVL * _B + j] > 0.5))
                    allow_s = armed | ((q > 0.0) & (S[_REVS * _B + j] > 0.5))
                    if trend:
                        trd_j = v_trd if uniform else V[_V_TRD * _B + j]
                        allow_l = allow_l & (trd_j > S[_TLIM * _B + j])
                        allow_s = allow_s & (trd_j < S[_SLIM * _B + j])
                    S[_TS * _B + j] = (ct + S[_BMULT * _B + j] * atr_s_j) if allow_s else np.inf
                else:
                    allow_l = armed
                    if trend:
                        trd_j = v_trd if uniform else V[_V_TRD * _B + j]
                        allow_l = allow_l & (trd_j > S[_TLIM * _B + j])
                S[_TL * _B + j] = (ct - S[_BMULT * _B + j] * atr_j) if allow_l else -np.inf

            if n_blocks > 0 and t >= t_first:
                b = block_id[t]
                if b >= 0:
                    for j in range(_B):
                        r = S[_RET * _B + j]
                        bs[b * _B + j] += r
                        bq[b * _B + j] += r * r
            if t == t_bound:
                _close_segment_nb(S, close[t], t_bound - t_first + 1, False, out, first, n, bpy)
        _close_segment_nb(S, close[t_last], t_last - t_bound, True, out, first, n, bpy)

    return _jit_variant(name, bar_loop_nb)


# Bar loops of every variant (`_u`: uniform lanes), module-level so that the block simulators
# reach them as globals. The recorder serves a few combinations: one general loop keeps its
# compile time down.
_loop_long_nb = _make_bar_loop("_loop_long_nb", False, False, False, False)
_loop_long_u_nb = _make_bar_loop("_loop_long_u_nb", False, False, False, True)
_loop_trend_nb = _make_bar_loop("_loop_trend_nb", False, True, False, False)
_loop_trend_u_nb = _make_bar_loop("_loop_trend_u_nb", False, True, False, True)
_loop_ls_nb = _make_bar_loop("_loop_ls_nb", True, True, False, False)
_loop_ls_u_nb = _make_bar_loop("_loop_ls_u_nb", True, True, False, True)
_loop_long_rec_nb = _make_bar_loop("_loop_long_rec_nb", False, False, True, False)
_loop_trend_rec_nb = _make_bar_loop("_loop_trend_rec_nb", False, True, True, False)
_loop_ls_rec_nb = _make_bar_loop("_loop_ls_rec_nb", True, True, True, False)


def _check_variant(short: bool, trend: bool) -> None:
    if short and not trend:
        raise ValueError("the long/short kernels always have a trend gate")


def _make_block(name: str, short: bool, trend: bool, record: bool) -> Callable[..., Any]:
    """Return a serial block simulator with the variant switches fixed at compile time."""
    _check_variant(short, trend)

    def block_nb(bi, bars, ind, tables, consts, combos, block_id, outputs):
        """Simulate lanes `bi * LANES ...` of `combos` over the phase and write their results."""
        n = combos.shape[0]
        first = bi * _B
        bsum, bsq = outputs.bsum, outputs.bsq
        n_blocks = bsum.shape[1]
        S = np.empty(_NROWS * _B)
        rows = np.empty(_N_IX * _B, np.int64)
        _decode_lanes_nb(S, rows, combos, first, tables, consts)
        # lanes sharing every indicator column and the tightening parameters (usual in grid
        # order) read one value per bar
        uniform = True
        for j in range(1, _B):
            for ix in range(_N_IX):
                uniform = uniform and rows[ix * _B + j] == rows[ix * _B]
            for row in (_INVT, _FLOOR, _SCAL):
                uniform = uniform and S[row * _B + j] == S[row * _B]
        V = np.zeros(_N_V * _B)
        bs = np.zeros(n_blocks * _B)
        bq = np.zeros(n_blocks * _B)
        rec = np.zeros(3 * _B)
        a = (S, V, rows, rec, bs, bq, first, n, bars, ind, consts, block_id, outputs)
        # `record`, `short`, `trend` are closure constants: numba prunes the other branches
        if record:
            if short:
                _loop_ls_rec_nb(*a)
            elif trend:
                _loop_trend_rec_nb(*a)
            else:
                _loop_long_rec_nb(*a)
        elif short:
            if uniform:
                _loop_ls_u_nb(*a)
            else:
                _loop_ls_nb(*a)
        elif trend:
            if uniform:
                _loop_trend_u_nb(*a)
            else:
                _loop_trend_nb(*a)
        elif uniform:
            _loop_long_u_nb(*a)
        else:
            _loop_long_nb(*a)
        for j in range(_B):
            i = first + j
            if i < n:
                for b in range(n_blocks):
                    bsum[i, b] = bs[b * _B + j]
                    bsq[i, b] = bq[b * _B + j]

    return _jit_variant(name, block_nb)


_block_long_nb = _make_block("_block_long_nb", False, False, False)
_block_trend_nb = _make_block("_block_trend_nb", False, True, False)
_block_ls_nb = _make_block("_block_ls_nb", True, True, False)
_block_long_rec_nb = _make_block("_block_long_rec_nb", False, False, True)
_block_trend_rec_nb = _make_block("_block_trend_rec_nb", False, True, True)
_block_ls_rec_nb = _make_block("_block_ls_rec_nb", True, True, True)


def _make_kernel(name: str, short: bool, trend: bool, record: bool) -> Callable[..., Any]:
    """Return the parallel entry point: `prange` over blocks of `LANES` combinations."""
    _check_variant(short, trend)

    def kernel_nb(bars, ind, tables, consts, combos, block_id, outputs):
        """Simulate `combos` over the phase into `outputs`, blocks of `LANES` in parallel."""
        n_lane_blocks = (combos.shape[0] + _B - 1) // _B
        for bi in prange(n_lane_blocks):
            a = (np.int64(bi), bars, ind, tables, consts, combos, block_id, outputs)
            # closure constants: numba prunes the other branches
            if record:
                if short:
                    _block_ls_rec_nb(*a)
                elif trend:
                    _block_trend_rec_nb(*a)
                else:
                    _block_long_rec_nb(*a)
            elif short:
                _block_ls_nb(*a)
            elif trend:
                _block_trend_nb(*a)
            else:
                _block_long_nb(*a)

    return _jit_variant(name, kernel_nb, parallel=True)


simulate_long_nb = _make_kernel("simulate_long_nb", False, False, False)
"""Long-only kernel without a trend gate (atr_d_l, atr_d_duals_l)."""
simulate_long_trend_nb = _make_kernel("simulate_long_trend_nb", False, True, False)
"""Long-only kernel gated by a trend series (atr_d_hma_l)."""
simulate_ls_nb = _make_kernel("simulate_ls_nb", True, True, False)
"""Long/short kernel with a trend gate (atr_d_ls, atr_d_duals_ls, atr_d_hma_ls)."""
trace_long_nb = _make_kernel("trace_long_nb", False, False, True)
"""`simulate_long_nb` that also records every closed round trip."""
trace_long_trend_nb = _make_kernel("trace_long_trend_nb", False, True, True)
"""`simulate_long_trend_nb` that also records every closed round trip."""
trace_ls_nb = _make_kernel("trace_ls_nb", True, True, True)
"""`simulate_ls_nb` that also records every closed round trip."""

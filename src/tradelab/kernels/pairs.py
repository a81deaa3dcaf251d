"""Kalman pairs strategy (seed 001) with backtrader's default broker, many parameter sets.

Notation:
    open_a, close_a, open_b, close_b  (n_bars,)   prices of leg A and leg B
    betas        (n_filters, n_bars)   filtered hedge ratio of each distinct (delta, R)
    z            (n_z, n_bars)         spread z-score of each distinct (filter, window);
                                       NaN where the strategy does not act (short buffer,
                                       zero spread deviation)
    frow, zrow   (n_sets,) int64       row of `betas` and of `z` each set reads
    params       (n_sets, N_PARAMS)    columns named by `PP` (PairParam)
    period_end   (n_bars,) bool        bar closes a return period (every bar for daily data)
    block_id     (n_bars,) int32       block of each bar's value return (-1: not counted);
                                       length 0 disables block sums
    metrics      (n_sets, N_METRICS)   columns named by `PM` (PairMetric)
    values       (n_bars,)             portfolio value at each close (record mode)
    fills        (max_fills,) FILL_DTYPE executed orders (record mode)

Per bar, as backtrader's BackBroker with default settings runs it:
1. Orders submitted at the previous bar are checked in submission order against a running
   copy of cash at their creation price (the previous close): an order after which that
   cash is negative is rejected (margin).
2. Accepted orders fill at this bar's open: cash -= size * price + commission, where the
   commission is |size| * price * `commission` (`setcommission(commission=...)`: a fraction
   of traded value). An opening fill that would leave cash negative is not executed.
3. value = cash + pos_a * close_a + pos_b * close_b; drawdown (percent and money) from the
   running peak; a period return value / previous period value - 1 at each period end.
4. The strategy acts on the close: flat and z < -entry_z buys |int(beta * stake)| A and
   sells `stake` B (state +1); z > entry_z does the opposite unless long_only (state -1);
   in a trade, |z| < exit_z or |z| > stop_z submits orders closing both legs (state 0).
A closed trade is a leg going back to flat; it is won when its P&L net of both
commissions is >= 0. Sharpe = mean / std (population) of the period returns, NaN when the
deviation is 0, not annualised (backtrader's SharpeRatio with timeframe=Days).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

__all__ = [
    "FILL_DTYPE",
    "N_METRICS",
    "N_PARAMS",
    "PM",
    "PP",
    "PairMetric",
    "PairParam",
    "pairs_batch_nb",
    "pairs_run_nb",
]


class PairParam(NamedTuple):
    entry_z: int = 0
    exit_z: int = 1
    stop_z: int = 2
    stake: int = 3
    long_only: int = 4
    commission: int = 5
    initial_cash: int = 6


class PairMetric(NamedTuple):
    final_value: int = 0
    total_return: int = 1
    sharpe: int = 2
    max_dd_pct: int = 3
    max_dd_abs: int = 4
    total_trades: int = 5
    won_trades: int = 6
    n_periods: int = 7
    rejected_orders: int = 8


PP = PairParam()
PM = PairMetric()
N_PARAMS = len(PP)
N_METRICS = len(PM)

FILL_DTYPE = np.dtype(
    [
        ("bar", np.int64),
        ("leg", np.int64),
        ("size", np.float64),
        ("price", np.float64),
        ("commission", np.float64),
    ],
    align=True,
)


@njit(cache=True, error_model="numpy")
def _split_nb(position, size):
    """Split an order into the part closing `position` and the part opening a new one."""
    if position == 0.0 or (position > 0.0) == (size > 0.0):
        return 0.0, size
    if abs(size) <= abs(position):
        return size, 0.0
    return -position, size + position


@njit(cache=True, error_model="numpy")
def _simulate_nb(
    open_a,
    close_a,
    open_b,
    close_b,
    beta,
    z,
    p,
    period_end,
    block_id,
    ret_sum,
    ret_sq,
    out,
    record,
    values,
    fills,
):
    n_bars = close_a.shape[0]
    entry_z = p[0]
    exit_z = p[1]
    stop_z = p[2]
    stake = p[3]
    long_only = p[4] != 0.0
    comm = p[5]
    cash0 = p[6]
    with_blocks = block_id.shape[0] > 0

    cash = cash0
    pos = np.zeros(2)
    pos_price = np.zeros(2)
    trade_pnl = np.zeros(2)
    trade_comm = np.zeros(2)
    pend_leg = np.zeros(2, dtype=np.int64)
    pend_size = np.zeros(2)
    pend_price = np.zeros(2)
    accepted = np.zeros(2, dtype=np.bool_)
    n_pend = 0
    state = 0
    n_fills = 0
    closed_trades = 0
    won = 0
    rejected = 0
    peak = -np.inf
    max_dd_pct = 0.0
    max_dd_abs = 0.0
    period_start = cash0
    prev_value = cash0
    n_ret = 0
    ret_sum1 = 0.0
    ret_sum2 = 0.0

    for t in range(n_bars):
        # 1. margin check of the orders submitted at t - 1, at their creation price
        if n_pend > 0:
            c = cash
            shadow0 = pos[0]
            shadow1 = pos[1]
            for k in range(n_pend):
                size = pend_size[k]
                px = pend_price[k]
                held = shadow0 if pend_leg[k] == 0 else shadow1
                closed, opened = _split_nb(held, size)
                if closed != 0.0:
                    c += -closed * px
                    c -= abs(closed) * px * comm
                if opened != 0.0:
                    c -= opened * px
                    c -= abs(opened) * px * comm
                if pend_leg[k] == 0:
                    shadow0 += size
                else:
                    shadow1 += size
                accepted[k] = c >= 0.0
                if not accepted[k]:
                    rejected += 1
            # 2. fills at this bar's open
            for k in range(n_pend):
                if not accepted[k]:
                    continue
                leg = pend_leg[k]
                size = pend_size[k]
                px = open_a[t] if leg == 0 else open_b[t]
                held = pos[leg]
                closed, opened = _split_nb(held, size)
                fee = 0.0
                if closed != 0.0:
                    entry = pos_price[leg]
                    pnl = -closed * (px - entry)
                    cash += -closed * entry + pnl
                    close_fee = abs(closed) * px * comm
                    cash -= close_fee
                    fee += close_fee
                    trade_pnl[leg] += pnl
                    trade_comm[leg] += close_fee
                    pos[leg] = held + closed
                    if pos[leg] == 0.0:
                        pos_price[leg] = 0.0
                        closed_trades += 1
                        if trade_pnl[leg] - trade_comm[leg] >= 0.0:
                            won += 1
                if opened != 0.0:
                    open_fee = abs(opened) * px * comm
                    after = cash - opened * px - open_fee
                    if after < 0.0:
                        rejected += 1
                        opened = 0.0
                    else:
                        cash = after
                        fee += open_fee
                        if pos[leg] == 0.0:
                            pos_price[leg] = px
                            trade_pnl[leg] = 0.0
                            trade_comm[leg] = open_fee
                        else:
                            pos_price[leg] = (pos[leg] * pos_price[leg] + opened * px) / (
                                pos[leg] + opened
                            )
                            trade_comm[leg] += open_fee
                        pos[leg] += opened
                executed = closed + opened
                if record and executed != 0.0 and n_fills < fills.shape[0]:
                    rec = fills[n_fills]
                    rec["bar"] = t
                    rec["leg"] = leg
                    rec["size"] = executed
                    rec["price"] = px
                    rec["commission"] = fee
                if executed != 0.0:
                    n_fills += 1
            n_pend = 0

        # 3. value, drawdown, returns
        value = cash + (pos[0] * close_a[t] + pos[1] * close_b[t])
        if value > peak:
            peak = value
        money_down = peak - value
        if money_down > 0.0:
            dd_pct = 100.0 * money_down / peak
            if money_down > max_dd_abs:
                max_dd_abs = money_down
            if dd_pct > max_dd_pct:
                max_dd_pct = dd_pct
        if period_end[t]:
            ret = value / period_start - 1.0
            period_start = value
            n_ret += 1
            ret_sum1 += ret
            ret_sum2 += ret * ret
        if with_blocks:
            b = block_id[t]
            if b >= 0:
                bar_ret = value / prev_value - 1.0
                ret_sum[b] += bar_ret
                ret_sq[b] += bar_ret * bar_ret
        prev_value = value
        if record:
            values[t] = value

        # 4. the strategy at the close
        zt = z[t]
        if np.isnan(zt):
            continue
        if state == 0 and pos[0] == 0.0 and pos[1] == 0.0:
            side = 0
            if zt < -entry_z:
                side = 1
            elif not long_only and zt > entry_z:
                side = -1
            if side != 0:
                qty_a = abs(np.trunc(beta[t] * stake))
                if qty_a != 0.0:
                    pend_leg[n_pend] = 0
                    pend_size[n_pend] = side * qty_a
                    pend_price[n_pend] = close_a[t]
                    n_pend += 1
                if stake != 0.0:
                    pend_leg[n_pend] = 1
                    pend_size[n_pend] = -side * stake
                    pend_price[n_pend] = close_b[t]
                    n_pend += 1
                state = side
        elif state != 0 and (abs(zt) < exit_z or abs(zt) > stop_z):
            if pos[0] != 0.0:
                pend_leg[n_pend] = 0
                pend_size[n_pend] = -pos[0]
                pend_price[n_pend] = close_a[t]
                n_pend += 1
            if pos[1] != 0.0:
                pend_leg[n_pend] = 1
                pend_size[n_pend] = -pos[1]
                pend_price[n_pend] = close_b[t]
                n_pend += 1
            state = 0

    final = prev_value if n_bars > 0 else cash0
    out[PM.final_value] = final
    out[PM.total_return] = final / cash0 - 1.0
    mean = ret_sum1 / n_ret if n_ret > 0 else 0.0
    var = ret_sum2 / n_ret - mean * mean if n_ret > 0 else 0.0
    out[PM.sharpe] = mean / np.sqrt(var) if var > 0.0 else np.nan
    out[PM.max_dd_pct] = max_dd_pct
    out[PM.max_dd_abs] = max_dd_abs
    out[PM.total_trades] = closed_trades
    out[PM.won_trades] = won
    out[PM.n_periods] = n_ret
    out[PM.rejected_orders] = rejected
    return n_fills


@njit(cache=True, error_model="numpy", parallel=True)
def pairs_batch_nb(
    open_a,
    close_a,
    open_b,
    close_b,
    betas,
    z,
    frow,
    zrow,
    params,
    period_end,
    block_id,
    metrics,
    block_ret_sum,
    block_ret_sq,
):
    """Backtest every parameter set (in parallel); fill `metrics` and the block sums."""
    n_sets = params.shape[0]
    no_values = np.empty(0)
    no_fills = np.empty(0, dtype=FILL_DTYPE)
    for s in prange(n_sets):
        _simulate_nb(
            open_a,
            close_a,
            open_b,
            close_b,
            betas[frow[s]],
            z[zrow[s]],
            params[s],
            period_end,
            block_id,
            block_ret_sum[s],
            block_ret_sq[s],
            metrics[s],
            False,
            no_values,
            no_fills,
        )


@njit(cache=True, error_model="numpy")
def pairs_run_nb(open_a, close_a, open_b, close_b, beta, z, p, period_end, metrics, values, fills):
    """Backtest one parameter set, recording values and fills; return the number of fills."""
    no_blocks = np.empty(0, dtype=np.int32)
    none = np.empty(0)
    return _simulate_nb(
        open_a,
        close_a,
        open_b,
        close_b,
        beta,
        z,
        p,
        period_end,
        no_blocks,
        none,
        none,
        metrics,
        True,
        values,
        fills,
    )

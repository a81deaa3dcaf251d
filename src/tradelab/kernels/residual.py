"""Residual mean-reversion strategy (seed 000): many parameter sets over one symbol's bars.

Notation:
    close          (n_bars,)               closing prices; signals and fills use the same close
    z              (n_filters, n_bars)     residual z-score of each distinct (q, r) filter
    filt           (n_sets,) int64         row of `z` each parameter set reads
    params         (n_sets, N_PARAMS)      columns named by `RP` (ResidualParam)
    metrics        (n_sets, N_METRICS)     columns named by `RM` (ResidualMetric)
    block_id       (n_bars,) int32         block of each bar's equity return (-1: not counted);
                                           length 0 disables block sums
    block_ret_sum  (n_sets, n_blocks)      sum of per-bar equity returns in each block
    block_ret_sq   (n_sets, n_blocks)      sum of their squares
    equity         (n_bars,)               mark-to-market equity at each close (record mode)
    trades         (max_trades,) TRADE_DTYPE closed trades (record mode)

Per bar t >= warmup: mark the position to the close; if long (short), exit on stop loss
(return < -stop), take profit (return >= take), trailing stop once the return exceeds
`trail_activation` (close <= peak * (1 - trail); short: >= trough * (1 + trail)), or mean
reversion (z > -z_exit; short: z < z_exit) while profitable; then, if flat, enter long when
z < -z_entry or short when z > z_entry with capital * position_size of notional. An open
position is closed at the last close. Each fill pays `shares * (cost_per_share + price *
cost_rate)` (commission and slippage, $ a share and a fraction of the traded value; seed 000
has none: both 0 give its numbers bit for bit); a trade's `pnl` and `pnl_pct` are net of both
fills' costs. Sharpe = mean / (std + 1e-10) * sqrt(bars_per_year)
over the equity returns, starting from the initial capital (plus one zero return when a
position was closed at the end, as the seed computes it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

__all__ = [
    "ER",
    "N_METRICS",
    "N_PARAMS",
    "RM",
    "RP",
    "TRADE_DTYPE",
    "ExitReason",
    "ResidualMetric",
    "ResidualParam",
    "residual_batch_nb",
    "residual_run_nb",
]


class ResidualParam(NamedTuple):
    z_entry: int = 0
    z_exit: int = 1
    stop_loss: int = 2
    take_profit: int = 3
    trailing_stop: int = 4
    position_size: int = 5


class ResidualMetric(NamedTuple):
    total_return: int = 0
    sharpe: int = 1
    max_drawdown: int = 2
    win_rate: int = 3
    profit_factor: int = 4
    num_trades: int = 5
    avg_trade: int = 6
    final_equity: int = 7


class ExitReason(NamedTuple):
    stop_loss: int = 0
    take_profit: int = 1
    trailing_stop: int = 2
    mean_reversion: int = 3
    end_of_data: int = 4


RP = ResidualParam()
RM = ResidualMetric()
ER = ExitReason()
N_PARAMS = len(RP)
N_METRICS = len(RM)

TRADE_DTYPE = np.dtype(
    [
        ("entry_bar", np.int64),
        ("exit_bar", np.int64),
        ("side", np.int64),
        ("shares", np.float64),
        ("entry_price", np.float64),
        ("exit_price", np.float64),
        ("pnl", np.float64),
        ("pnl_pct", np.float64),
        ("reason", np.int64),
    ],
    align=True,
)


@njit(cache=True, error_model="numpy")
def _simulate_nb(
    close,
    z,
    p,
    initial_capital,
    warmup,
    trail_activation,
    bars_per_year,
    cost_rate,
    cost_per_share,
    block_id,
    ret_sum,
    ret_sq,
    out,
    record,
    equity,
    trades,
):
    n_bars = close.shape[0]
    z_entry = p[0]
    z_exit = p[1]
    stop_loss = p[2]
    take_profit = p[3]
    trailing = p[4]
    size = p[5]
    with_blocks = block_id.shape[0] > 0

    capital = initial_capital
    position = 0.0
    entry_price = 0.0
    entry_bar = 0
    entry_fee = 0.0
    extreme = 0.0  # highest close since a long entry, lowest since a short entry
    prev_equity = initial_capital
    peak = initial_capital
    max_dd = 0.0
    n_ret = 0
    ret_sum1 = 0.0
    ret_sum2 = 0.0
    n_trades = 0
    n_wins = 0
    n_losers = 0
    gross_profit = 0.0
    loss_sum = 0.0
    pct_sum = 0.0

    if record:
        for t in range(min(warmup, n_bars)):
            equity[t] = initial_capital

    for t in range(warmup, n_bars):
        price = close[t]
        zt = z[t]
        value = capital + position * (price - entry_price) if position != 0.0 else capital
        # flat bars have a zero return and no new drawdown: skip the divisions
        ret = (value - prev_equity) / prev_equity if value != prev_equity else 0.0
        prev_equity = value
        n_ret += 1
        ret_sum1 += ret
        ret_sum2 += ret * ret
        if value > peak:
            peak = value
        elif value < peak:
            dd = (peak - value) / (peak + 1e-10)
            if dd > max_dd:
                max_dd = dd
        if with_blocks:
            b = block_id[t]
            if b >= 0:
                ret_sum[b] += ret
                ret_sq[b] += ret * ret
        if record:
            equity[t] = value

        if position != 0.0:
            if position > 0.0:
                pnl_pct = (price - entry_price) / entry_price
                extreme = max(extreme, price)
            else:
                pnl_pct = (entry_price - price) / entry_price
                extreme = min(extreme, price) if extreme > 0.0 else price
            reason = -1
            if pnl_pct < -stop_loss:
                reason = ER.stop_loss
            elif pnl_pct >= take_profit:
                reason = ER.take_profit
            elif pnl_pct > trail_activation:
                if position > 0.0:
                    if price <= extreme * (1.0 - trailing):
                        reason = ER.trailing_stop
                elif price >= extreme * (1.0 + trailing):
                    reason = ER.trailing_stop
            reverted = (position > 0.0 and zt > -z_exit) or (position < 0.0 and zt < z_exit)
            if reason < 0 and reverted and pnl_pct > 0.0:
                reason = ER.mean_reversion
            if reason >= 0:
                exit_fee = abs(position) * (cost_per_share + price * cost_rate)
                capital += position * (price - entry_price) - exit_fee
                pnl = position * (price - entry_price) - entry_fee - exit_fee
                pnl_pct -= (entry_fee + exit_fee) / (abs(position) * entry_price)
                if record and n_trades < trades.shape[0]:
                    rec = trades[n_trades]
                    rec["entry_bar"] = entry_bar
                    rec["exit_bar"] = t
                    rec["side"] = 1 if position > 0.0 else -1
                    rec["shares"] = abs(position)
                    rec["entry_price"] = entry_price
                    rec["exit_price"] = price
                    rec["pnl"] = pnl
                    rec["pnl_pct"] = pnl_pct
                    rec["reason"] = reason
                n_trades += 1
                pct_sum += pnl_pct
                if pnl > 0.0:
                    n_wins += 1
                    gross_profit += pnl
                else:
                    n_losers += 1
                    loss_sum += pnl
                position = 0.0
                extreme = 0.0

        if position == 0.0:
            go_long = zt < -z_entry
            go_short = zt > z_entry
            if go_long or go_short:
                shares = capital * size / price
                position = shares if go_long else -shares
                entry_fee = shares * (cost_per_share + price * cost_rate)
                capital -= entry_fee
                entry_price = price
                entry_bar = t
                extreme = price

    if position != 0.0:
        price = close[n_bars - 1]
        exit_fee = abs(position) * (cost_per_share + price * cost_rate)
        capital += position * (price - entry_price) - exit_fee
        pnl = position * (price - entry_price) - entry_fee - exit_fee
        side = 1.0 if position > 0.0 else -1.0
        pnl_pct = (price - entry_price) / entry_price * side
        pnl_pct -= (entry_fee + exit_fee) / (abs(position) * entry_price)
        if record and n_trades < trades.shape[0]:
            rec = trades[n_trades]
            rec["entry_bar"] = entry_bar
            rec["exit_bar"] = n_bars - 1
            rec["side"] = int(side)
            rec["shares"] = abs(position)
            rec["entry_price"] = entry_price
            rec["exit_price"] = price
            rec["pnl"] = pnl
            rec["pnl_pct"] = pnl_pct
            rec["reason"] = ER.end_of_data
        n_trades += 1
        pct_sum += pnl_pct
        if pnl > 0.0:
            n_wins += 1
            gross_profit += pnl
        else:
            n_losers += 1
            loss_sum += pnl
        # the seed appends the closing capital: one more (zero) return
        ret = (capital - prev_equity) / prev_equity
        n_ret += 1
        ret_sum1 += ret
        ret_sum2 += ret * ret
        if capital > peak:
            peak = capital
        dd = (peak - capital) / (peak + 1e-10)
        if dd > max_dd:
            max_dd = dd

    out[RM.total_return] = (capital - initial_capital) / initial_capital
    if n_ret > 0:
        mean = ret_sum1 / n_ret
        std = np.sqrt(max(ret_sum2 / n_ret - mean * mean, 0.0))
        out[RM.sharpe] = mean / (std + 1e-10) * np.sqrt(bars_per_year)
    else:
        out[RM.sharpe] = 0.0
    out[RM.max_drawdown] = max_dd
    out[RM.num_trades] = n_trades
    out[RM.final_equity] = capital
    if n_trades > 0:
        gross_loss = abs(loss_sum) if n_losers > 0 else 1.0
        out[RM.win_rate] = n_wins / n_trades
        out[RM.profit_factor] = gross_profit / gross_loss if gross_loss > 0.0 else 0.0
        out[RM.avg_trade] = pct_sum / n_trades
    else:
        out[RM.win_rate] = 0.0
        out[RM.profit_factor] = 0.0
        out[RM.avg_trade] = 0.0
    return n_trades


@njit(cache=True, error_model="numpy", parallel=True)
def residual_batch_nb(
    close,
    z,
    filt,
    params,
    initial_capital,
    warmup,
    trail_activation,
    bars_per_year,
    cost_rate,
    cost_per_share,
    block_id,
    metrics,
    block_ret_sum,
    block_ret_sq,
):
    """Backtest every parameter set (in parallel); fill `metrics` and the block sums."""
    n_sets = params.shape[0]
    no_equity = np.empty(0)
    no_trades = np.empty(0, dtype=TRADE_DTYPE)
    for s in prange(n_sets):
        _simulate_nb(
            close,
            z[filt[s]],
            params[s],
            initial_capital,
            warmup,
            trail_activation,
            bars_per_year,
            cost_rate,
            cost_per_share,
            block_id,
            block_ret_sum[s],
            block_ret_sq[s],
            metrics[s],
            False,
            no_equity,
            no_trades,
        )


@njit(cache=True, error_model="numpy")
def residual_run_nb(
    close,
    z,
    p,
    initial_capital,
    warmup,
    trail_activation,
    bars_per_year,
    cost_rate,
    cost_per_share,
    metrics,
    equity,
    trades,
):
    """Backtest one parameter set, recording its equity curve and trades; return the trade count.

    `trades` keeps the first `len(trades)` trades; the count covers all of them.
    """
    no_blocks = np.empty(0, dtype=np.int32)
    none = np.empty(0)
    return _simulate_nb(
        close,
        z,
        p,
        initial_capital,
        warmup,
        trail_activation,
        bars_per_year,
        cost_rate,
        cost_per_share,
        no_blocks,
        none,
        none,
        metrics,
        True,
        equity,
        trades,
    )

"""Slow references for the kernels, written from the seeds: parity tests and benchmarks.

`seed_residual_backtest` follows seed 000's `run_aggressive_backtest` step by step in Python;
`run_backtrader` runs seed 001's `KalmanPairsTrading` (one pair) through backtrader with the
seed's broker settings and analyzers. backtrader (a dev dependency) is imported on first use.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["run_backtrader", "seed_pairs_strategy", "seed_residual_backtest"]


def seed_residual_backtest(
    prices: np.ndarray,
    residual_z: np.ndarray,
    cfg: dict[str, float],
    *,
    initial_capital: float = 100_000.0,
    bars_per_year: float = 252 * 78,
) -> dict[str, object]:
    """Seed 000's loop: fills at the signal bar's close, one position at a time."""
    n = len(prices)
    capital, position, entry_price, max_price = initial_capital, 0.0, 0.0, 0.0
    trades: list[dict[str, float | str]] = []
    equity = [capital]
    for i in range(60, n):
        price, z = prices[i], residual_z[i]
        equity.append(capital + position * (price - entry_price) if position != 0 else capital)
        if position != 0:
            if position > 0:
                pnl_pct = (price - entry_price) / entry_price
                max_price = max(max_price, price)
            else:
                pnl_pct = (entry_price - price) / entry_price
                max_price = min(max_price, price) if max_price > 0 else price
            reason = ""
            if pnl_pct < -cfg["stop_loss_pct"]:
                reason = "stop_loss"
            elif pnl_pct >= cfg["take_profit_pct"]:
                reason = "take_profit"
            elif pnl_pct > 0.02:
                if position > 0 and price <= max_price * (1 - cfg["trailing_stop_pct"]):
                    reason = "trailing_stop"
                if position < 0 and price >= max_price * (1 + cfg["trailing_stop_pct"]):
                    reason = "trailing_stop"
            if not reason:
                back = (position > 0 and z > -cfg["residual_z_exit"]) or (
                    position < 0 and z < cfg["residual_z_exit"]
                )
                if back and pnl_pct > 0:
                    reason = "mean_reversion"
            if reason:
                pnl = position * (price - entry_price)
                capital += pnl
                trades.append({"pnl": pnl, "pnl_pct": pnl_pct, "reason": reason, "exit": i})
                position, max_price = 0.0, 0.0
        if position == 0:
            go_long = z < -cfg["residual_z_entry"]
            go_short = z > cfg["residual_z_entry"]
            if go_long or go_short:
                shares = capital * cfg["position_size_pct"] / price
                position = shares if go_long else -shares
                entry_price, max_price = price, price
    if position != 0:
        final = prices[-1]
        pnl = position * (final - entry_price)
        pnl_pct = (final - entry_price) / entry_price * np.sign(position)
        capital += pnl
        trades.append({"pnl": pnl, "pnl_pct": pnl_pct, "reason": "end_of_data", "exit": n - 1})
        equity.append(capital)
    eq = np.array(equity)
    returns = np.diff(eq) / eq[:-1]
    sharpe = (
        np.mean(returns) / (np.std(returns) + 1e-10) * np.sqrt(bars_per_year)
        if len(eq) > 1
        else 0.0
    )
    peak = np.maximum.accumulate(eq)
    max_dd = float(np.max((peak - eq) / (peak + 1e-10)))
    if trades:
        winners = [t for t in trades if t["pnl"] > 0]
        losers = [t for t in trades if t["pnl"] <= 0]
        gross_profit = sum(t["pnl"] for t in winners) if winners else 0
        gross_loss = abs(sum(t["pnl"] for t in losers)) if losers else 1
        win_rate = len(winners) / len(trades)
        profit_factor = gross_profit / gross_loss if gross_loss > 0 else 0
        avg = float(np.mean([t["pnl_pct"] for t in trades]))
    else:
        win_rate = profit_factor = avg = 0.0
    return {
        "total_return": (capital - initial_capital) / initial_capital,
        "sharpe": float(sharpe),
        "max_drawdown": max_dd,
        "win_rate": win_rate,
        "profit_factor": profit_factor,
        "num_trades": len(trades),
        "avg_trade": avg,
        "final_equity": capital,
        "equity": eq,
        "trades": trades,
    }


@cache
def seed_pairs_strategy() -> Any:
    """Return seed 001's KalmanPairsTrading for one pair as a backtrader strategy class."""
    import backtrader as bt

    class SeedPairs(bt.Strategy):
        """Seed 001's KalmanPairsTrading for one pair, recording executed fills."""

        params = dict(  # noqa: RUF012 - backtrader's declaration style
            window=60,
            entry_z=2.5,
            exit_z=0.5,
            stop_z=4.0,
            stake=50,
            long_only=False,
            delta=1e-5,
            R=0.001,
            hedge_ratio=1.0,
        )

        def __init__(self) -> None:
            self.a, self.b = self.datas
            self.beta, self.P = self.p.hedge_ratio, 1.0
            self.spreads: list[float] = []
            self.state = 0
            self.fills: list[tuple[int, int, float, float, float]] = []

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                leg = 0 if order.data is self.a else 1
                ex = order.executed
                self.fills.append((len(self.a) - 1, leg, ex.size, ex.price, ex.comm))

        def next(self) -> None:
            price_a, price_b = self.a.close[0], self.b.close[0]
            q = self.p.delta / (1 - self.p.delta)
            p_prior = self.P + q
            if price_b != 0:
                s = p_prior * price_b**2 + self.p.R
                k = (p_prior * price_b) / s
                self.beta = self.beta + k * (price_a - self.beta * price_b)
                self.P = (1 - k * price_b) * p_prior
            spread = price_a - self.beta * price_b
            self.spreads.append(spread)
            if len(self.spreads) < self.p.window:
                return
            window = self.spreads[-self.p.window :]
            std = np.std(window)
            if std == 0:
                return
            z = (spread - np.mean(window)) / std
            pos_a = self.getposition(self.a).size
            pos_b = self.getposition(self.b).size
            if self.state == 0 and pos_a == 0 and pos_b == 0:
                qty_b = self.p.stake
                qty_a = int(self.beta * qty_b)
                if z < -self.p.entry_z:
                    self.buy(self.a, size=qty_a)
                    self.sell(self.b, size=qty_b)
                    self.state = 1
                elif not self.p.long_only and z > self.p.entry_z:
                    self.sell(self.a, size=qty_a)
                    self.buy(self.b, size=qty_b)
                    self.state = -1
            elif self.state != 0 and (abs(z) < self.p.exit_z or abs(z) > self.p.stop_z):
                if pos_a > 0:
                    self.sell(self.a, size=pos_a)
                elif pos_a < 0:
                    self.buy(self.a, size=abs(pos_a))
                if pos_b > 0:
                    self.sell(self.b, size=pos_b)
                elif pos_b < 0:
                    self.buy(self.b, size=abs(pos_b))
                self.state = 0

    return SeedPairs


def run_backtrader(
    times: pd.DatetimeIndex,
    legs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    cash: float = 100_000.0,
    commission: float = 0.0005,
    **params: object,
) -> dict[str, object]:
    """Run SeedPairs through cerebro as seed 001 does; return fills and analyzer results."""
    import backtrader as bt

    open_a, close_a, open_b, close_b = legs
    cerebro = bt.Cerebro(stdstats=False)
    naive = times.tz_localize(None) if times.tz is not None else times
    for name, o, c in (("A", open_a, close_a), ("B", open_b, close_b)):
        frame = pd.DataFrame(
            {
                "open": o,
                "high": np.maximum(o, c),
                "low": np.minimum(o, c),
                "close": c,
                "volume": 1e6,
            },
            index=naive,
        )
        cerebro.adddata(bt.feeds.PandasData(dataname=frame), name=name)
    cerebro.addstrategy(seed_pairs_strategy(), **params)
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=commission)
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="tr", timeframe=bt.TimeFrame.Days)
    cerebro.addanalyzer(
        bt.analyzers.SharpeRatio, _name="sharpe", timeframe=bt.TimeFrame.Days, riskfreerate=0.0
    )
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="dd")
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    strat = cerebro.run()[0]
    returns = pd.Series(strat.analyzers.tr.get_analysis())
    dd = strat.analyzers.dd.get_analysis()
    trades = strat.analyzers.trades.get_analysis()
    return {
        "value": cerebro.broker.getvalue(),
        "seed_final_value": float(((1 + returns).cumprod() * cash).iloc[-1]),
        "fills": strat.fills,
        "sharpe": strat.analyzers.sharpe.get_analysis()["sharperatio"],
        "max_dd_pct": dd["max"]["drawdown"],
        "max_dd_abs": dd["max"]["moneydown"],
        "closed": trades.get("total", {}).get("closed", 0),
        "won": trades.get("won", {}).get("total", 0),
        "n_days": len(returns),
    }

"""Reference simulator: one combination, bar by bar, in plain Python, written for clarity.

It is the specification the numba kernels are tested against (same rules, see
`tradelab.kernels.atr_d`): identical trade lists, PnL equal to 1e-9 relative. Indicators are
recomputed here with plain loops; arithmetic that decides a trade is written in the same order
as in the kernels so that both produce the same floating-point numbers. The summary metrics
are derived independently, from the equity curve and the trade list, with numpy.
Far too slow for sweeps: use it on a handful of combinations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from tradelab.kernels.enums import METRIC_NAMES, TRADE_DTYPE
from tradelab.wfo.data import WfoData
from tradelab.wfo.phases import Phase
from tradelab.wfo.strategy import StrategyKind, StrategySpec

__all__ = ["ReferenceRun", "simulate_reference"]


@dataclass(frozen=True)
class ReferenceRun:
    """Closed round trips (`TRADE_DTYPE`, data bar indices), equity and position per traded
    bar, metrics. A trade still open after the last bar is in `position`, not in `trades`."""

    trades: np.ndarray
    equity: np.ndarray  # (phase.n_traded + 1,): capital, then equity after each traded bar
    metrics: dict[str, float]
    # (phase.n_traded + 1,): 0, then the signed shares held after each traded bar (fills of
    # that bar included: held after bar t means entered at or before t, not exited by t)
    position: np.ndarray
    open_entry_bar: int | None = None  # data bar the trade still open after the last bar entered
    # the trailing stop's distance from the extreme in ATRs of the side's period, after each
    # traded bar a position was held (squeeze tightening and the max_stop_atr cap included;
    # NaN where the ATR is 0), and the side of each (+1 long, -1 short)
    stop_atr: np.ndarray = field(default_factory=lambda: np.zeros(0))
    stop_side: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))


# -- indicators, one value per bar, None before enough history -------------------------------


@dataclass(frozen=True)
class _Fee:
    """Commission of one side: $ per share plus a fraction of the traded value."""

    per_share: float
    rate: float

    def __call__(self, shares: float, price: float) -> float:
        return shares * (self.per_share + self.rate * price)


def _true_range(hi: list[float], lo: list[float], cl: list[float]) -> list[float]:
    out = [hi[0] - lo[0]]
    for t in range(1, len(cl)):
        out.append(max(hi[t], cl[t - 1]) - min(lo[t], cl[t - 1]))
    return out


def _average(x: list[float], n: int) -> list[float | None]:
    out: list[float | None] = []
    for t in range(len(x)):
        if t < n - 1:
            out.append(None)
            continue
        s = 0.0
        for i in range(t - n + 1, t + 1):
            s += x[i]
        out.append(s / n)
    return out


def _bb_width(c: list[float], n: int, dev: float) -> list[float | None]:
    out: list[float | None] = []
    for t in range(len(c)):
        if t < n - 1:
            out.append(None)
            continue
        s = 0.0
        for i in range(t - n + 1, t + 1):
            s += c[i]
        mean = s / n
        v = 0.0
        for i in range(t - n + 1, t + 1):
            d = c[i] - mean
            v += d * d
        out.append(2.0 * dev * math.sqrt(v / n) / mean)
    return out


def _ema_slope(c: list[float], n: int, bars: int) -> list[float | None]:
    alpha = 2.0 / (n + 1.0)
    ema = [c[0]]
    for t in range(1, len(c)):
        ema.append(ema[-1] + alpha * (c[t] - ema[-1]))
    return [
        None if t < bars else (ema[t] / ema[t - bars] - 1.0) * 100.0 / bars for t in range(len(c))
    ]


def _wma(x: list[float | None], n: int) -> list[float | None]:
    denom = n * (n + 1) / 2.0
    out: list[float | None] = []
    for t in range(len(x)):
        window = x[t - n + 1 : t + 1] if t >= n - 1 else []
        if t < n - 1 or any(v is None for v in window):
            out.append(None)
            continue
        s = 0.0
        w = 1.0
        for v in window:
            s += w * v
            w += 1.0
        out.append(s / denom)
    return out


def _hma(c: list[float], n: int) -> list[float | None]:
    a = _wma(c, max(n // 2, 1))
    b = _wma(c, n)
    raw = [None if x is None or y is None else 2.0 * x - y for x, y in zip(a, b)]
    return _wma(raw, max(int(math.sqrt(n)), 1))


# -- the simulation ---------------------------------------------------------------------------


def simulate_reference(
    data: WfoData, strategy: StrategySpec, params: Mapping[str, float], phase: Phase
) -> ReferenceRun:
    """Simulate one parameter set over one phase (missing parameters take their defaults)."""
    p = {**strategy.defaults(), **{k: float(v) for k, v in params.items()}}
    kind = strategy.kind
    has_short = kind in (
        StrategyKind.atr_d_ls,
        StrategyKind.atr_d_duals_ls,
        StrategyKind.atr_d_hma_ls,
    )
    hma = kind in (StrategyKind.atr_d_hma_l, StrategyKind.atr_d_hma_ls)
    ema = kind in (StrategyKind.atr_d_ls, StrategyKind.atr_d_duals_ls)
    mode = int(p["entry_mode"]) if ema else 0

    w0, end = phase.warmup_start, phase.oos_end + 1
    o = [float(v) for v in data.open[w0:end]]
    h = [float(v) for v in data.high[w0:end]]
    lo = [float(v) for v in data.low[w0:end]]
    c = [float(v) for v in data.close[w0:end]]
    src = [float(v) for v in (data.bb_source if strategy.dual else data.close)[w0:end]]

    tr = _true_range(h, lo, c)
    atr = _average(tr, int(p["atr_period"]))
    atr_base = _average(tr, int(p["baseline_period"]))
    bbw = _bb_width(src, int(p["bb_period"]), p["bb_dev"])
    if has_short:
        short_period = max(1, math.floor(p["atr_period"] * p["short_mult"] + 0.5))
        atr_short = _average(tr, short_period)
        mult_short = p["atr_multiplier"] * p["short_mult"]
    if hma:
        fast, slow = _hma(c, int(p["hma_fast"])), _hma(c, int(p["hma_slow"]))
        trend = [None if f is None or s is None else f - s for f, s in zip(fast, slow)]
    elif ema:
        trend = _ema_slope(c, int(p["ema_period"]), int(p["ema_slope_bars"]))

    capital = strategy.initial_capital
    frac, slip = strategy.position_fraction, strategy.slippage
    srate = strategy.slippage_bps * 1e-4
    fee = _Fee(strategy.commission, strategy.commission_bps * 1e-4)
    t_first = phase.n_warmup
    t_last = phase.n_bars - 1

    pos = 0  # +1 long, -1 short, 0 flat
    shares = 0.0
    cash = capital
    stop = ext = 0.0
    long_touch: float | None = None
    short_touch: float | None = None
    since = math.inf
    entry_bar, entry_px, entry_cost = 0, 0.0, 0.0
    trades: list[tuple] = []
    equity = [capital]
    held = [0.0]
    stop_atr: list[float] = []
    stop_side: list[int] = []

    for t in range(t_first - 1, t_last + 1):
        stopped = entered = False
        if t >= t_first:
            q = pos * shares
            close_px = open_px = open_raw = None
            new_pos = 0
            if pos == 1 and lo[t] <= stop:
                close_px = min(o[t], stop) - (slip + srate * min(o[t], stop))
                stopped = True
            elif pos == -1 and h[t] >= stop:
                close_px = max(o[t], stop) + (slip + srate * max(o[t], stop))
                stopped = True
            elif long_touch is not None and lo[t] <= long_touch:
                open_raw = min(o[t], long_touch)
                open_px = open_raw + (slip + srate * open_raw)
                new_pos = 1
            elif short_touch is not None and h[t] >= short_touch:
                open_raw = max(o[t], short_touch)
                open_px = open_raw - (slip + srate * open_raw)
                new_pos = -1
            if open_px is not None and pos != 0:
                close_px = open_px  # a reversal closes at the new entry's fill
            if close_px is not None:
                cash = cash + q * close_px - fee(abs(q), close_px)
                pnl = q * (close_px - entry_px) - entry_cost - fee(abs(q), close_px)
                reason = 0 if stopped else 1
                trades.append(
                    (0, pos, entry_bar + w0, t + w0, entry_px, close_px, shares, pnl, reason)
                )
                pos, shares = 0, 0.0
            if open_px is not None:
                shares = frac * cash / open_px
                q = new_pos * shares
                cash = cash - q * open_px - fee(shares, open_px)
                pos = new_pos
                entry_bar, entry_px, entry_cost = t, open_px, fee(shares, open_px)
                entered = True
            equity.append(cash + pos * shares * c[t])
            held.append(pos * shares)

        # trailing stop for the next bar
        rr = bbw[t] * (1.0 / p["vol_threshold"])
        scaling = int(p["bb_scaling"])
        sc = rr if scaling == 0 else (math.sqrt(rr) if scaling == 1 else rr * rr)
        tight = max(p["tighten_floor"], sc) if rr < 1.0 else 1.0
        cap = p["max_stop_atr"] * atr_base[t]
        if pos == 1:
            dist = min(atr[t] * p["atr_multiplier"] * tight, cap)
            stop_atr.append(dist / atr[t] if atr[t] > 0 else math.nan)
            stop_side.append(1)
            if entered:
                ext = max(open_raw, c[t])
                stop = ext - dist
            else:
                ext = max(ext, h[t])
                stop = max(stop, ext - dist)
        elif pos == -1:
            dist = min(atr_short[t] * mult_short * tight, cap)
            stop_atr.append(dist / atr_short[t] if atr_short[t] > 0 else math.nan)
            stop_side.append(-1)
            if entered:
                ext = min(open_raw, c[t])
                stop = ext + dist
            else:
                ext = min(ext, lo[t])
                stop = min(stop, ext + dist)

        # orders for the next bar
        if stopped:
            since = 0
        armed = pos == 0 and since >= p["reentry_delay"]
        allow_long = armed or (has_short and pos == -1 and mode >= 1)
        allow_short = has_short and (armed or (pos == 1 and mode >= 2))
        if hma:
            allow_long = allow_long and trend[t] > 0.0
            allow_short = allow_short and trend[t] < 0.0
        elif ema:
            allow_short = allow_short and trend[t] < -p["ema_slope_min"]
        long_touch = c[t] - p["atr_buy_multiplier"] * atr[t] if allow_long else None
        short_touch = c[t] + p["atr_buy_multiplier"] * atr_short[t] if allow_short else None
        since += 1

    trade_arr = np.array(trades, dtype=TRADE_DTYPE) if trades else np.zeros(0, dtype=TRADE_DTYPE)
    eq = np.array(equity)
    open_trade = (entry_bar + w0, entry_px, entry_cost, pos * shares) if pos != 0 else None
    metrics = _metrics(eq, trade_arr, open_trade, data, phase, fee)
    open_entry = open_trade[0] if open_trade is not None else None
    sides = np.array(stop_side, dtype=np.int8)
    return ReferenceRun(
        trade_arr, eq, metrics, np.array(held), open_entry, np.array(stop_atr), sides
    )


def _segment_trade_pnls(
    trades: np.ndarray, open_trade: tuple | None, data: WfoData, phase: Phase, fee: _Fee
) -> tuple[list[float], list[float]]:
    """Split every trade into its IS and OOS parts (a part ends or starts at the IS close)."""
    b = phase.oos_start - 1
    cb = float(data.close[b])
    c_end = float(data.close[phase.oos_end])
    is_p, oos_p = [], []
    rows = [
        (
            int(r["entry_bar"]),
            int(r["exit_bar"]),
            float(r["entry_price"]),
            float(r["exit_price"]),
            r["direction"] * float(r["shares"]),
            fee(float(r["shares"]), float(r["entry_price"])),
            True,
        )
        for r in trades
    ]
    if open_trade is not None:
        e_bar, e_px, e_cost, q = open_trade
        rows.append((e_bar, phase.oos_end, e_px, c_end, q, e_cost, False))
    for e_bar, x_bar, e_px, x_px, q, e_cost, closed in rows:
        exit_cost = fee(abs(q), x_px) if closed else 0.0
        if x_bar <= b:
            is_p.append(q * (x_px - e_px) - e_cost - exit_cost)
        elif e_bar > b:
            oos_p.append(q * (x_px - e_px) - e_cost - exit_cost)
        else:
            is_p.append(q * (cb - e_px) - e_cost)
            oos_p.append(q * (x_px - cb) - exit_cost)
    return is_p, oos_p


def _metrics(
    eq: np.ndarray,
    trades: np.ndarray,
    open_trade: tuple | None,
    data: WfoData,
    phase: Phase,
    fee: _Fee,
) -> dict[str, float]:
    bpy = data.bars_per_year
    split = phase.n_is
    segments = {"is": eq[: split + 1], "oos": eq[split:]}
    pnls = dict(zip(("is", "oos"), _segment_trade_pnls(trades, open_trade, data, phase, fee)))
    out: dict[str, float] = {}
    for seg, curve in segments.items():
        r = curve[1:] / curve[:-1] - 1.0
        n = r.size
        peak = np.maximum.accumulate(curve)
        tp = np.array(pnls[seg])
        gp, gl = tp[tp > 0].sum(), -tp[tp < 0].sum()
        std = r.std(ddof=1) if n > 1 else 0.0
        down = math.sqrt(np.mean(np.minimum(r, 0.0) ** 2)) if n else 0.0
        mean = r.mean() if n else 0.0
        out[f"{seg}_pnl"] = curve[-1] - curve[0]
        out[f"{seg}_max_dd"] = float((peak - curve).max())
        out[f"{seg}_max_dd_pct"] = float(((peak - curve) / peak).max())
        out[f"{seg}_trades"] = float(tp.size)
        out[f"{seg}_win_rate"] = float((tp > 0).mean()) if tp.size else math.nan
        if not tp.size:
            out[f"{seg}_profit_factor"] = math.nan
        else:
            out[f"{seg}_profit_factor"] = gp / gl if gl > 0 else (math.inf if gp > 0 else math.nan)
        out[f"{seg}_sharpe"] = mean / std * math.sqrt(bpy) if std > 0 else 0.0
        out[f"{seg}_sortino"] = (
            mean / down * math.sqrt(bpy) if down > 0 else (math.inf if mean > 0 else 0.0)
        )
        out[f"{seg}_cagr"] = (curve[-1] / curve[0]) ** (bpy / n) - 1.0 if curve[-1] > 0 else -1.0
    return {name: float(out[name]) for name in METRIC_NAMES}

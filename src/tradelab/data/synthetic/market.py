"""Daily paths of the synthetic market.

Notation:
    n_days     sessions in the daily history
    n_sym      symbols
    close      (n_days, n_sym) float64, unrounded closes
    sigma      (n_days, n_sym) float64, conditional daily volatility of log returns

`market` mode: a GARCH(1,1) market factor with jumps, sector factors, per-name GARCH noise,
trending and mean-reverting regimes (a two-state Markov chain per name), idiosyncratic jumps,
soft price bounds ($0.5 - $600); TQQQ is 3x QQQ's daily return less fees; DIA is cointegrated
with SPY in price (hedge ratio, intercept, OU spread) and MARA with RIOT in log price.
`null` mode: independent driftless random walks with constant volatility and no jumps, so no
strategy has an edge (annual volatility capped at 30% so prices stay in a realistic band).
Planted edges are added on top of `null` by `planted.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradelab.data.synthetic.profiles import (
    LEVEL_PAIRS,
    LEVERAGED,
    LOG_PAIRS,
    SymbolProfile,
    symbol_rng,
)

__all__ = ["DailyPaths", "simulate_daily"]

_GARCH_ALPHA, _GARCH_BETA = 0.08, 0.90
_LOG_FLOOR = np.log(0.5)
_LOG_CAP = {"small": np.log(60.0), "filler": np.log(200.0)}
_LOG_CAP_DEFAULT = np.log(900.0)


@dataclass(frozen=True)
class DailyPaths:
    dates: pd.DatetimeIndex
    symbols: list[str]
    close: np.ndarray
    sigma: np.ndarray


def _garch_paths(z: np.ndarray, long_run: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn standard normals `z` (n, k) into GARCH(1,1) returns and their sigmas."""
    n, k = z.shape
    omega = long_run**2 * (1.0 - _GARCH_ALPHA - _GARCH_BETA)
    var = long_run**2
    ret = np.empty((n, k))
    sig = np.empty((n, k))
    for t in range(n):
        s = np.sqrt(var)
        sig[t] = s
        ret[t] = s * z[t]
        var = omega + _GARCH_ALPHA * ret[t] ** 2 + _GARCH_BETA * var
    return ret, sig


def _null_paths(profiles: list[SymbolProfile], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    close = np.empty((n, len(profiles)))
    sigma = np.empty((n, len(profiles)))
    for j, p in enumerate(profiles):
        rng = symbol_rng(seed, p.symbol, stream=1)
        vol = min(p.annual_vol, 0.3) / np.sqrt(252.0)
        start = p.start_price if p.start_price > 0 else 50.0
        start = float(np.clip(start, 5.0, 300.0))
        steps = rng.standard_normal(n) * vol  # driftless in log price: the median stays put
        close[:, j] = start * np.exp(np.cumsum(steps))
        sigma[:, j] = vol
    return close, sigma


def _market_paths(
    profiles: list[SymbolProfile], n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    k = len(profiles)
    mrng = symbol_rng(seed, "__market__", stream=0)
    m_ret, m_sig = _garch_paths(mrng.standard_normal((n, 1)), np.array([0.16 / np.sqrt(252.0)]))
    jumps = (mrng.random(n) < 1 / 400) * mrng.normal(-0.035, 0.03, n)
    m_ret = m_ret[:, 0] + jumps
    sectors = sorted({p.sector for p in profiles if p.sector})
    sector_ret = {
        s: symbol_rng(seed, f"__sector_{s}__").normal(0, 0.25 / np.sqrt(252.0), n) for s in sectors
    }

    z = np.empty((n, k))
    long_run = np.empty(k)
    for j, p in enumerate(profiles):
        z[:, j] = symbol_rng(seed, p.symbol, stream=2).standard_normal(n)
        total = p.annual_vol / np.sqrt(252.0)
        systematic = (p.beta * 0.16 / np.sqrt(252.0)) ** 2 + (0.5 * 0.25 / np.sqrt(252.0)) ** 2
        long_run[j] = np.sqrt(max(total**2 - systematic, (0.3 * total) ** 2))
    idio, idio_sig = _garch_paths(z, long_run)

    close = np.empty((n, k))
    sigma = np.empty((n, k))
    for j, p in enumerate(profiles):
        if p.kind in ("leveraged", "level_pair", "log_pair"):
            continue
        rng = symbol_rng(seed, p.symbol, stream=3)
        sector = sector_ret[p.sector] if p.sector else np.zeros(n)
        jump_rate, jump_scale = (1 / 150, 4.0) if p.kind == "small" else (1 / 500, 3.0)
        jump = (rng.random(n) < jump_rate) * rng.normal(0.0, jump_scale, n) * long_run[j]
        # regimes: 0 trending, 1 mean-reverting
        p10 = 1 / 60
        p01 = p10 * p.mean_reversion / max(1 - p.mean_reversion, 1e-6)
        u, flips = rng.random(n), rng.random(n)
        x = np.log(p.start_price)
        anchor = x
        state, direction = 0, 1.0
        cap = _LOG_CAP.get(p.kind, _LOG_CAP_DEFAULT)
        out = np.empty(n)
        drift = p.annual_drift / 252.0
        for t in range(n):
            step = drift + p.beta * m_ret[t] + 0.5 * sector[t] + idio[t, j] + jump[t]
            if state == 0:
                step += direction * 0.08 * long_run[j]
            else:
                step -= 0.08 * (x - anchor)
            if x < _LOG_FLOOR:
                step += 0.02 * (_LOG_FLOOR - x) + 0.002
            elif x > cap:
                step -= 0.02 * (x - cap) + 0.002
            x += step
            anchor += 0.02 * (x - anchor)
            out[t] = x
            if state == 0 and u[t] < p01:
                state = 1
            elif state == 1 and u[t] < p10:
                state = 0
                direction = 1.0 if flips[t] < 0.6 else -1.0
        close[:, j] = np.exp(out)
        sigma[:, j] = np.sqrt((p.beta * m_sig[:, 0]) ** 2 + idio_sig[:, j] ** 2)

    index = {p.symbol: j for j, p in enumerate(profiles)}
    for j, p in enumerate(profiles):
        rng = symbol_rng(seed, p.symbol, stream=4)
        if p.kind == "leveraged":
            under, lev, fee = LEVERAGED[p.symbol]
            u = index[under]
            under_simple = np.expm1(np.diff(np.log(close[:, u]), prepend=np.log(close[0, u])))
            levered = np.clip(lev * under_simple - fee / 252.0 + rng.normal(0, 2e-4, n), -0.9, None)
            close[:, j] = p.start_price * np.cumprod(1.0 + levered)
            sigma[:, j] = lev * sigma[:, u]
        elif p.kind == "level_pair":
            leader, hedge, intercept, sd, half_life = LEVEL_PAIRS[p.symbol]
            spread = _ou(rng, n, sd, half_life)
            close[:, j] = np.maximum(hedge * close[:, index[leader]] + intercept + spread, 1.0)
            sigma[:, j] = sigma[:, index[leader]] * 0.9
        elif p.kind == "log_pair":
            leader, c, sd, half_life = LOG_PAIRS[p.symbol]
            spread = _ou(rng, n, sd, half_life)
            close[:, j] = close[:, index[leader]] * np.exp(c + spread)
            sigma[:, j] = sigma[:, index[leader]]
    return close, sigma


def _ou(rng: np.random.Generator, n: int, sd: float, half_life: float) -> np.ndarray:
    phi = 0.5 ** (1.0 / half_life)
    eps = rng.normal(0.0, sd * np.sqrt(1 - phi**2), n)
    out = np.empty(n)
    level = rng.normal(0.0, sd)
    for t in range(n):
        level = phi * level + eps[t]
        out[t] = level
    return out


def simulate_daily(
    profiles: list[SymbolProfile], dates: pd.DatetimeIndex, seed: int, mode: str
) -> DailyPaths:
    """Simulate daily closes and conditional volatilities for `profiles` over `dates`."""
    missing = [
        p.symbol
        for p in profiles
        if mode == "market"
        and (
            (p.kind == "leveraged" and LEVERAGED[p.symbol][0] not in {q.symbol for q in profiles})
            or (
                p.kind == "level_pair"
                and LEVEL_PAIRS[p.symbol][0] not in {q.symbol for q in profiles}
            )
            or (p.kind == "log_pair" and LOG_PAIRS[p.symbol][0] not in {q.symbol for q in profiles})
        )
    ]
    if missing:
        raise ValueError(
            f"synthetic symbols {missing} need their underlying/leader in the universe"
        )
    n = len(dates)
    if mode == "market":
        close, sigma = _market_paths(profiles, n, seed)
    elif mode in ("null", "planted"):
        close, sigma = _null_paths(profiles, n, seed)
    else:
        raise ValueError(f"unknown synthetic mode {mode!r}: use market, null or planted")
    return DailyPaths(dates, [p.symbol for p in profiles], close, sigma)

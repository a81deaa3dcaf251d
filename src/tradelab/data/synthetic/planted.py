"""Planted edges for known-answer tests, on top of the `null` market.

Three edges, one per strategy family, each with its parameters recorded:
- `wfo`: on `WFO_SYMBOLS` the daily path is a zigzag in units of the daily true range (ATR):
  up-legs, pullbacks of at most `max_pullback_atr`, and after several legs a crash of at least
  `min_crash_atr`, then a choppy base. A trailing stop wider than the pullbacks and tighter than
  the crashes (atr_multiplier roughly in [max_pullback_atr, min_crash_atr]) keeps the legs and
  leaves the crashes; tighter stops are shaken out, wider ones give the crashes back.
- `kalman_residual`: on `RESIDUAL_SYMBOLS` the 1-minute log price carries an intraday
  Ornstein-Uhlenbeck component (half-life `ou_half_life_minutes`), so residual z-scores revert.
- `kalman_pairs`: DIA = hedge_ratio x SPY + intercept + OU spread (half-life in days).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from tradelab.data.synthetic.market import DailyPaths, _ou
from tradelab.data.synthetic.profiles import SymbolProfile, symbol_rng

__all__ = ["PLANTED_DEFAULTS", "RESIDUAL_SYMBOLS", "WFO_SYMBOLS", "plant_edges"]

WFO_SYMBOLS = ("SMH", "QQQ", "SPY", "XLK", "AAPL", "NVDA", "TQQQ")
RESIDUAL_SYMBOLS = ("RIOT", "MARA", "SOFI", "PLUG", "SNDL", "CLSK", "FCEL")
PLANTED_DEFAULTS: dict[str, Any] = {
    "wfo": {"atr_log": 0.015, "max_pullback_atr": 2.0, "min_crash_atr": 7.0, "crash_extra_atr": 4.0},
    "kalman_residual": {"ou_half_life_minutes": 45.0, "ou_sd": 0.012},
    "kalman_pairs": {"leader": "SPY", "follower": "DIA", "hedge_ratio": 0.57, "intercept": 60.0,
                     "spread_sd": 2.0, "half_life_days": 6.0},
}  # fmt: skip


def _zigzag(rng: np.random.Generator, n: int, atr: float, pullback: float, crash: float,
            crash_extra: float) -> np.ndarray:  # fmt: skip
    """Daily log returns of the up-leg / pullback / crash / chop cycle."""
    out = np.empty(n)
    t = 0
    while t < n:
        gained = 0.0
        for _ in range(int(rng.integers(5, 11))):  # legs of one trend
            up = rng.uniform(2.5, 6.0) * atr
            gained += up
            while up > 0 and t < n:
                step = min(up, rng.uniform(0.35, 0.9) * atr)
                out[t], up, t = step, up - step, t + 1
            down = rng.uniform(0.4, 1.0) * pullback * atr
            gained -= down
            while down > 0 and t < n:
                step = min(down, rng.uniform(0.3, 0.7) * atr)
                out[t], down, t = -step, down - step, t + 1
        # the crash gives back the trend but about 2.5 ATR, so prices grow ~10% a year
        drop = max(crash * atr, gained - 2.5 * atr) + rng.uniform(0.0, crash_extra) * atr
        while drop > 0 and t < n:
            step = min(drop, rng.uniform(1.2, 2.5) * atr)
            out[t], drop, t = -step, drop - step, t + 1
        level = 0.0
        for _ in range(int(rng.integers(15, 35))):
            if t >= n:
                break
            step = -0.3 * level + rng.normal(0.0, 0.35 * atr)
            out[t], level, t = step, level + step, t + 1
    return out


def plant_edges(
    paths: DailyPaths, profiles: list[SymbolProfile], seed: int, minute_days: int
) -> tuple[DailyPaths, dict[str, np.ndarray], dict[str, Any]]:
    """Add the planted edges; return new paths, intraday log components and the record."""
    close, sigma = paths.close.copy(), paths.sigma.copy()
    n = len(paths.dates)
    index = {s: j for j, s in enumerate(paths.symbols)}
    record: dict[str, Any] = {}

    cfg = PLANTED_DEFAULTS["wfo"]
    wfo_syms = [s for s in WFO_SYMBOLS if s in index]
    for s in wfo_syms:
        j = index[s]
        rng = symbol_rng(seed, s, stream=7)
        steps = _zigzag(rng, n, cfg["atr_log"], cfg["max_pullback_atr"], cfg["min_crash_atr"],
                        cfg["crash_extra_atr"])  # fmt: skip
        start = float(np.clip(profiles[j].start_price, 20.0, 200.0))
        close[:, j] = start * np.exp(np.cumsum(steps))
        sigma[:, j] = 0.5 * cfg["atr_log"]
    if wfo_syms:
        record["wfo"] = {**cfg, "symbols": wfo_syms,
                         "atr_multiplier_region": [cfg["max_pullback_atr"], cfg["min_crash_atr"]]}  # fmt: skip

    intraday: dict[str, np.ndarray] = {}
    rcfg = PLANTED_DEFAULTS["kalman_residual"]
    res_syms = [s for s in RESIDUAL_SYMBOLS if s in index]
    phi = 0.5 ** (1.0 / rcfg["ou_half_life_minutes"])
    for s in res_syms:
        rng = symbol_rng(seed, s, stream=8)
        eps = rng.normal(0.0, rcfg["ou_sd"] * np.sqrt(1 - phi**2), (minute_days, 390))
        level = np.zeros((minute_days, 390))
        for m in range(1, 390):
            level[:, m] = phi * level[:, m - 1] + eps[:, m]
        intraday[s] = level
    if res_syms:
        record["kalman_residual"] = {**rcfg, "symbols": res_syms}

    pcfg = PLANTED_DEFAULTS["kalman_pairs"]
    lead, follow = pcfg["leader"], pcfg["follower"]
    if lead in index and follow in index:
        rng = symbol_rng(seed, follow, stream=9)
        spread = _ou(rng, n, pcfg["spread_sd"], pcfg["half_life_days"])
        close[:, index[follow]] = (
            pcfg["hedge_ratio"] * close[:, index[lead]] + pcfg["intercept"] + spread
        )
        sigma[:, index[follow]] = sigma[:, index[lead]]
        record["kalman_pairs"] = dict(pcfg)
    return replace(paths, close=close, sigma=sigma), intraday, record

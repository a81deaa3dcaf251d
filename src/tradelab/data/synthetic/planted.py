"""Planted edges for known-answer tests, on top of the `null` market.

Three edges, one per strategy family, each with its parameters recorded:
- `wfo`: on `WFO_SYMBOLS` the daily path is a zigzag in units of `atr_log` (about one daily
  true range): trends of `legs` up-legs (each `leg_atr` ATRs, in noisy daily steps drawn from
  `step_atr`), each leg followed by a one- or two-day pullback of at most `max_pullback_atr`;
  after the last leg a one-day crash of at least `min_crash_atr` that gives back all but
  `kept_atr` of the trend, then a choppy base of `base_days` sessions. A trailing stop wider
  than the pullbacks and tighter than the crash (atr_multiplier roughly in
  [max_pullback_atr, min_crash_atr], the recorded `atr_multiplier_region`) keeps the legs and
  leaves at the crash; tighter stops are shaken out at every pullback and miss the next leg,
  wider ones give more of each crash back. The edge is clean when the stop distance is set by
  atr_multiplier alone (no squeeze tightening, no cap): `conf/grid/known_answer.yaml`.
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
    "wfo": {
        "atr_log": 0.012,
        "max_pullback_atr": 2.0,
        "min_crash_atr": 7.0,
        "crash_extra_atr": 4.0,
        "kept_atr": 5.0,
        "legs": [4, 7],
        "leg_atr": [3.0, 5.0],
        "step_atr": [-0.4, 1.2],
        "base_days": [15, 35],
        "base_sd_atr": 0.35,
    },
    "kalman_residual": {"ou_half_life_minutes": 45.0, "ou_sd": 0.012},
    "kalman_pairs": {
        "leader": "SPY",
        "follower": "DIA",
        "hedge_ratio": 0.57,
        "intercept": 60.0,
        "spread_sd": 2.0,
        "half_life_days": 6.0,
    },
}


def _zigzag(rng: np.random.Generator, n: int, cfg: dict[str, Any]) -> np.ndarray:
    """Daily log returns of the trend / pullback / crash / base cycle (see the module doc)."""
    atr = cfg["atr_log"]
    out = np.zeros(n)
    t = 0
    while t < n:
        gained = 0.0
        for _ in range(int(rng.integers(cfg["legs"][0], cfg["legs"][1] + 1))):
            leg = rng.uniform(*cfg["leg_atr"]) * atr
            done = 0.0
            while done < leg - 1e-12 and t < n:
                step = min(leg - done, rng.uniform(*cfg["step_atr"]) * atr)
                out[t], done, t = step, done + step, t + 1
            pullback = rng.uniform(0.5, 1.0) * cfg["max_pullback_atr"] * atr
            days = int(rng.integers(1, 3))
            for _ in range(days):
                if t < n:
                    out[t], t = -pullback / days, t + 1
            gained += leg - pullback
        crash = max(cfg["min_crash_atr"] * atr, gained - cfg["kept_atr"] * atr)
        if t < n:
            out[t], t = -(crash + rng.uniform(0.0, cfg["crash_extra_atr"]) * atr), t + 1
        level = 0.0
        for _ in range(int(rng.integers(cfg["base_days"][0], cfg["base_days"][1] + 1))):
            if t >= n:
                break
            step = -0.3 * level + rng.normal(0.0, cfg["base_sd_atr"] * atr)
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
        steps = _zigzag(rng, n, cfg)
        start = float(np.clip(profiles[j].start_price, 20.0, 200.0))
        close[:, j] = start * np.exp(np.cumsum(steps))
        sigma[:, j] = 0.5 * cfg["atr_log"]
    if wfo_syms:
        record["wfo"] = {
            **cfg,
            "symbols": wfo_syms,
            "atr_multiplier_region": [cfg["max_pullback_atr"], cfg["min_crash_atr"]],
        }

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

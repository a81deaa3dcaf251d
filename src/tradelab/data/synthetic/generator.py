"""The synthetic market front door: a spec in, bars (and the planted record) out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tradelab.data.calendar import sessions
from tradelab.data.symbols import validate_symbols
from tradelab.data.synthetic.market import simulate_daily
from tradelab.data.synthetic.ohlc import SyntheticBars, build_bars
from tradelab.data.synthetic.planted import plant_edges
from tradelab.data.synthetic.profiles import (
    LEVEL_PAIRS,
    LEVERAGED,
    LOG_PAIRS,
    default_universe,
    profile_for,
)

__all__ = ["GENERATOR_VERSION", "MarketSpec", "SyntheticMarket", "generate_market"]

_MODES = ("market", "null", "planted")
# Bumped whenever the same spec generates other bars (2: the exchange_calendars sessions).
GENERATOR_VERSION = 2


@dataclass(frozen=True)
class MarketSpec:
    """Everything that determines the generated market (same spec, same bytes)."""

    seed: int = 7
    mode: str = "market"
    end: str = "2026-10-30"
    daily_years: float = 16.0
    minute_days: int = 30
    symbols: tuple[str, ...] = ()
    filler_tickers: int = 0

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(f"synthetic mode {self.mode!r}: use one of {_MODES}")
        if self.daily_years <= 0 or self.minute_days < 0 or self.filler_tickers < 0:
            raise ValueError("daily_years must be > 0, minute_days and filler_tickers >= 0")
        object.__setattr__(self, "symbols", tuple(validate_symbols(self.symbols)))

    def universe(self) -> list[str]:
        """Return the requested symbols (default universe when empty)."""
        return list(self.symbols) or default_universe()

    def simulated(self) -> list[str]:
        """Return every simulated name: the universe, leaders it needs, filler tickers."""
        names = self.universe()
        for s in list(names):
            leader = (
                LEVERAGED.get(s, (None,))[0]
                or LEVEL_PAIRS.get(s, (None,))[0]
                or LOG_PAIRS.get(s, (None,))[0]
            )
            if leader and leader not in names:
                names.insert(0, leader)
        return names + [f"FILL{i:04d}" for i in range(self.filler_tickers)]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "symbols": list(self.symbols)}

    def identity(self) -> dict[str, Any]:
        """Return what fixes each symbol's price path: generator version, mode, seed, dates.

        Specs that differ only in `minute_days`, `symbols` or `filler_tickers` give the same
        path per symbol; a store never mixes two identities in one dataset.
        """
        return {
            "generator_version": GENERATOR_VERSION,
            "mode": self.mode,
            "seed": self.seed,
            "end": self.end,
            "daily_years": float(self.daily_years),
        }


@dataclass(frozen=True)
class SyntheticMarket:
    spec: MarketSpec
    bars: SyntheticBars
    planted: dict[str, Any] = field(default_factory=dict)

    @property
    def sessions(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(sorted(set(self.bars.daily["window_start"])))


def generate_market(spec: MarketSpec) -> SyntheticMarket:
    """Simulate the market `spec` describes (deterministic per seed)."""
    end = pd.Timestamp(spec.end)
    start = end - pd.Timedelta(days=round(spec.daily_years * 365.25))
    dates = sessions(start, end)
    names = spec.simulated()
    profiles = [profile_for(s, spec.seed) for s in names]
    paths = simulate_daily(profiles, dates, spec.seed, spec.mode)
    intraday: dict[str, Any] = {}
    planted: dict[str, Any] = {}
    if spec.mode == "planted":
        paths, intraday, planted = plant_edges(
            paths, profiles, spec.seed, min(spec.minute_days, len(dates))
        )
    bars = build_bars(paths, profiles, spec.seed, spec.minute_days, intraday)
    return SyntheticMarket(spec, bars, planted)

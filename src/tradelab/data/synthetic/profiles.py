"""Who is in the synthetic market and how each name behaves."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DEFAULT_SECTORS",
    "LARGE",
    "LEVEL_PAIRS",
    "LEVERAGED",
    "LOG_PAIRS",
    "SymbolProfile",
    "default_universe",
    "profile_for",
    "symbol_rng",
]

DEFAULT_SECTORS: dict[str, list[str]] = {
    "crypto_mining": ["RIOT", "MARA", "CLSK", "BITF", "HUT", "CIFR", "WULF"],
    "biotech_speculative": ["BNGO", "SNDL", "TLRY", "CGC", "ACB", "XXII", "AGRX"],
    "ev_clean_energy": ["PLUG", "FCEL", "BE", "CHPT", "BLNK", "EVGO", "GOEV"],
    "fintech_disruptors": ["SOFI", "HOOD", "AFRM", "UPST", "OPEN", "LMND"],
    "retail_consumer": ["GME", "AMC", "BBIG", "WKHS", "WISH", "CLOV", "EXPR"],
    "industrial_materials": ["CLF", "X", "AA", "BTU", "ARCH", "HCC"],
    "tech_software": ["AI", "SOUN", "IONQ", "RGTI", "QUBT", "KULR"],
    "real_estate_reits": ["MPW", "AGNC", "NLY", "ABR", "TWO", "IVR"],
}

# (start price, annual vol, annual drift, beta to the market) of the large names.
LARGE: dict[str, tuple[float, float, float, float]] = {
    "SPY": (135.0, 0.17, 0.11, 1.0),
    "QQQ": (62.0, 0.22, 0.15, 1.15),
    "SMH": (32.0, 0.30, 0.19, 1.35),
    "XLK": (28.0, 0.22, 0.15, 1.15),
    "AAPL": (14.0, 0.29, 0.20, 1.1),
    "NVDA": (0.35, 0.50, 0.33, 1.6),
}
# leveraged ETF -> (underlying, leverage, annual fee)
LEVERAGED: dict[str, tuple[str, float, float]] = {"TQQQ": ("QQQ", 3.0, 0.0095)}
# price-level cointegration: follower = hedge * leader + intercept + OU spread
LEVEL_PAIRS: dict[str, tuple[str, float, float, float, float]] = {
    # follower: (leader, hedge_ratio, intercept, spread sd in $, half-life in days)
    "DIA": ("SPY", 0.57, 60.0, 3.0, 12.0),
}
# log-price cointegration between two small caps: log(f) = log(l) + c + OU
LOG_PAIRS: dict[str, tuple[str, float, float, float]] = {
    # follower: (leader, log intercept, spread sd, half-life in days)
    "MARA": ("RIOT", 0.35, 0.08, 8.0),
}


@dataclass(frozen=True)
class SymbolProfile:
    """Parameters of one synthetic name."""

    symbol: str
    kind: str  # large | small | leveraged | level_pair | log_pair | filler
    sector: str | None
    start_price: float
    annual_vol: float
    annual_drift: float
    beta: float
    mean_reversion: float  # share of days spent in the mean-reverting regime
    base_volume: float


def symbol_rng(seed: int, symbol: str, stream: int = 0) -> np.random.Generator:
    """Return a generator that depends only on (seed, symbol, stream)."""
    return np.random.default_rng([seed, zlib.crc32(symbol.encode()), stream])


def default_universe() -> list[str]:
    """Return the seed tickers: the small-cap sectors, SMH, QQQ, TQQQ, SPY, DIA, XLK, AAPL, NVDA."""
    names = [s for sector in DEFAULT_SECTORS.values() for s in sector]
    return [*names, "SMH", "QQQ", "TQQQ", "SPY", "DIA", "XLK", "AAPL", "NVDA"]


def _sector_of(symbol: str) -> str | None:
    for sector, names in DEFAULT_SECTORS.items():
        if symbol in names:
            return sector
    return None


def profile_for(symbol: str, seed: int) -> SymbolProfile:
    """Return the profile of `symbol` (unknown tickers get a seeded small-cap profile)."""
    rng = symbol_rng(seed, symbol, stream=99)
    if symbol in LARGE:
        price, vol, drift, beta = LARGE[symbol]
        return SymbolProfile(
            symbol, "large", None, price, vol, drift, beta, 0.35, 4e7 / max(price, 1) ** 0.5
        )
    if symbol in LEVERAGED:
        under, lev, _fee = LEVERAGED[symbol]
        base = LARGE[under]
        return SymbolProfile(
            symbol, "leveraged", None, base[0] / 30, base[1] * lev, 0.0, base[3] * lev, 0.0, 6e7
        )
    if symbol in LEVEL_PAIRS:
        return SymbolProfile(symbol, "level_pair", None, 0.0, 0.16, 0.0, 1.0, 0.0, 3e6)
    if symbol in LOG_PAIRS:
        return SymbolProfile(symbol, "log_pair", _sector_of(symbol), 0.0, 0.9, 0.0, 1.5, 0.0, 2e7)
    sector = _sector_of(symbol)
    if symbol.startswith("FILL"):
        return SymbolProfile(
            symbol, "filler", None, float(rng.uniform(5, 80)), 0.35, 0.0, 0.8, 0.3, 1e6
        )
    return SymbolProfile(
        symbol,
        "small",
        sector,
        start_price=float(np.exp(rng.uniform(np.log(0.8), np.log(45.0)))),
        annual_vol=float(rng.uniform(0.55, 1.15)),
        annual_drift=float(rng.uniform(-0.05, 0.12)),
        beta=float(rng.uniform(0.8, 2.0)),
        mean_reversion=float(rng.uniform(0.3, 0.7)),
        base_volume=float(np.exp(rng.uniform(np.log(2e6), np.log(6e7)))),
    )

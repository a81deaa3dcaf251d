"""The embedded synthetic market: realistic, `null` (no edge) and `planted` (known edge) modes."""

from __future__ import annotations

from tradelab.data.synthetic.generator import (
    GENERATOR_VERSION,
    MarketSpec,
    SyntheticMarket,
    generate_market,
)
from tradelab.data.synthetic.profiles import DEFAULT_SECTORS, default_universe

__all__ = [
    "DEFAULT_SECTORS",
    "GENERATOR_VERSION",
    "MarketSpec",
    "SyntheticMarket",
    "default_universe",
    "generate_market",
]

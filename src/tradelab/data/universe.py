"""Universe selection: sector lists plus extra tickers, filtered by data availability and price."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tradelab.data.store import ParquetStore
from tradelab.data.symbols import validate_symbols

__all__ = ["Member", "select_universe", "universe_symbols"]


@dataclass(frozen=True)
class Member:
    symbol: str
    sector: str | None
    last_price: float
    bars: int


def universe_symbols(sectors: Mapping[str, Sequence[str]], extra: Sequence[str]) -> list[str]:
    """Return the configured names: every sector's tickers, then `extra` (no repeats)."""
    return validate_symbols([s for names in sectors.values() for s in names] + list(extra))


def select_universe(
    store: ParquetStore,
    timeframe: str,
    *,
    sectors: Mapping[str, Sequence[str]],
    extra: Sequence[str] = (),
    symbols: Sequence[str] | None = None,
    max_last_price: float | None = None,
    min_bars: int = 100,
) -> list[Member]:
    """Return the members with >= `min_bars` bars of `timeframe` and last close < `max_last_price`.

    `symbols`, when given, restricts the candidates (e.g. only the small-cap sectors).
    """
    sector_of = {s: sector for sector, names in sectors.items() for s in names}
    candidates = validate_symbols(symbols) if symbols else universe_symbols(sectors, extra)
    out = []
    for symbol in candidates:
        meta = store.meta(symbol, timeframe)
        if meta is None or meta.rows < min_bars:
            continue
        last = store.read(symbol, timeframe).iloc[-1]["close"]
        if max_last_price is not None and not last < max_last_price:
            continue
        out.append(Member(symbol, sector_of.get(symbol), float(last), meta.rows))
    return out

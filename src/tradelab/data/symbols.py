"""Symbols and other names become file names: validate them first."""

from __future__ import annotations

import re

from tradelab.errors import InvalidSymbolError

__all__ = ["check_name", "is_symbol", "validate_symbol", "validate_symbols"]

_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9._\-]{0,14}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,79}$")


def is_symbol(symbol: object) -> bool:
    """Return whether `symbol` is a safe ticker (upper case, no path characters)."""
    return isinstance(symbol, str) and bool(_SYMBOL_RE.match(symbol)) and symbol not in {".", ".."}


def validate_symbol(symbol: object) -> str:
    """Return `symbol` if it is a safe ticker (upper case, no path characters), else raise."""
    if not is_symbol(symbol):
        raise InvalidSymbolError(symbol)
    return symbol  # type: ignore[return-value]


def validate_symbols(symbols: object) -> list[str]:
    """Validate a list of symbols, keeping order and dropping repeats."""
    if isinstance(symbols, str) or not hasattr(symbols, "__iter__"):
        raise InvalidSymbolError(symbols)
    seen: dict[str, None] = {}
    for s in symbols:  # type: ignore[union-attr]
        seen[validate_symbol(s)] = None
    return list(seen)


def check_name(name: str, field: str) -> str:
    """Return `name` (a strategy, grid or TradeStation name) if it is safe in a file name."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise ValueError(
            f"{field} {name!r} cannot be used in a file name: use letters, digits, '.', '-', '_'"
        )
    return name

"""Typed errors. Each names what was wrong and where, so a user can fix the input."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConfigError",
    "DataError",
    "DataValidationError",
    "FetchError",
    "InvalidSymbolError",
    "ModelUnavailableError",
    "TrackingError",
    "TradelabError",
]


class TradelabError(Exception):
    """Base class of every error tradelab raises on purpose."""


class ConfigError(TradelabError):
    """A configuration value is missing, misspelled or inconsistent."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"config key '{key}': {message}")


class DataError(TradelabError):
    """Input data cannot be read or is not what it claims to be."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = None if file is None else str(file)
        self.row = row
        self.field = field
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class DataValidationError(DataError):
    """A frame failed a validation rule (dtype, order, OHLC consistency, ...)."""


class FetchError(DataError):
    """A market-data API did not deliver bars: `kind` says why.

    `unavailable` (network, 5xx, rate limits past the retries) and `auth` (credentials refused)
    let a job fall back to cached data; `unknown_symbol` and `bad_response` (malformed JSON, a
    field missing) do not. The message names the source, symbol, timeframe and request window,
    never a credential.
    """

    KINDS = ("unavailable", "auth", "unknown_symbol", "bad_response")

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        source: str,
        symbol: str | None = None,
        window: str | None = None,
        field: str | None = None,
    ) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown fetch error kind {kind!r}")
        self.kind = kind
        self.source = source
        self.symbol = symbol
        self.window = window
        what = " ".join(part for part in (symbol, window) if part)
        super().__init__(f"{source}{f' {what}' if what else ''}: {message}", field=field)

    @property
    def api_down(self) -> bool:
        """Say whether cached data may stand in (the API is unreachable or refused us)."""
        return self.kind in ("unavailable", "auth")


class InvalidSymbolError(TradelabError):
    """A symbol cannot safely become a file name."""

    def __init__(self, symbol: object) -> None:
        self.symbol = symbol
        super().__init__(
            f"invalid symbol {symbol!r}: use 1-15 characters from A-Z, 0-9, '.', '-', '_' "
            "starting with a letter or digit"
        )


class ModelUnavailableError(TradelabError):
    """A forecasting model cannot be loaded (weights missing or corrupt, library absent)."""


class TrackingError(TradelabError):
    """The tracking backend refused or lost a write."""

"""Typed errors. Each names what was wrong and where, so a user can fix the input."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConfigError",
    "DataError",
    "DataValidationError",
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

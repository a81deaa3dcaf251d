"""tradelab: tune strategies and forecasters at hardware speed, track every attempt, promote
only what is not luck."""

from __future__ import annotations

from tradelab.errors import (
    ConfigError,
    DataError,
    DataValidationError,
    InvalidSymbolError,
    ModelUnavailableError,
    TrackingError,
    TradelabError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "DataValidationError",
    "InvalidSymbolError",
    "ModelUnavailableError",
    "TrackingError",
    "TradelabError",
    "__version__",
]

"""Data source and universe settings (`conf/data/*.yaml`, `conf/universe/*.yaml`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from tradelab.errors import ConfigError
from tradelab.settings import from_plain

__all__ = [
    "DATA_SOURCES",
    "REMOTE_SOURCES",
    "BadRows",
    "CsvDataConfig",
    "CsvLayout",
    "DataConfig",
    "FlatFilesDataConfig",
    "MassiveDataConfig",
    "SyntheticDataConfig",
    "SyntheticMode",
    "TradeStationDataConfig",
    "UniverseConfig",
    "data_config",
]


class SyntheticMode(StrEnum):
    market = "market"
    null = "null"
    planted = "planted"


class BadRows(StrEnum):
    error = "error"
    drop = "drop"


class CsvLayout(StrEnum):
    long = "long"
    wide = "wide"


@dataclass(frozen=True)
class SyntheticDataConfig:
    """The embedded synthetic market, written as Massive-style flat files, then ingested.

    `mode`: `market` (realistic), `null` (pure random walks) or `planted` (a known edge whose
    parameters are recorded in `planted.json`); a bare `null` (`data.mode=null` on the command
    line, `mode: null` in YAML, which parse to None) means the null market. Daily history ends
    at `end` and spans `daily_years`; 1-minute bars cover the last `minute_days` sessions.
    """

    source: str = "synthetic"
    seed: int = 7
    mode: SyntheticMode | None = SyntheticMode.market
    end: str = "2026-10-30"
    daily_years: float = 16.0
    minute_days: int = 30
    symbols: tuple[str, ...] = ()
    filler_tickers: int = 0
    raw_dir: str = "data/raw/synthetic"
    on_bad_rows: BadRows = BadRows.error

    def __post_init__(self) -> None:
        if self.mode is None:
            object.__setattr__(self, "mode", SyntheticMode.null)


@dataclass(frozen=True)
class FlatFilesDataConfig:
    """A folder of Massive/Polygon flat files: `minute_aggs` and/or `day_aggs` day files.

    `minute_glob` / `day_glob` select the day files (relative to `path`); either may be null.
    """

    source: str = "flatfiles"
    path: str = "data/raw/flatfiles"
    minute_glob: str | None = "minute_aggs/**/*.csv.gz"
    day_glob: str | None = "day_aggs/**/*.csv.gz"
    symbols: tuple[str, ...] = ()
    on_bad_rows: BadRows = BadRows.error


@dataclass(frozen=True, kw_only=True)
class CsvDataConfig:
    """A CSV or Parquet export with a column mapping (e.g. Yahoo `Date,Open,...,Volume`).

    `layout: long` is one symbol per file (`symbol` names it, or `symbol_column` holds it);
    `columns` maps the canonical names (timestamp, open, high, low, close, volume) to the
    file's column names. `layout: wide` is a `date_column` plus one close column per ticker
    (e.g. `adj_close_wide.csv`: `date,AAPL,MSFT,...`, empty cells where a ticker has no price).
    `date_format` is a strptime format (null: ISO 8601); naive times are in `timezone`.
    `adjust_close_column` (e.g. `Adj Close`) scales open/high/low/close by adjusted / close.
    """

    source: str = "csv"
    path: str
    layout: CsvLayout = CsvLayout.long
    symbol: str | None = None
    symbol_column: str | None = None
    timeframe: str = "1day"
    columns: dict[str, str] = field(default_factory=dict)
    date_column: str = "date"
    date_format: str | None = None
    timezone: str = "America/New_York"
    adjust_close_column: str | None = None
    on_bad_rows: BadRows = BadRows.error


@dataclass(frozen=True, kw_only=True)
class ApiDataConfig:
    """What the REST sources share.

    `start`..`end`: the history a job needs (`end` null: the last complete session, from the
    exchange calendar); before a run, `tradelab-wfo` and `tradelab-tune` fetch what the store
    lacks of it (`fetch=false` never fetches). `timeframe`: what `tradelab-ingest` downloads
    (1min or 1day). `credentials_file`: a JSON file outside the repository, read when the
    environment variables are not set. Requests time out after `timeout_s`; connection
    errors, 429 and 5xx are retried `retries` times with backoff from `backoff_s`, no wait
    (Retry-After included) longer than `max_wait_s`.
    """

    symbols: tuple[str, ...] = ()
    timeframe: str = "1day"
    start: str = "2007-01-01"
    end: str | None = None
    api_url: str = ""
    credentials_file: str | None = None
    timeout_s: float = 30.0
    retries: int = 5
    backoff_s: float = 1.0
    max_wait_s: float = 60.0
    on_bad_rows: BadRows = BadRows.error

    def __post_init__(self) -> None:
        if self.timeframe not in ("1min", "1day"):
            raise ConfigError("data.timeframe", f"fetch 1min or 1day, not {self.timeframe!r}")
        for key in ("start", "end"):
            value = getattr(self, key)
            if value is not None:
                try:
                    date.fromisoformat(str(value))
                except ValueError:
                    raise ConfigError(
                        f"data.{key}", f"{value!r} is not a YYYY-MM-DD date"
                    ) from None


@dataclass(frozen=True, kw_only=True)
class TradeStationDataConfig(ApiDataConfig):
    """The TradeStation v3 API (`tradelab.data.tradestation`): credentials from
    TRADESTATION_CLIENT_ID / _CLIENT_SECRET / _REFRESH_TOKEN, else `credentials_file`.
    `session_template`: Default (regular hours) or USEQPre, USEQPost, USEQPreAndPost."""

    source: str = "tradestation"
    api_url: str = "https://api.tradestation.com"
    token_url: str = "https://signin.tradestation.com/oauth/token"
    credentials_file: str | None = "~/.config/tradelab/tradestation.json"
    session_template: str = "Default"


@dataclass(frozen=True, kw_only=True)
class MassiveDataConfig(ApiDataConfig):
    """The Massive (formerly Polygon) aggregates API (`tradelab.data.massive`): the key from
    MASSIVE_API_KEY (or POLYGON_API_KEY), else `credentials_file`. `adjusted`: split-adjusted
    prices."""

    source: str = "massive"
    api_url: str = "https://api.massive.com"
    credentials_file: str | None = "~/.config/tradelab/massive.json"
    adjusted: bool = True


@dataclass(frozen=True)
class UniverseConfig:
    """Which symbols a job considers: sector lists, extra tickers, filters."""

    sectors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    max_last_price: float | None = None
    min_bars: int = 100


DataConfig = (
    SyntheticDataConfig
    | FlatFilesDataConfig
    | CsvDataConfig
    | TradeStationDataConfig
    | MassiveDataConfig
)

DATA_SOURCES: dict[str, type] = {
    "synthetic": SyntheticDataConfig,
    "flatfiles": FlatFilesDataConfig,
    "csv": CsvDataConfig,
    "tradestation": TradeStationDataConfig,
    "massive": MassiveDataConfig,
}
REMOTE_SOURCES = ("tradestation", "massive")
"""The sources that fetch from an API before a run (the others are ingested by hand)."""


def data_config(data: Mapping[str, Any] | DataConfig, key: str = "data") -> DataConfig:
    """Build the settings of the data source `source` names from plain data."""
    if isinstance(data, tuple(DATA_SOURCES.values())):
        return data
    source = data.get("source")
    if source not in DATA_SOURCES:
        raise ConfigError(
            f"{key}.source", f"unknown source {source!r}; use one of {list(DATA_SOURCES)}"
        )
    return from_plain(DATA_SOURCES[source], data, key)

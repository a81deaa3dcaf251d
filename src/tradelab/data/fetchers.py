"""Fetchers the store calls for bars it does not have: the synthetic market, flat files and
the REST APIs (`api_fetcher` builds the one a data config names)."""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path

import pandas as pd

from tradelab.data.calendar import last_complete_session
from tradelab.data.flatfiles import DAY_KIND, MINUTE_KIND, read_day_files, scan_day_files
from tradelab.data.massive import MassiveFetcher
from tradelab.data.rest_client import HttpSettings
from tradelab.data.settings import (
    ApiDataConfig,
    DataConfig,
    MassiveDataConfig,
    TradeStationDataConfig,
)
from tradelab.data.synthetic import MarketSpec, generate_market
from tradelab.data.tradestation import TradeStationFetcher
from tradelab.data.validation import OnBad

__all__ = ["FlatFileFetcher", "SyntheticFetcher", "api_fetcher", "flat_to_bars", "history_span"]


def flat_to_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn flat-file columns (ticker, window_start, ...) of ONE ticker into canonical bars."""
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(frame["window_start"].to_numpy(), unit="ns", utc=True),
            **{
                c: frame[c].to_numpy()
                for c in ("open", "high", "low", "close", "volume", "transactions")
            },
        }
    ).astype({"timestamp": "datetime64[ns, UTC]"})


class SyntheticFetcher:
    """Serves bars of the synthetic market `spec` (generated once, on first use)."""

    name = "synthetic"

    def __init__(self, spec: MarketSpec) -> None:
        self.spec = spec
        self.market = spec.identity()

    @functools.cached_property
    def _market(self):
        return generate_market(self.spec)

    def _frame(self, timeframe: str) -> pd.DataFrame:
        if timeframe == "1day":
            return self._market.bars.daily
        if timeframe == "1min":
            return self._market.bars.minute
        raise ValueError(f"the synthetic market serves 1min and 1day, not {timeframe!r}")

    def fetch(self, symbol: str, timeframe: str, start: date, end: date) -> pd.DataFrame:
        frame = self._frame(timeframe)
        frame = frame.loc[frame["ticker"] == symbol]
        bars = flat_to_bars(frame)
        days = bars["timestamp"].dt.tz_convert("America/New_York").dt.date
        return bars.loc[(days >= start) & (days <= end)].reset_index(drop=True)

    def available(self, symbol: str, timeframe: str) -> tuple[date, date] | None:
        frame = self._frame(timeframe)
        stamps = frame.loc[frame["ticker"] == symbol, "window_start"]
        if stamps.empty:
            return None
        ends = pd.to_datetime([stamps.min(), stamps.max()], unit="ns", utc=True).tz_convert(
            "America/New_York"
        )
        return ends[0].date(), ends[1].date()


class FlatFileFetcher:
    """Serves bars from a folder of day files (only the files in the requested range are read)."""

    name = "flatfiles"

    def __init__(
        self,
        root: str | Path,
        *,
        minute_glob: str | None = f"{MINUTE_KIND}/**/*.csv.gz",
        day_glob: str | None = f"{DAY_KIND}/**/*.csv.gz",
        on_bad: OnBad = "error",
    ) -> None:
        self.root = Path(root)
        self.globs = {"1min": minute_glob, "1day": day_glob}
        self.on_bad = on_bad

    def _files(self, timeframe: str):
        pattern = self.globs.get(timeframe)
        if pattern is None:
            raise ValueError(f"no flat files configured for {timeframe!r}")
        return scan_day_files(self.root, pattern)

    def fetch(self, symbol: str, timeframe: str, start: date, end: date) -> pd.DataFrame:
        files = [f for f in self._files(timeframe) if start <= f.day <= end]
        batch = read_day_files(files, [symbol], on_bad=self.on_bad)
        frame = batch.frames.get(symbol)
        return (
            frame
            if frame is not None
            else flat_to_bars(
                pd.DataFrame(
                    columns=[
                        "window_start",
                        "open",
                        "high",
                        "low",
                        "close",
                        "volume",
                        "transactions",
                    ]
                )
            )
        )

    def available(self, symbol: str, timeframe: str) -> tuple[date, date] | None:
        files = self._files(timeframe)
        return (files[0].day, files[-1].day) if files else None


def api_fetcher(data: DataConfig) -> TradeStationFetcher | MassiveFetcher | None:
    """Return the REST fetcher `data` configures, None for a source ingested by hand."""
    if not isinstance(data, ApiDataConfig):
        return None
    http = HttpSettings(
        timeout_s=data.timeout_s,
        retries=data.retries,
        backoff_s=data.backoff_s,
        max_wait_s=data.max_wait_s,
    )
    if isinstance(data, TradeStationDataConfig):
        return TradeStationFetcher(
            api_url=data.api_url,
            token_url=data.token_url,
            credentials_file=data.credentials_file,
            session_template=data.session_template,
            http=http,
        )
    if isinstance(data, MassiveDataConfig):
        return MassiveFetcher(
            api_url=data.api_url,
            credentials_file=data.credentials_file,
            adjusted=data.adjusted,
            http=http,
        )
    raise TypeError(f"no fetcher for {type(data).__name__}")


def history_span(data: ApiDataConfig, now: pd.Timestamp | None = None) -> tuple[date, date]:
    """Return the sessions a job needs: `data.start` to `data.end` (default: the last
    complete session at `now`)."""
    start = date.fromisoformat(data.start)
    end = date.fromisoformat(data.end) if data.end else last_complete_session(now).date()
    return start, end

"""Massive (formerly Polygon) aggregates: daily and minute bars through the REST API.

`GET /v2/aggs/ticker/{ticker}/range/1/{minute|day}/{from}/{to}?adjusted=..&sort=asc&limit=..`
with the API key in an `Authorization: Bearer` header (never in a URL, so it cannot reach a log
or an error message). A response holds at most `limit` (50,000) bars and points to the rest with
`next_url`, which is followed only on the same host. `limit` counts base minute aggregates, so
minute requests are also split into windows of sessions that fit with extended hours
(04:00-20:00 New York: 960 a session). Each result's `t` is the bar's start in ms (daily: midnight
New York of the session), the store's convention. An unknown ticker answers 200 with no
results: the fetch is empty and the store says no bars were found.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from tradelab.data.bars import empty_bars
from tradelab.data.rest_client import (
    HttpSettings,
    RestFetcher,
    decode_json,
    numbers,
    records_frame,
    within_sessions,
)
from tradelab.errors import FetchError

__all__ = ["API_URL", "CREDENTIAL_ENV", "MAX_LIMIT", "MassiveFetcher", "parse_results"]

API_URL = "https://api.massive.com"
MAX_LIMIT = 50_000
CREDENTIAL_ENV = {"api_key": "MASSIVE_API_KEY"}
LEGACY_ENV = "POLYGON_API_KEY"
_SPANS = {"1min": "minute", "1day": "day"}
_MINUTES_A_DAY = 960  # 04:00-20:00, what minute aggregates cover
ERROR_KEYS = ("error", "message", "status")
_FIELDS = {"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}


class MassiveFetcher(RestFetcher):
    """Fetches 1min and 1day bars from the Massive aggregates endpoint (see the module doc).

    The key: `MASSIVE_API_KEY` (or `POLYGON_API_KEY`), else `credentials_file`
    (`{"api_key": ...}`).
    """

    name = "massive"
    credential_env = CREDENTIAL_ENV
    error_keys = ERROR_KEYS
    auth_hint = (
        f"the API key was refused: check {CREDENTIAL_ENV['api_key']} or data.credentials_file "
        "and the plan's access"
    )
    unknown_hint = "not found: check the ticker"

    def __init__(
        self,
        *,
        api_url: str = API_URL,
        credentials_file: str | None = None,
        adjusted: bool = True,
        limit: int = MAX_LIMIT,
        http: HttpSettings | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be within 1..{MAX_LIMIT}, got {limit}")
        super().__init__(api_url=api_url, credentials_file=credentials_file, http=http, env=env)
        self.adjusted = adjusted
        self.limit = limit

    def _per_window(self, timeframe: str) -> int:
        return max(1, self.limit // _MINUTES_A_DAY) if timeframe == "1min" else self.limit

    def _window(self, symbol: str, timeframe: str, first: date, last: date) -> pd.DataFrame:
        error = {"source": self.name, "symbol": symbol, "window": f"{timeframe} {first}..{last}"}
        url: str | None = (
            f"{self.api_url}/v2/aggs/ticker/{symbol}/range/1/{_SPANS[timeframe]}/{first}/{last}"
        )
        params: dict[str, str] | None = {
            "adjusted": str(self.adjusted).lower(),
            "sort": "asc",
            "limit": str(self.limit),
        }
        pages = []
        while url is not None:
            body = self._get(url, params, error)
            pages.append(parse_results(body.get("results") or [], error=error, page=len(pages)))
            url, params = self._next(body.get("next_url"), error), None
        return within_sessions(pd.concat(pages, ignore_index=True), first, last)

    def _next(self, next_url: object, error: dict[str, str]) -> str | None:
        """The next page's URL, only on the API's own host (the key goes with it)."""
        if not next_url:
            return None
        ours, theirs = urlparse(self.api_url), urlparse(str(next_url))
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            raise FetchError(
                f"next_url points to {theirs.scheme}://{theirs.netloc}, not {self.api_url}; "
                "refusing to send the API key there",
                kind="bad_response",
                field="next_url",
                **error,
            )
        return str(next_url)

    def _get(self, url: str, params: dict[str, str] | None, error: dict[str, str]) -> dict:
        response = self._get_with(self._load_credentials().values["api_key"], url, params, error)
        if response.status_code != 200:
            raise self._status_error(response, error)
        body = decode_json(response, error=error)
        if not isinstance(body, dict) or body.get("status") not in ("OK", "DELAYED"):
            status = body.get("status") if isinstance(body, dict) else None
            raise FetchError(
                f"unexpected response status {status!r}; nothing was stored",
                kind="bad_response",
                field="status",
                **error,
            )
        return body

    def _credential_sources(self) -> Mapping[str, str]:
        """The environment, `POLYGON_API_KEY` standing in for an unset `MASSIVE_API_KEY`."""
        env = dict(super()._credential_sources())
        if env.get(LEGACY_ENV) and not env.get(CREDENTIAL_ENV["api_key"]):
            env[CREDENTIAL_ENV["api_key"]] = env[LEGACY_ENV]
        return env


def parse_results(
    results: list[Any], *, error: Mapping[str, str | None], page: int = 0
) -> pd.DataFrame:
    """Turn aggregate `results` into canonical bars (`t` is the bar start in ms)."""
    if not results:
        return empty_bars()
    label = f"page {page + 1}, result"
    frame = records_frame(results, ("t", *_FIELDS), error=error, label=label)
    out: dict[str, Any] = {
        column: numbers(frame[name], name, error=error, label=label)
        for name, column in {"t": "timestamp", **_FIELDS}.items()
    }
    stamps = out["timestamp"].astype(np.int64) * 1_000_000
    out["timestamp"] = pd.to_datetime(stamps, unit="ns", utc=True).astype("datetime64[ns, UTC]")
    trades = frame["n"] if "n" in frame.columns else pd.Series(0, index=frame.index)
    out["transactions"] = pd.to_numeric(trades, errors="coerce").fillna(0).to_numpy(np.int64)
    return pd.DataFrame(out)

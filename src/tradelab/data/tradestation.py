"""TradeStation v3 market data: daily and minute bars through the documented REST API.

- Authentication is the OAuth2 refresh-token grant (`POST <token_url>` with client id, secret
  and refresh token, form-encoded): access tokens live 20 minutes; one is requested when none
  is held or it is about to expire, and a 401 refreshes it once and retries the request. A
  rotated refresh token (returned by keys configured to rotate) is written back to the
  credentials file, or a warning says the environment's one is spent.
- Bars come from `GET /v3/marketdata/barcharts/{symbol}?interval=1&unit=Minute|Daily&
  firstdate=..&lastdate=..&sessiontemplate=..`. An intraday request returns at most 57,600
  bars, so a request is split into windows of whole sessions that fit (`MAX_BARS`).
- Prices arrive as strings; `TimeStamp` is the bar's END (a 09:30 minute bar is stamped 09:31,
  a daily bar at the close): minute bars are restamped at their start and daily bars at
  midnight New York of their session (the store's convention, `tradelab.data.bars`). Bars
  still forming (`IsRealtime`, `BarStatus` other than Closed) are dropped.

Rate limits (429 with Retry-After), 5xx and dropped connections are retried by the session
(`rest_client.make_session`); what still fails is a `FetchError` naming symbol and window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import requests

from tradelab.data.bars import EXCHANGE_TZ, empty_bars
from tradelab.data.calendar import session_hours
from tradelab.data.rest_client import (
    Credentials,
    HttpSettings,
    RestFetcher,
    api_message,
    decode_json,
    numbers,
    records_frame,
    send,
    within_sessions,
)
from tradelab.errors import FetchError

__all__ = [
    "API_URL",
    "CREDENTIAL_ENV",
    "MAX_BARS",
    "TOKEN_URL",
    "TradeStationFetcher",
    "parse_bars",
]

log = logging.getLogger(__name__)
API_URL = "https://api.tradestation.com"
TOKEN_URL = "https://signin.tradestation.com/oauth/token"
MAX_BARS = 57_600
"""The most bars one intraday request may return (TradeStation's documented limit)."""
CREDENTIAL_ENV = {
    "client_id": "TRADESTATION_CLIENT_ID",
    "client_secret": "TRADESTATION_CLIENT_SECRET",
    "refresh_token": "TRADESTATION_REFRESH_TOKEN",
}
_UNITS = {"1min": "Minute", "1day": "Daily"}
_SESSION_MINUTES = {"Default": 390, "USEQPre": 720, "USEQPost": 630, "USEQPreAndPost": 960}
_REFRESH_MARGIN_S = 60.0
ERROR_KEYS = ("Message", "message", "error_description", "error", "Error")
_PRICES = {"Open": "open", "High": "high", "Low": "low", "Close": "close"}


class TradeStationFetcher(RestFetcher):
    """Fetches 1min and 1day bars from the TradeStation API (see the module doc).

    Credentials: `CREDENTIAL_ENV`, else `credentials_file`.
    """

    name = "tradestation"
    credential_env = CREDENTIAL_ENV
    error_keys = ERROR_KEYS
    auth_hint = (
        "the API refused the access token, even freshly refreshed: check the API key's "
        "market-data permissions"
    )
    unknown_hint = (
        "TradeStation does not know this symbol: check the spelling (TradeStation symbols, "
        "e.g. SPY, $SPX.X)"
    )

    def __init__(
        self,
        *,
        api_url: str = API_URL,
        token_url: str = TOKEN_URL,
        credentials_file: str | None = None,
        session_template: str = "Default",
        http: HttpSettings | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if session_template not in _SESSION_MINUTES:
            raise ValueError(
                f"unknown session template {session_template!r}: use one of "
                f"{list(_SESSION_MINUTES)}"
            )
        super().__init__(api_url=api_url, credentials_file=credentials_file, http=http, env=env)
        self.token_url = token_url
        self.session_template = session_template
        self._token: str | None = None
        self._expires = 0.0

    def _per_window(self, timeframe: str) -> int:
        if timeframe == "1min":
            return MAX_BARS // _SESSION_MINUTES[self.session_template]
        return MAX_BARS

    def _window(self, symbol: str, timeframe: str, first: date, last: date) -> pd.DataFrame:
        window = f"{timeframe} {first}..{last}"
        error = {"source": self.name, "symbol": symbol, "window": window}
        params = {
            "interval": "1",
            "unit": _UNITS[timeframe],
            "firstdate": _utc_text(_day_start(first)),
            "lastdate": _utc_text(_day_close(last)),
            "sessiontemplate": self.session_template,
        }
        url = f"{self.api_url}/v3/marketdata/barcharts/{symbol}"
        response = self._get(url, params, error)
        body = decode_json(response, error=error)
        if not isinstance(body, dict) or not isinstance(body.get("Bars"), list):
            raise FetchError(
                "the response has no 'Bars' list; nothing was stored",
                kind="bad_response",
                field="Bars",
                **error,
            )
        return within_sessions(parse_bars(body["Bars"], timeframe, error=error), first, last)

    def _get(self, url: str, params: dict[str, str], error: dict[str, str]) -> requests.Response:
        """GET with a valid access token; a 401 refreshes the token once and tries again."""
        for attempt in (1, 2):
            token = self._access_token(error, force=attempt == 2)
            response = self._get_with(token, url, params, error)
            if response.status_code != 401:
                break
        if response.status_code == 200:
            return response
        raise self._status_error(response, error)

    def _access_token(self, error: dict[str, str], *, force: bool = False) -> str:
        """Return a valid access token, refreshing it when absent, expiring or `force`."""
        if self._token is not None and not force and time.monotonic() < self._expires:
            return self._token
        credentials = self._load_credentials()
        values = credentials.values
        response = send(
            self._session,
            "POST",
            self.token_url,
            timeout_s=self.http.timeout_s,
            error={"source": self.name, "symbol": None, "window": None},
            data={
                "grant_type": "refresh_token",
                "client_id": values["client_id"],
                "client_secret": values["client_secret"],
                "refresh_token": values["refresh_token"],
            },
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if response.status_code != 200:
            raise self._token_error(response, credentials)
        body = decode_json(response, error={"source": self.name, "symbol": None, "window": None})
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise FetchError(
                "the token response has no access_token",
                kind="bad_response",
                source=self.name,
                field="access_token",
            )
        self._redact.add(token)
        self._token = str(token)
        lifetime = float(body.get("expires_in") or 1200)
        self._expires = time.monotonic() + max(0.0, lifetime - _REFRESH_MARGIN_S)
        rotated = body.get("refresh_token")
        if rotated and rotated != values["refresh_token"]:
            self._rotate(credentials, str(rotated))
        return self._token

    def _rotate(self, credentials: Credentials, refresh_token: str) -> None:
        """Keep a rotated refresh token: in the credentials file, or warn (environment)."""
        self._redact.add(refresh_token)
        self._credentials = credentials.store("refresh_token", refresh_token)
        if credentials.file is None:
            log.warning(
                "TradeStation rotated the refresh token: the one in %s is spent after this "
                "run; use a credentials file (data.credentials_file) so tradelab can keep the "
                "new one",
                CREDENTIAL_ENV["refresh_token"],
            )

    def _token_error(self, response: requests.Response, credentials: Credentials) -> FetchError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        code = body.get("error", "") if isinstance(body, dict) else ""
        detail = body.get("error_description", "") if isinstance(body, dict) else ""
        what = self._redact(f"{code}: {detail}" if code else api_message(response, ERROR_KEYS))
        where = credentials.file or ", ".join(CREDENTIAL_ENV.values())
        kind = "auth" if status in (400, 401, 403) else "unavailable"
        hint = (
            f"sign in again for a new refresh token and update {where}"
            if kind == "auth"
            else "try again later"
        )
        return FetchError(
            f"the token endpoint refused the refresh (HTTP {status}, {what}); {hint}",
            kind=kind,
            source=self.name,
        )


def parse_bars(
    records: list[Any], timeframe: str, *, error: Mapping[str, str | None]
) -> pd.DataFrame:
    """Turn barcharts `Bars` records into canonical bars (see the module doc)."""
    if not records:
        return empty_bars()
    needed = ["TimeStamp", *_PRICES, "TotalVolume"]
    frame = records_frame(records, needed, error=error, label="bar")
    live = np.zeros(len(frame), dtype=bool)
    if "IsRealtime" in frame.columns:
        live |= frame["IsRealtime"].fillna(False).astype(bool).to_numpy()
    if "BarStatus" in frame.columns:
        live |= (frame["BarStatus"].fillna("Closed") != "Closed").to_numpy()
    frame = frame.loc[~live].reset_index(drop=True)
    out = {"timestamp": _bar_starts(frame["TimeStamp"], timeframe, error)}
    for name, column in {**_PRICES, "TotalVolume": "volume"}.items():
        out[column] = numbers(frame[name], name, error=error, label="bar")
    ticks = (
        frame["TotalTicks"] if "TotalTicks" in frame.columns else pd.Series(0, index=frame.index)
    )
    out["transactions"] = numbers(ticks.fillna(0), "TotalTicks", error=error, label="bar").astype(
        np.int64
    )
    return pd.DataFrame(out)


def _bar_starts(stamps: pd.Series, timeframe: str, error: Mapping[str, str | None]) -> pd.Series:
    """Bar END stamps -> bar starts (1min) or midnight New York of the session (1day)."""
    try:
        ends = pd.to_datetime(stamps, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise FetchError(
            f"unreadable TimeStamp ({exc}); nothing was stored",
            kind="bad_response",
            field="TimeStamp",
            **error,
        ) from None
    if timeframe == "1min":
        return (ends - pd.Timedelta(minutes=1)).astype("datetime64[ns, UTC]")
    local = ends.dt.tz_convert(EXCHANGE_TZ).dt.normalize()
    return local.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def _day_start(day: date) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize(EXCHANGE_TZ).tz_convert("UTC")


def _day_close(day: date) -> pd.Timestamp:
    """The session's close (13:00 on an early close; 16:00 on a day without a session)."""
    index = pd.DatetimeIndex([pd.Timestamp(day)])
    _, (close,) = session_hours(index)
    minutes = int(close) if close >= 0 else 16 * 60
    local = (pd.Timestamp(day) + timedelta(minutes=minutes)).tz_localize(EXCHANGE_TZ)
    return local.tz_convert("UTC")


def _utc_text(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")

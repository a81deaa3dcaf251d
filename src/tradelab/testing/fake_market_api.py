"""A local fake of two market-data REST APIs: TradeStation v3 and Massive (formerly Polygon).

`FakeMarketApi` serves, on 127.0.0.1 and a free port, the endpoints the data connectors call:

- TradeStation: `POST /oauth/token` (refresh-token grant) and
  `GET /v3/marketdata/barcharts/{symbol}` (1-minute and daily bars, bearer access token, the
  documented limits of an intraday request: 57,600 bars and 3 calendar years). Bars are
  stamped at their END, prices and volume are strings, prices are split-adjusted.
- Massive: `GET /v2/aggs/ticker/{ticker}/range/1/{minute|day}/{from}/{to}` (API key in a bearer
  header or `apiKey=`). Bars are stamped at their START, minute bars include the extended hours,
  `adjusted=false` undoes splits, long answers are paged with a `next_url` carrying an opaque
  cursor (never the key).

The bars are synthetic and deterministic: a daily random walk per (seed, symbol) over every NYSE
session 1995-01-03..2040, and per session a Brownian bridge of minutes from the day's open to its
close, inside its high and low. The same seed, symbol and session give the same bars whatever
window asks for them. Faults can be queued for the next data requests (429, 5xx, truncated JSON),
access tokens expired, and the server made to drop every connection after N more good responses.
Every request is recorded. `python -m tradelab.testing.fake_market_api` serves one until Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import functools
import json
import re
import secrets
import socket
import socketserver
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import numpy as np
import pandas as pd

from tradelab.data.bars import EXCHANGE_TZ
from tradelab.data.calendar import minute_starts, session_hours, sessions

__all__ = ["DEFAULT_SPLITS", "DEFAULT_SYMBOLS", "FakeMarketApi", "RequestRecord", "main"]

DEFAULT_SYMBOLS = ("SMH", "QQQ", "SPY", "IWM", "XLK", "NVDA", "AAPL", "MSFT")
DEFAULT_SPLITS: Mapping[str, tuple[date, float]] = {"NVDA": (date(2024, 6, 10), 10.0)}
FIRST_DAY, LAST_DAY = date(1995, 1, 3), date(2040, 12, 31)
TS_MAX_BARS, TS_MAX_YEARS = 57_600, 3
MASSIVE_DEFAULT_LIMIT, MASSIVE_MAX_LIMIT = 5_000, 50_000
_TS_BARS, _AGGS, _TOKEN = "/v3/marketdata/barcharts/", "/v2/aggs/ticker/", "/oauth/token"
_NS_MIN, _NS_MS = 60_000_000_000, 1_000_000
_PRE_MINUTES, _POST_MINUTES = 330, 240  # 04:00-09:30 and 16:00-20:00 New York
# the keys of the bar objects, in the order their columns are built (Epoch: ms of TimeStamp)
_TS_KEYS = (
    "Open",
    "High",
    "Low",
    "Close",
    "TimeStamp",
    "TotalVolume",
    "TotalTicks",
    "UpTicks",
    "UpVolume",
    "DownTicks",
    "DownVolume",
    "Epoch",
)
_TS_FIXED = {
    "OpenInterest": "0",
    "IsRealtime": False,
    "IsEndOfHistory": False,
    "UnchangedTicks": 0,
    "UnchangedVolume": 0,
    "BarStatus": "Closed",
}
_MASSIVE_KEYS = ("v", "vw", "o", "h", "l", "c", "t", "n")


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered (status 0: its connection was dropped unanswered)."""

    method: str
    path: str
    query: dict[str, str]
    status: int


@dataclass(frozen=True)
class _Bars:
    """Bars as columns: session date (naive ns), start and end (UTC ns), prices, counts."""

    day: np.ndarray
    start: np.ndarray
    end: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    trades: np.ndarray
    extended: np.ndarray

    def __len__(self) -> int:
        return len(self.day)

    def prices(self) -> tuple[np.ndarray, ...]:
        """Return open, high, low, close."""
        return self.open, self.high, self.low, self.close

    @classmethod
    def make(
        cls,
        day: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        prices: Iterable[np.ndarray],
        volume: np.ndarray,
        trades: np.ndarray,
        extended: np.ndarray,
    ) -> _Bars:
        """Return bars with their open, high, low, close `prices` rounded to 4 decimals."""
        o, h, lo, c = (np.round(p, 4) for p in prices)
        return cls(day, start, end, o, h, lo, c, volume, trades, extended)

    def take(self, index: Any) -> _Bars:
        """Return the bars at `index` (a mask, a slice or positions)."""
        return _Bars(*(getattr(self, f.name)[index] for f in fields(self)))

    @staticmethod
    def concat(parts: list[_Bars]) -> _Bars:
        """Return `parts` one after the other (no bars when there are no parts)."""
        if not parts:
            ints, floats = np.empty(0, np.int64), np.empty(0, np.float64)
            return _Bars(ints, ints, ints, floats, floats, floats, floats, ints, ints, ints > 0)
        return _Bars(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(_Bars)))


class _Reply(Exception):
    """An HTTP answer raised from deep inside a handler (errors, mostly)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _error_name(status: int) -> str:
    return "".join(HTTPStatus(status).phrase.split())  # 429 -> "TooManyRequests"


def _ts_error(status: int, message: str) -> _Reply:
    return _Reply(status, {"Error": _error_name(status), "Message": message})


def _oauth_error(status: int, error: str, description: str) -> _Reply:
    return _Reply(status, {"error": error, "error_description": description})


def _massive_error(status: int, message: str, headers: dict[str, str] | None = None) -> _Reply:
    body = {"status": "ERROR", "request_id": secrets.token_hex(16), "error": message}
    return _Reply(status, body, headers)


def _ns(day: date) -> int:
    return pd.Timestamp(day).as_unit("ns").value


def _crc(symbol: str) -> int:
    return zlib.crc32(symbol.encode())


@functools.cache
def _calendar() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return every session 1995..2040: dates (naive ns), open and close minutes."""
    days = sessions(pd.Timestamp(FIRST_DAY), pd.Timestamp(LAST_DAY)).as_unit("ns")
    opens, closes = session_hours(days)
    return days.asi8, opens, closes


def _calendar_minutes(first: date, last: date) -> int:
    """Return how many regular-session minutes the sessions `first`..`last` hold."""
    days, opens, closes = _calendar()
    lo, hi = np.searchsorted(days, _ns(first)), np.searchsorted(days, _ns(last), side="right")
    return int((closes[lo:hi] - opens[lo:hi]).sum())


def _ohlc(rng: np.random.Generator, path: np.ndarray, wiggle: float) -> list[np.ndarray]:
    """Return open, high, low, close of the bars between the consecutive points of `path`."""
    open_, close = path[:-1], path[1:]
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, wiggle, len(open_))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, wiggle, len(open_))))
    return [open_, high, low, close]


@functools.lru_cache(maxsize=64)
def _daily(seed: int, symbol: str) -> _Bars:
    """Return every daily bar of `symbol` (adjusted), from one random walk over 1995..2040."""
    days, _, close_minute = _calendar()
    rng = np.random.default_rng([seed, _crc(symbol)])
    n = len(days)
    first = rng.uniform(20.0, 200.0)
    close = first * np.exp(np.cumsum(rng.normal(0.0002, 0.012, n)))
    open_ = np.concatenate([[first], close[:-1]]) * np.exp(rng.normal(0.0, 0.003, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.006, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.006, n)))
    volume = np.rint(rng.uniform(2e6, 6e7) * rng.lognormal(0.0, 0.35, n)).astype(np.int64)
    volume = np.maximum(volume, 100_000)
    trades = np.maximum(np.rint(volume / rng.uniform(80.0, 250.0)), 5_000).astype(np.int64)
    naive = pd.DatetimeIndex(days)
    start = naive.tz_localize(EXCHANGE_TZ).asi8
    end = (naive + pd.to_timedelta(close_minute, unit="min")).tz_localize(EXCHANGE_TZ).asi8
    prices = (open_, high, low, close)
    return _Bars.make(days, start, end, prices, volume, trades, np.zeros(n, bool))


def _extended(
    rng: np.random.Generator, starts: np.ndarray, anchor: float, day: int, *, before: bool
) -> _Bars:
    """Return thin bars at a random ~30% of `starts`, walking to (`before`) or from `anchor`."""
    m = len(starts)
    walk = np.cumsum(rng.normal(0.0, 0.0004, m))
    steps = np.concatenate([walk[::-1], [0.0]]) if before else np.concatenate([[0.0], walk])
    prices = _ohlc(rng, anchor * np.exp(steps), 0.0002)
    volume, trades = rng.integers(1, 60, m) * 100, rng.integers(1, 40, m)
    days, ends = np.full(m, day), starts + _NS_MIN
    bars = _Bars.make(days, starts, ends, prices, volume, trades, np.ones(m, bool))
    return bars.take(rng.random(m) < 0.3)


@functools.lru_cache(maxsize=512)
def _session_minutes(seed: int, symbol: str, index: int) -> _Bars:
    """Return the minute bars of session `index` of `symbol`: regular and extended hours."""
    daily = _daily(seed, symbol)
    day = int(daily.day[index])
    rng = np.random.default_rng([seed, _crc(symbol), pd.Timestamp(day).toordinal()])
    starts = minute_starts(pd.Timestamp(day))
    o, h, lo, c = (float(col[index]) for col in (daily.open, daily.high, daily.low, daily.close))
    n = len(starts)
    frac = np.arange(n + 1) / n
    walk = np.concatenate([[0.0], np.cumsum(rng.standard_normal(n))])
    log_path = np.log(o) + frac * np.log(c / o) + 0.0006 * (walk - frac * walk[-1])
    path = np.exp(np.clip(log_path, np.log(lo), np.log(h)))
    path[0], path[-1] = o, c
    open_, high, low, close = _ohlc(rng, path, 0.0003)
    high, low = np.minimum(high, h), np.maximum(low, lo)
    high[np.argmax(high)], low[np.argmin(low)] = h, lo  # the minutes reach the day's extremes
    weights = (1.0 + 3.0 * (2.0 * frac[:-1] - 1.0) ** 2) * rng.gamma(4.0, 0.25, n)
    weights /= weights.sum()
    volume = 1 + rng.multinomial(int(daily.volume[index]) - n, weights)
    trades = 1 + rng.multinomial(int(daily.trades[index]) - n, weights)
    prices, ends = (open_, high, low, close), starts + _NS_MIN
    volume, trades = volume.astype(np.int64), trades.astype(np.int64)
    regular = _Bars.make(np.full(n, day), starts, ends, prices, volume, trades, np.zeros(n, bool))
    if n < 390:  # an early close has no extended hours
        return regular
    pre = starts[0] - np.arange(_PRE_MINUTES, 0, -1) * _NS_MIN
    post = starts[-1] + np.arange(1, _POST_MINUTES + 1) * _NS_MIN
    pre_bars = _extended(rng, pre, o, day, before=True)
    return _Bars.concat([pre_bars, regular, _extended(rng, post, c, day, before=False)])


def _price_text(value: float) -> str:
    """Return `value` with 2 to 4 decimals, as TradeStation writes prices."""
    whole, _, decimals = f"{value:.4f}".rstrip("0").partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def _tradestation_bars(bars: _Bars) -> list[dict[str, Any]]:
    """Return TradeStation bar objects (stamped at their end, prices and volume as strings)."""
    stamps = np.datetime_as_string(bars.end.astype("datetime64[ns]"), unit="s", timezone="UTC")
    up_share = np.where(bars.close >= bars.open, 0.55, 0.45)
    up_ticks = np.rint(bars.trades * up_share).astype(np.int64)
    up_volume = np.rint(bars.volume * up_share).astype(np.int64)
    prices = [[_price_text(x) for x in col.tolist()] for col in bars.prices()]
    volume = [str(v) for v in bars.volume.tolist()]
    down_ticks, down_volume = bars.trades - up_ticks, bars.volume - up_volume
    counts = (bars.trades, up_ticks, up_volume, down_ticks, down_volume, bars.end // _NS_MS)
    columns = zip(*prices, stamps.tolist(), volume, *(c.tolist() for c in counts))
    return [dict(zip(_TS_KEYS, row), **_TS_FIXED) for row in columns]


def _massive_results(bars: _Bars) -> list[dict[str, Any]]:
    """Return Massive aggregate objects (stamped at their start, in ms)."""
    vwap = np.round((bars.high + bars.low + bars.close) / 3.0, 4)
    columns = (bars.volume.astype(np.float64), vwap, *bars.prices(), bars.start // _NS_MS)
    rows = zip(*(c.tolist() for c in (*columns, bars.trades)))
    return [dict(zip(_MASSIVE_KEYS, row)) for row in rows]


def _ts_date(query: dict[str, str], name: str) -> date:
    """Return the date part of a TradeStation `firstdate`/`lastdate` (400 when bad)."""
    text = query.get(name)
    if text is None:
        raise _ts_error(400, f"Missing required parameter '{name}'.")
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}:\d{2}Z)?", text)
    try:
        if match is None:
            raise ValueError(text)
        return date.fromisoformat(match[1])
    except ValueError:
        raise _ts_error(400, f"Invalid {name} '{text}'.") from None


def _agg_bound(text: str, name: str) -> tuple[date, int | None]:
    """Return the session date and, for a ms timestamp, the ns bound of a Massive from/to."""
    try:
        if text.isdigit():
            ms = int(text)
            return pd.Timestamp(ms, unit="ms", tz="UTC").tz_convert(EXCHANGE_TZ).date(), ms * _NS_MS
        return date.fromisoformat(text), None
    except (ValueError, OverflowError):
        raise _massive_error(400, f"Could not parse the '{name}' parameter {text!r}.") from None


class FakeMarketApi:
    """Serve fake TradeStation v3 and Massive market data on 127.0.0.1."""

    def __init__(
        self,
        *,
        seed: int = 0,
        symbols: Iterable[str] = DEFAULT_SYMBOLS,
        last_day: date | None = None,
        token_lifetime_s: int = 1200,
        page_size: int = 50_000,
        port: int = 0,
        splits: Mapping[str, tuple[date, float]] | None = None,
    ) -> None:
        self.seed, self.symbols, self.last_day = seed, tuple(symbols), last_day
        self.token_lifetime_s, self.page_size, self.port = token_lifetime_s, page_size, port
        self.splits = dict(DEFAULT_SPLITS if splits is None else splits)
        self.missing_minutes: float = 0.0
        self.missing_sessions: set[date] = set()
        self.rotate_refresh_tokens = False  # keys set to rotate: each grant spends the old one
        self.client_id, self.client_secret = secrets.token_urlsafe(12), secrets.token_urlsafe(24)
        self.refresh_token, self.api_key = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        self.url = ""
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # access token -> monotonic expiry
        self._faults: collections.deque[tuple[str, int]] = collections.deque()
        self._countdown: int | None = None  # good data responses left before dying
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeMarketApi:
        """Start serving in a background thread (no-op when already serving)."""
        if self._server is None:
            self._server = _Server(self, self.port)
            self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with server.lock:
            open_connections = list(server.connections)
        for sock in open_connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeMarketApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """Return the environment variables the data connectors read their credentials from."""
        return {
            "TRADESTATION_CLIENT_ID": self.client_id,
            "TRADESTATION_CLIENT_SECRET": self.client_secret,
            "TRADESTATION_REFRESH_TOKEN": self.refresh_token,
            "MASSIVE_API_KEY": self.api_key,
        }

    def data_requests(self) -> list[RequestRecord]:
        """Return the bar requests served so far (barcharts and aggs)."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith((_TS_BARS, _AGGS))]

    # -- fault injection ------------------------------------------------------------------------

    def rate_limit(self, n: int = 1, retry_after: int = 1) -> None:
        """Answer the next `n` data requests 429 with `Retry-After: retry_after`."""
        self._queue("rate", n, retry_after)

    def fail(self, n: int = 1, status: int = 503) -> None:
        """Answer the next `n` data requests with error `status` and a JSON error body."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error (4xx/5xx), got {status}")
        self._queue("fail", n, status)

    def malformed(self, n: int = 1) -> None:
        """Answer the next `n` data requests 200 with a truncated JSON body."""
        self._queue("malformed", n, 0)

    def expire_tokens(self) -> None:
        """Invalidate every access token issued so far."""
        with self._lock:
            self._tokens.clear()

    def die_after(self, n: int) -> None:
        """Drop every request's connection unanswered once `n` more data responses succeed."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        with self._lock:
            self._countdown = n

    def _queue(self, kind: str, n: int, value: int) -> None:
        with self._lock:
            self._faults.extend([(kind, value)] * n)

    # -- answering ------------------------------------------------------------------------------

    def _serve(
        self, method: str, path: str, query: dict[str, str], auth: str, body: bytes
    ) -> tuple[int, bytes, dict[str, str]] | None:
        """Return the status, body and headers answering a request; None to drop it."""
        with self._lock:
            dead = self._countdown == 0
        if dead:
            self._record(RequestRecord(method, path, query, 0))
            return None
        headers: dict[str, str] = {}
        try:
            if path.startswith((_TS_BARS, _AGGS)) and method == "GET":
                payload: Any = self._data(path, query, auth)
                with self._lock:
                    if self._countdown and not isinstance(payload, bytes):
                        self._countdown -= 1
            elif path == _TOKEN and method == "POST":
                payload = self._token(dict(parse_qsl(body.decode("utf-8", "replace"))))
            else:
                raise _Reply(404, {"error": f"No route for {method} {path}"})
            status = 200
        except _Reply as reply:
            status, payload, headers = reply.status, reply.body, reply.headers
        except Exception as exc:  # a bug here: answer it rather than hang the client
            status, payload = 500, {"error": f"{type(exc).__name__}: {exc}"}
        self._record(RequestRecord(method, path, query, status))
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return status, data, headers

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def _token(self, form: dict[str, str]) -> dict[str, Any]:
        """Answer `POST /oauth/token` (the refresh-token grant) with a new access token."""
        if form.get("grant_type") != "refresh_token":
            raise _oauth_error(400, "unsupported_grant_type", "Only refresh_token is supported.")
        client = (form.get("client_id"), form.get("client_secret"))
        if client != (self.client_id, self.client_secret):
            raise _oauth_error(401, "access_denied", "Unauthorized")
        if form.get("refresh_token") != self.refresh_token:
            raise _oauth_error(403, "invalid_grant", "Unknown or invalid refresh token.")
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime_s
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime_s,
            "scope": "openid offline_access MarketData",
            "id_token": secrets.token_urlsafe(48),
        }
        if self.rotate_refresh_tokens:
            self.refresh_token = body["refresh_token"] = secrets.token_urlsafe(32)
        return body

    def _data(self, path: str, query: dict[str, str], auth: str) -> Any:
        """Answer a bar request: an injected fault first, else the API's answer."""
        tradestation = path.startswith(_TS_BARS)
        with self._lock:
            kind, value = self._faults.popleft() if self._faults else ("", 0)
        if kind == "rate":
            headers = {"Retry-After": str(value)}
            if tradestation:
                raise _Reply(
                    429, {"Error": "TooManyRequests", "Message": "Rate limit exceeded."}, headers
                )
            raise _massive_error(
                429,
                "You've exceeded the maximum requests per minute, please "
                "wait or upgrade your subscription.",
                headers,
            )
        if kind == "fail":
            error = _ts_error if tradestation else _massive_error
            raise error(value, f"{HTTPStatus(value).phrase}; try again later.")
        if kind == "malformed":
            return b'{"Bars": [{"High": "1' if tradestation else b'{"ticker": "X", "results": [{"v'
        if tradestation:
            return self._barcharts(unquote(path[len(_TS_BARS) :]), query, auth)
        return self._aggs(path[len(_AGGS) :].split("/"), query, auth)

    def _chunks(
        self, symbol: str, daily: bool, first: date, last: date, *, extended: bool, adjusted: bool
    ) -> Iterator[_Bars]:
        """Yield the bars of sessions `first`..`last`: one chunk of days, or one per session."""
        first = max(first, FIRST_DAY)
        last = min(last, LAST_DAY if self.last_day is None else min(self.last_day, LAST_DAY))
        if first > last or symbol not in self.symbols:
            return
        days = _daily(self.seed, symbol)
        lo = np.searchsorted(days.day, _ns(first))
        hi = np.searchsorted(days.day, _ns(last), side="right")
        missing = np.array([_ns(d) for d in self.missing_sessions], dtype=np.int64)
        if daily:
            bars = days.take(slice(lo, hi))
            yield self._adjust(symbol, bars.take(~np.isin(bars.day, missing)), adjusted)
            return
        for index in range(lo, hi):
            if days.day[index] in missing:
                continue
            bars = _session_minutes(self.seed, symbol, index)
            keep = np.ones(len(bars), bool) if extended else ~bars.extended
            if self.missing_minutes > 0:
                ordinal = pd.Timestamp(int(days.day[index])).toordinal()
                rng = np.random.default_rng([self.seed, _crc(symbol), ordinal, 1])
                keep &= bars.extended | (rng.random(len(bars)) >= self.missing_minutes)
            yield self._adjust(symbol, bars.take(keep), adjusted)

    def _adjust(self, symbol: str, bars: _Bars, adjusted: bool) -> _Bars:
        """Return `bars` as traded (unadjusted) when not `adjusted`: before a split, x ratio."""
        if adjusted or symbol not in self.splits:
            return bars
        split_day, ratio = self.splits[symbol]
        before = bars.day < _ns(split_day)
        prices = {
            k: np.round(np.where(before, getattr(bars, k) * ratio, getattr(bars, k)), 4)
            for k in ("open", "high", "low", "close")
        }
        volume = np.where(before, np.maximum(1, np.rint(bars.volume / ratio)), bars.volume)
        return replace(bars, **prices, volume=volume.astype(np.int64))

    def _barcharts(self, symbol: str, query: dict[str, str], auth: str) -> dict[str, Any]:
        """Answer `GET /v3/marketdata/barcharts/{symbol}`."""
        scheme, _, token = auth.partition(" ")
        with self._lock:
            expiry = self._tokens.get(token, 0.0) if scheme.lower() == "bearer" else 0.0
        if expiry <= time.monotonic():
            raise _ts_error(401, "Access token is invalid or expired.")
        if query.get("interval", "1") != "1":
            raise _ts_error(400, "Only interval=1 is supported by this server.")
        unit = query.get("unit", "Daily")
        if unit.lower() not in ("minute", "daily"):
            raise _ts_error(400, f"Unit '{unit}' is unsupported by this server.")
        template = query.get("sessiontemplate", "Default")
        if template.lower() != "default":
            raise _ts_error(400, f"Session template '{template}' is unsupported.")
        first, last = _ts_date(query, "firstdate"), _ts_date(query, "lastdate")
        if last < first:
            raise _ts_error(400, "lastdate must not be before firstdate.")
        if symbol not in self.symbols:
            raise _ts_error(404, f"Symbol {symbol} not found.")
        minute = unit.lower() == "minute"
        if minute and pd.Timestamp(first) + pd.DateOffset(years=TS_MAX_YEARS) < pd.Timestamp(last):
            raise _ts_error(400, f"An intraday date range may span at most {TS_MAX_YEARS} years.")
        if minute and _calendar_minutes(max(first, FIRST_DAY), min(last, LAST_DAY)) > TS_MAX_BARS:
            raise _ts_error(400, f"An intraday request may return at most {TS_MAX_BARS} bars.")
        chunks = self._chunks(symbol, not minute, first, last, extended=False, adjusted=True)
        return {"Bars": _tradestation_bars(_Bars.concat(list(chunks)))}

    def _aggs(self, parts: list[str], query: dict[str, str], auth: str) -> dict[str, Any]:
        """Answer `GET /v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}`."""
        scheme, _, key = auth.partition(" ")
        if (key if scheme.lower() == "bearer" else query.get("apiKey")) != self.api_key:
            raise _massive_error(401, "Unknown API Key")
        if len(parts) != 6 or parts[1] != "range":
            raise _Reply(404, {"status": "NOT_FOUND", "message": "Unknown aggregates route."})
        ticker, _, multiplier, timespan, from_text, to_text = (unquote(p) for p in parts)
        if multiplier != "1" or timespan not in ("minute", "day"):
            raise _massive_error(400, "Only multiplier 1 and timespan minute or day are served.")
        if query.get("sort", "asc") != "asc":
            raise _massive_error(400, "Only sort=asc is supported by this server.")
        try:
            if "cursor" in query:
                cursor = query["cursor"]
                state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
                from_text, to_text = str(int(state["from_ms"])), str(state["to"])
                adjusted, limit = bool(state["adjusted"]), int(state["limit"])
            else:
                adjusted = {"true": True, "false": False}[query.get("adjusted", "true").lower()]
                limit = int(query.get("limit", MASSIVE_DEFAULT_LIMIT))
        except (ValueError, KeyError, TypeError):
            raise _massive_error(400, "Invalid cursor, adjusted or limit parameter.") from None
        limit = min(max(limit, 1), MASSIVE_MAX_LIMIT)
        (first, lo_ns), (last, hi_ns) = _agg_bound(from_text, "from"), _agg_bound(to_text, "to")
        per_page, held, parts_ = min(limit, self.page_size), 0, []
        chunks = self._chunks(
            ticker, timespan == "day", first, last, extended=True, adjusted=adjusted
        )
        for chunk in chunks:
            keep = np.ones(len(chunk), bool)
            if lo_ns is not None:
                keep &= chunk.start >= lo_ns
            if hi_ns is not None:
                keep &= chunk.start <= hi_ns
            parts_.append(chunk.take(keep))
            held += int(keep.sum())
            if held > per_page:
                break
        bars = _Bars.concat(parts_)
        page = bars.take(slice(0, per_page))
        n = len(page)
        body: dict[str, Any] = dict(ticker=ticker, queryCount=n, resultsCount=n, adjusted=adjusted)
        if n:
            body["results"] = _massive_results(page)
        body.update(status="OK", request_id=secrets.token_hex(16), count=n)
        if len(bars) > per_page:
            next_ms = int(bars.start[per_page]) // _NS_MS
            state = {"from_ms": next_ms, "to": to_text, "adjusted": adjusted, "limit": limit}
            cursor = base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
            body["next_url"] = (
                f"{self.url}{_AGGS}{quote(ticker)}/range/1/{timespan}/{next_ms}/{to_text}?"
                + urlencode({"cursor": cursor})
            )
        return body


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its `FakeMarketApi` and its open connections."""

    daemon_threads = True

    def __init__(self, api: FakeMarketApi, port: int) -> None:
        self.api = api
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the host (slow on some machines)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    """Hand each request to the server's `FakeMarketApi` and write its answer."""

    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: `FakeMarketApi.requests` records every request."""

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        auth = self.headers.get("Authorization", "")
        answer = self.server.api._serve(self.command, url.path, query, auth, body)
        if answer is None:  # dying: close the connection without a word
            self.close_connection = True
            return
        status, payload, headers = answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def main(argv: list[str] | None = None) -> int:
    """Serve a fake market API in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m tradelab.testing.fake_market_api",
        description="Serve fake TradeStation v3 and Massive market data on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port (0: a free one)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic bars")
    day = date.fromisoformat
    parser.add_argument("--last-day", type=day, help="no bars after this date (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    with FakeMarketApi(seed=args.seed, last_day=args.last_day, port=args.port) as api:
        print(f"Fake market API serving at {api.url} (seed {args.seed}); Ctrl-C stops it.")
        print("Export:")
        for name, value in api.env().items():
            print(f"  export {name}={value}")
        print(f"Overrides: data.api_url={api.url} data.token_url={api.url}{_TOKEN}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("Stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

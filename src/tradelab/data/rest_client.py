"""What the REST fetchers share: one `requests` session with bounded retries, JSON decoding
into typed errors, credentials that never reach a message, and request windows.

Retries are urllib3's (`Retry` mounted on the session): connection errors, 429 and 5xx are
retried with exponential backoff, a `Retry-After` header is honoured, and no single wait is
longer than `max_wait_s` (`BoundedRetry`), so a quota that resets in five minutes cannot hang a
job silently. What is still failing after the retries becomes a `FetchError` of kind
`unavailable`; a job may then fall back to its cached data (`ParquetStore.get`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tradelab.atomic import write_bytes_atomic
from tradelab.data.bars import empty_bars
from tradelab.data.calendar import sessions
from tradelab.errors import FetchError

__all__ = [
    "RETRY_STATUSES",
    "BoundedRetry",
    "Credentials",
    "HttpSettings",
    "Redactor",
    "RestFetcher",
    "api_message",
    "decode_json",
    "make_session",
    "numbers",
    "records_frame",
    "report_missing_sessions",
    "send",
    "session_windows",
    "within_sessions",
]

log = logging.getLogger(__name__)
RETRY_STATUSES = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class HttpSettings:
    """`timeout_s` per request; `retries` after the first try; backoff doubles from
    `backoff_s` and every wait (backoff or Retry-After) is capped at `max_wait_s`."""

    timeout_s: float = 30.0
    retries: int = 5
    backoff_s: float = 1.0
    max_wait_s: float = 60.0


class BoundedRetry(Retry):
    """urllib3's `Retry`, except that a `Retry-After` wait is capped at `backoff_max` too."""

    def get_retry_after(self, response: Any) -> float | None:
        after = super().get_retry_after(response)
        if after is not None and after > self.backoff_max:
            log.warning(
                "the server asks to wait %.0f s (Retry-After); waiting %.0f s (max_wait_s)",
                after,
                self.backoff_max,
            )
            return self.backoff_max
        return after


def make_session(settings: HttpSettings) -> requests.Session:
    """Return a session that retries connection errors, 429 and 5xx as `settings` say."""
    retry = BoundedRetry(
        total=settings.retries,
        backoff_factor=settings.backoff_s,
        backoff_max=settings.max_wait_s,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None,  # the token POST is safe to repeat too
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Redactor:
    """Replaces every known secret in a text by `***` (for messages built from responses)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = {s for s in secrets if s}

    def add(self, secret: str | None) -> None:
        if secret:
            self._secrets.add(secret)

    def __call__(self, text: object) -> str:
        out = str(text)
        for secret in sorted(self._secrets, key=len, reverse=True):
            out = out.replace(secret, "***")
        return out


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout_s: float,
    error: Mapping[str, str | None],
    **kwargs: Any,
) -> requests.Response:
    """Make one request (with the session's retries); a transport failure is a `FetchError`.

    `error` holds the `FetchError` fields (source, symbol, window). The message names the
    host and the failure's type, never the request's headers or body.
    """
    try:
        return session.request(method, url, timeout=timeout_s, **kwargs)
    except requests.RequestException as exc:
        host = requests.utils.urlparse(url).netloc
        reason = _root_cause(exc)
        raise FetchError(
            f"cannot reach {host} ({reason}) after the retries; check the connection or try "
            "again later",
            kind="unavailable",
            **error,
        ) from None


def _root_cause(exc: requests.RequestException) -> str:
    """Name what failed under a transport error (e.g. `ProtocolError`, `NewConnectionError`)."""
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", None)
    return type(reason if isinstance(reason, BaseException) else exc).__name__


def decode_json(response: requests.Response, *, error: Mapping[str, str | None]) -> Any:
    """Return the response's JSON; an unreadable body is a `FetchError` (bad_response)."""
    try:
        return response.json()
    except (ValueError, requests.RequestException) as exc:
        size = len(response.content or b"")
        raise FetchError(
            f"the response (HTTP {response.status_code}, {size} bytes) is not valid JSON: "
            f"{type(exc).__name__}; nothing was stored",
            kind="bad_response",
            **error,
        ) from None


def api_message(response: requests.Response, keys: Iterable[str]) -> str:
    """Return the API's own error text (the first of `keys` in a JSON body), else the start of
    the body (at most 200 characters)."""
    try:
        body = response.json()
    except (ValueError, requests.RequestException):
        return (response.text or "").strip()[:200] or response.reason or "no body"
    if isinstance(body, dict):
        for key in keys:
            if body.get(key):
                return str(body[key])[:200]
    return str(body)[:200]


@dataclass(frozen=True)
class Credentials:
    """Secrets read from environment variables (all of `names`) or a JSON file outside the
    working tree. `values` maps the file's keys to the secrets; its repr shows no secret."""

    source: str
    values: Mapping[str, str]
    file: Path | None = None

    def __repr__(self) -> str:
        where = self.file or "environment"
        return f"Credentials({self.source}, keys={sorted(self.values)}, from={where})"

    @classmethod
    def load(
        cls,
        source: str,
        names: Mapping[str, str],
        file: str | None,
        *,
        env: Mapping[str, str] | None = None,
        workdir: Path | None = None,
    ) -> Credentials:
        """Read the secrets `names` ({file key: environment variable}) from the environment
        when every variable is set, else from `file`; a `FetchError` (auth) says what to set."""
        env = os.environ if env is None else env
        found = {key: env.get(var, "") for key, var in names.items()}
        if all(found.values()):
            return cls(source, found)
        path = Path(file).expanduser() if file else None
        if path is not None and path.exists():
            _refuse_inside(path, workdir or Path.cwd(), source)
            try:
                raw = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise FetchError(
                    f"cannot read the credentials file {path}: {type(exc).__name__}",
                    kind="auth",
                    source=source,
                ) from None
            missing = [key for key in names if not isinstance(raw, dict) or not raw.get(key)]
            if not missing:
                return cls(source, {key: str(raw[key]) for key in names}, path)
            raise FetchError(
                f"the credentials file {path} lacks {missing}",
                kind="auth",
                source=source,
                field=missing[0],
            )
        unset = [var for key, var in names.items() if not found[key]]
        where = f" or write {path} with keys {list(names)}" if path else ""
        raise FetchError(
            f"no credentials: set {', '.join(unset)}{where}",
            kind="auth",
            source=source,
        )

    def store(self, key: str, value: str) -> Credentials:
        """Return credentials with `key` replaced; a file-backed secret is rewritten (0600)."""
        values = {**self.values, key: value}
        if self.file is not None:
            raw = json.loads(self.file.read_text())
            raw[key] = value
            write_bytes_atomic(self.file, (json.dumps(raw, indent=2) + "\n").encode())
            self.file.chmod(0o600)
        return Credentials(self.source, values, self.file)


def _refuse_inside(path: Path, workdir: Path, source: str) -> None:
    """Refuse a credentials file inside a git working tree (it could be committed)."""
    resolved = path.resolve()
    for folder in (workdir.resolve(), *workdir.resolve().parents):
        if (folder / ".git").exists():
            if resolved.is_relative_to(folder):
                raise FetchError(
                    f"the credentials file {path} is inside the working tree {folder}, where "
                    "it could be committed: move it out (e.g. ~/.config/tradelab/) or use "
                    "environment variables",
                    kind="auth",
                    source=source,
                )
            return


def session_windows(start: date, end: date, per_window: int) -> Iterator[tuple[date, date]]:
    """Split the sessions of `start`..`end` into windows of at most `per_window` sessions."""
    days = sessions(start, end)
    for k in range(0, len(days), max(1, per_window)):
        chunk = days[k : k + per_window]
        yield chunk[0].date(), chunk[-1].date()


class RestFetcher:
    """What the REST fetchers share: the `Fetcher` protocol over windows of sessions, and the
    mapping of HTTP failures to `FetchError` kinds.

    A subclass sets `name`, `credential_env` ({credentials-file key: environment variable}),
    `error_keys` (where its API puts an error's text), `auth_hint` and `unknown_hint` (what a
    refused credential or an unknown symbol should tell the user), and implements
    `_per_window(timeframe)` and `_window(symbol, timeframe, first, last)`. Credentials are
    read on the first request (`_load_credentials`), so a job whose data is cached runs
    without them.
    """

    name = "rest"
    credential_env: Mapping[str, str] = {}
    error_keys: tuple[str, ...] = ("message", "error")
    auth_hint = "the credentials were refused"
    unknown_hint = "the API does not know this symbol"

    def __init__(
        self,
        *,
        api_url: str,
        credentials_file: str | None,
        http: HttpSettings | None,
        env: Mapping[str, str] | None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.credentials_file = credentials_file
        self.http = http or HttpSettings()
        self._env = env
        self._session = make_session(self.http)
        self._credentials: Credentials | None = None
        self._redact = Redactor()

    def _credential_sources(self) -> Mapping[str, str]:
        """The environment credentials are read from (default: the process's)."""
        return os.environ if self._env is None else self._env

    def _load_credentials(self) -> Credentials:
        """Read the credentials once; every secret is redacted from messages from then on."""
        if self._credentials is None:
            self._credentials = Credentials.load(
                self.name,
                self.credential_env,
                self.credentials_file,
                env=self._credential_sources(),
            )
            for secret in self._credentials.values.values():
                self._redact.add(secret)
        return self._credentials

    def fetch(self, symbol: str, timeframe: str, start: date, end: date) -> pd.DataFrame:
        """Return the bars of `symbol` for sessions `start`..`end`: every window, or an error."""
        if timeframe not in ("1min", "1day"):
            raise ValueError(f"{self.name} bars are fetched as 1min or 1day, not {timeframe!r}")
        windows = list(session_windows(start, end, self._per_window(timeframe)))
        frames = []
        for k, (first, last) in enumerate(windows):
            if len(windows) > 1:
                log.info(
                    "%s %s %s: window %d/%d (%s..%s)",
                    self.name,
                    symbol,
                    timeframe,
                    k + 1,
                    len(windows),
                    first,
                    last,
                )
            frame = self._window(symbol, timeframe, first, last)
            if len(frame):
                frames.append(frame)
        if not frames:
            return empty_bars()
        bars = pd.concat(frames, ignore_index=True)
        report_missing_sessions(
            bars, source=self.name, symbol=symbol, timeframe=timeframe, start=start, end=end
        )
        return bars

    def available(self, symbol: str, timeframe: str) -> tuple[date, date] | None:
        """The API does not say without a request: the job's `data.start`/`data.end` decide."""
        return None

    def _per_window(self, timeframe: str) -> int:
        raise NotImplementedError

    def _window(self, symbol: str, timeframe: str, first: date, last: date) -> pd.DataFrame:
        raise NotImplementedError

    def _get_with(
        self,
        token: str,
        url: str,
        params: Mapping[str, str] | None,
        error: Mapping[str, str | None],
    ) -> requests.Response:
        """GET `url` with a bearer `token` (header only: never in the URL)."""
        return send(
            self._session,
            "GET",
            url,
            timeout_s=self.http.timeout_s,
            error=error,
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        )

    def _status_error(
        self, response: requests.Response, error: Mapping[str, str | None]
    ) -> FetchError:
        """Map a failed response to a `FetchError` (retryable statuses are past their retries)."""
        status = response.status_code
        message = self._redact(api_message(response, self.error_keys))
        said = f"(HTTP {status}: {message})"
        if status in (401, 403):
            return FetchError(f"{self.auth_hint} {said}", kind="auth", **error)
        if status == 404 or (status == 400 and "symbol" in message.lower()):
            return FetchError(f"{self.unknown_hint} {said}", kind="unknown_symbol", **error)
        if status == 400:
            return FetchError(f"the API refused the request {said}", kind="bad_response", **error)
        retried = f" after {self.http.retries} retries" if status in RETRY_STATUSES else ""
        return FetchError(
            f"HTTP {status}{retried} ({message}); try again later", kind="unavailable", **error
        )


def records_frame(
    records: list[Any], required: Iterable[str], *, error: Mapping[str, str | None], label: str
) -> pd.DataFrame:
    """Return the JSON `records` as a frame; a record without a `required` field is a
    `FetchError` naming the field and the record (`<label> <k>`, 1-based)."""
    frame = pd.DataFrame.from_records([r if isinstance(r, dict) else {} for r in records])
    for name in required:
        if name not in frame.columns or frame[name].isna().any():
            row = 0 if name not in frame.columns else int(np.flatnonzero(frame[name].isna())[0])
            raise FetchError(
                f"{label} {row + 1} has no {name}; nothing was stored",
                kind="bad_response",
                field=name,
                **error,
            )
    return frame


def numbers(
    values: pd.Series, name: str, *, error: Mapping[str, str | None], label: str
) -> np.ndarray:
    """Return `values` (numbers or numeric strings) as float64; the first that is not a number
    is a `FetchError` naming the field, the record and the value."""
    parsed = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise FetchError(
            f"{label} {bad[0] + 1}: {values.iloc[bad[0]]!r} is not a number; nothing was stored",
            kind="bad_response",
            field=name,
            **error,
        )
    return parsed.to_numpy(dtype=np.float64)


def within_sessions(bars: pd.DataFrame, first: date, last: date) -> pd.DataFrame:
    """Return the bars whose session (New York date) lies in `first`..`last`."""
    days = bars["timestamp"].dt.tz_convert("America/New_York").dt.date
    return bars.loc[((days >= first) & (days <= last)).to_numpy()].reset_index(drop=True)


def report_missing_sessions(
    frame: pd.DataFrame, *, source: str, symbol: str, timeframe: str, start: date, end: date
) -> list[date]:
    """Warn about sessions of `start`..`end` the API returned no bar for; return them."""
    if frame.empty:
        return []
    expected = sessions(start, end)
    have = pd.DatetimeIndex(frame["timestamp"].dt.tz_convert("America/New_York").dt.date)
    first, last = have.min(), have.max()
    inside = expected[(expected >= first) & (expected <= last)]  # the API's own history span
    absent = inside.difference(have.normalize())
    if len(absent):
        shown = ", ".join(str(d.date()) for d in absent[:5])
        more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
        log.warning(
            "%s %s %s: no bars for %d of %d sessions in %s..%s (%s%s); stored as served",
            source,
            symbol,
            timeframe,
            len(absent),
            len(inside),
            start,
            end,
            shown,
            more,
        )
    return [d.date() for d in absent]

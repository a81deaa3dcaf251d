"""The NYSE session calendar, from `exchange_calendars` (XNYS).

It knows the regular holidays, the special closures (2001-09-11..14, Hurricane Sandy, national
days of mourning such as 2018-12-05 and 2025-01-09) and the early closes (13:00 New York on the
day after Thanksgiving, Christmas Eve, ...). Its rules are computed, nothing is downloaded. A
calendar covering 1990-2040 is built once; a request outside that span builds (and caches) one
that covers it, in whole decades. Session dates are naive midnights (`datetime64[ns]`).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradelab.data.bars import EXCHANGE_TZ

__all__ = [
    "FINAL_AFTER",
    "SESSION_CLOSE",
    "SESSION_OPEN",
    "last_complete_session",
    "minute_starts",
    "next_sessions",
    "session_hours",
    "sessions",
]

SESSION_OPEN = pd.Timedelta(hours=9, minutes=30)
SESSION_CLOSE = pd.Timedelta(hours=16)
_FIRST_YEAR, _LAST_YEAR = 1990, 2040
_NS_MIN = 60_000_000_000
FINAL_AFTER = pd.Timedelta(hours=1)
"""How long after the close a session's bars count as final (data vendors settle late trades)."""


@dataclass(frozen=True)
class _Schedule:
    """Sessions (naive dates) with their open and close minute of the New York day."""

    days: pd.DatetimeIndex
    open_minute: np.ndarray
    close_minute: np.ndarray


def _local_minutes(times: pd.Series) -> np.ndarray:
    local = pd.DatetimeIndex(times).tz_convert(EXCHANGE_TZ)
    return (local.hour * 60 + local.minute).to_numpy(dtype=np.int64)


@functools.cache
def _schedule(first_year: int, last_year: int) -> _Schedule:
    import exchange_calendars as xcals

    with warnings.catch_warnings():  # older releases trip pandas 3 deprecations while building
        warnings.simplefilter("ignore")
        cal = xcals.get_calendar("XNYS", start=f"{first_year}-01-01", end=f"{last_year}-12-31")
        opens, closes = cal.opens, cal.closes
    days = pd.DatetimeIndex(np.asarray(opens.index, dtype="datetime64[ns]"))
    return _Schedule(days, _local_minutes(opens), _local_minutes(closes))


def _covering(start: pd.Timestamp, end: pd.Timestamp) -> _Schedule:
    """Return the cached schedule that covers the dates `start`..`end`."""
    first = min(_FIRST_YEAR, start.year // 10 * 10)
    last = max(_LAST_YEAR, end.year // 10 * 10 + 9)
    return _schedule(first, last)


def _day(value: str | pd.Timestamp) -> pd.Timestamp:
    """Return the naive date of `value` (an aware time counts in New York)."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(EXCHANGE_TZ).tz_localize(None)
    return ts.normalize().as_unit("ns")


def sessions(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """Return the NYSE session dates (naive, midnight) from `start` to `end` inclusive."""
    start_ts, end_ts = _day(start), _day(end)
    if end_ts < start_ts:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    days = _covering(start_ts, end_ts).days
    return days[(days >= start_ts) & (days <= end_ts)]


def next_sessions(after: pd.Timestamp, n: int) -> pd.DatetimeIndex:
    """Return the `n` session dates (naive, midnight) after the date of `after`.

    An aware `after` counts by its New York date; weekends, holidays and special closures are
    skipped.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    day = _day(after)
    span = pd.Timedelta(days=2 * n + 14)  # NYSE never closes for more than 4 days in a row
    found = sessions(day + pd.Timedelta(days=1), day + span)
    while len(found) < n:
        span *= 2
        found = sessions(day + pd.Timedelta(days=1), day + span)
    return found[:n]


def session_hours(days: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Return each date's regular-session open and close as minutes of the New York day.

    Early closes end early (13:00 -> 780); a date that is not a session (-1, -1).
    """
    days = pd.DatetimeIndex(days).as_unit("ns")
    if days.tz is not None:
        days = days.tz_convert(EXCHANGE_TZ).tz_localize(None)
    days = days.normalize()
    opens = np.full(len(days), -1, dtype=np.int64)
    closes = np.full(len(days), -1, dtype=np.int64)
    if len(days) == 0:
        return opens, closes
    schedule = _covering(days.min(), days.max())
    pos = schedule.days.get_indexer(days)
    found = pos >= 0
    opens[found] = schedule.open_minute[pos[found]]
    closes[found] = schedule.close_minute[pos[found]]
    return opens, closes


def minute_starts(day: pd.Timestamp) -> np.ndarray:
    """Return the regular-session minute starts of session `day` as int64 ns UTC.

    390 minutes on a full session, 210 on an early close (09:30-13:00).
    """
    date = _day(day)
    (open_minute,), (close_minute,) = session_hours(pd.DatetimeIndex([date]))
    if open_minute < 0:
        raise ValueError(f"{date.date()} is not an NYSE session")
    first = (date + pd.Timedelta(minutes=int(open_minute))).tz_localize(EXCHANGE_TZ)
    count = int(close_minute - open_minute)
    return first.tz_convert("UTC").value + np.arange(count, dtype=np.int64) * _NS_MIN


def last_complete_session(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """Return the last session (naive date) whose bars are final at `now` (default: now).

    A session is final `FINAL_AFTER` its close (13:00 New York on an early close): before
    that, today's daily bar is still forming, so the previous session is the last complete one.
    Weekends and holidays fall back to the session before them.
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now}")
    local = now.tz_convert(EXCHANGE_TZ)
    today = _day(now)
    recent = sessions(today - pd.Timedelta(days=14), today)
    if len(recent) and recent[-1] == today:
        _, (close_minute,) = session_hours(pd.DatetimeIndex([today]))
        final = today + pd.Timedelta(minutes=int(close_minute)) + FINAL_AFTER
        if local.tz_localize(None) < final:
            recent = recent[:-1]
    return recent[-1]

"""A US equity session calendar (NYSE full-day holidays; early closes are not modelled)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from pandas.tseries.holiday import (
    AbstractHolidayCalendar,
    GoodFriday,
    Holiday,
    USLaborDay,
    USMartinLutherKingJr,
    USMemorialDay,
    USPresidentsDay,
    USThanksgivingDay,
    nearest_workday,
    sunday_to_monday,
)

from tradelab.data.bars import EXCHANGE_TZ

__all__ = ["SESSION_CLOSE", "SESSION_OPEN", "minute_starts", "sessions"]

SESSION_OPEN = pd.Timedelta(hours=9, minutes=30)
SESSION_CLOSE = pd.Timedelta(hours=16)


class _NyseHolidays(AbstractHolidayCalendar):
    rules = [  # noqa: RUF012 - pandas reads this class attribute
        Holiday("NewYearsDay", month=1, day=1, observance=sunday_to_monday),
        USMartinLutherKingJr,
        USPresidentsDay,
        GoodFriday,
        USMemorialDay,
        Holiday("Juneteenth", month=6, day=19, start_date="2022-06-19", observance=nearest_workday),
        Holiday("IndependenceDay", month=7, day=4, observance=nearest_workday),
        USLaborDay,
        USThanksgivingDay,
        Holiday("Christmas", month=12, day=25, observance=nearest_workday),
    ]


@functools.cache
def _holidays(start: str, end: str) -> pd.DatetimeIndex:
    return _NyseHolidays().holidays(start=start, end=end)


def sessions(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """Return session dates (naive, midnight) from `start` to `end` inclusive."""
    start_ts, end_ts = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    days = pd.bdate_range(start_ts, end_ts)
    return days.difference(_holidays(str(start_ts.date()), str(end_ts.date())))


def minute_starts(day: pd.Timestamp) -> np.ndarray:
    """Return the 390 regular-session minute starts of `day` as int64 ns UTC."""
    open_local = (pd.Timestamp(day).normalize() + SESSION_OPEN).tz_localize(EXCHANGE_TZ)
    first = open_local.tz_convert("UTC").value
    return first + np.arange(390, dtype=np.int64) * 60_000_000_000

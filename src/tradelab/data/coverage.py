"""Coverage as a set of date ranges: which sessions a dataset holds.

A range is `(first, last)`, both inclusive dates. Two ranges with no NYSE session between them
(a weekend, a holiday) are one range; a missing stretch with no session in it is not missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from tradelab.data.calendar import sessions

__all__ = ["DateRange", "merge_ranges", "missing_ranges", "ranges_of_days"]

DateRange = tuple[date, date]
_DAY = timedelta(days=1)


def _has_session(first: date, last: date) -> bool:
    return first <= last and len(sessions(first, last)) > 0


def merge_ranges(ranges: Iterable[DateRange]) -> list[DateRange]:
    """Return `ranges` sorted and merged (overlapping, adjacent or only non-sessions apart)."""
    out: list[DateRange] = []
    for first, last in sorted(ranges):
        if first > last:
            raise ValueError(f"coverage range {first}..{last} ends before it starts")
        if out and not _has_session(out[-1][1] + _DAY, first - _DAY):
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def missing_ranges(ranges: Iterable[DateRange], start: date, end: date) -> list[DateRange]:
    """Return the parts of `start`..`end` that `ranges` do not cover and that hold sessions."""
    out: list[DateRange] = []
    cursor = start
    for first, last in merge_ranges(ranges):
        if last < cursor:
            continue
        if first > end:
            break
        if first > cursor:
            out.append((cursor, first - _DAY))
        cursor = last + _DAY
        if cursor > end:
            break
    if cursor <= end:
        out.append((cursor, end))
    return [(a, b) for a, b in out if _has_session(a, b)]


def ranges_of_days(days: Iterable[date]) -> list[DateRange]:
    """Return the runs of `days` (consecutive sessions form one range)."""
    return merge_ranges((d, d) for d in days)

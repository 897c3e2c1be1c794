"""Chinese working days (工作日): weekends and public holidays off, make-up workdays (调休) on.

The calendar comes from ``chinese-calendar``, which follows the State Council's yearly holiday
notices. A year it has no data for yet (announced each November or December) falls back to
Monday–Friday, and callers can ask whether that happened so reports can say so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=8192)
def workday(d: dt.date) -> tuple[bool, bool]:
    """(is a working day, known from the holiday calendar rather than guessed Mon–Fri)."""
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(d)), True
    except NotImplementedError:  # a year the State Council has not announced yet
        return d.weekday() < 5, False


def is_workday(d: dt.date) -> bool:
    return workday(d)[0]


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The date ``days`` working days after ``start`` (a 公示 of N working days ends on it)."""
    d = start
    left = days
    while left > 0:
        d += dt.timedelta(days=1)
        if is_workday(d):
            left -= 1
    return d


def working_days_after(start: dt.date, end: dt.date) -> int:
    """How many working days lie after ``start`` up to and including ``end`` (0 when ``end``
    is not after ``start``): a document signed on Friday and published the next Monday was
    published 1 working day later."""
    n = 0
    d = start
    while d < end:
        d += dt.timedelta(days=1)
        if is_workday(d):
            n += 1
    return n


def guessed_years(days: Iterable[dt.date]) -> list[int]:
    """The years among ``days`` whose holidays were guessed (no calendar data yet)."""
    return sorted({d.year for d in days if not workday(d)[1]})

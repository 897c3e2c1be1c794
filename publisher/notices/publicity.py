"""The 公示 rule: a notice open for objections for a number of working days (调休 counted,
by ``workdays``) is over at the start of the day after its last working day."""

from __future__ import annotations

import datetime as dt

from publisher.notices.workdays import add_working_days


def publicity_ends(publish_at: dt.datetime, days: int) -> dt.datetime:
    """When a 公示 of ``days`` working days that starts at ``publish_at`` is over: the start of
    the day after its last working day, in the notice's zone."""
    last = add_working_days(publish_at.date(), days)
    return dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0, 0), publish_at.tzinfo)

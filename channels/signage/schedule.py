"""When a screen shows what: dayparts, priorities and the loop budget.

- **Dayparts** (a profile's ``hours`` and ``weekdays``): outside them a screen shows a blank
  or a screensaver slide, and only emergency alerts besides. The build is redone at each
  boundary (the channel tells the engine when the next one is), so every player, not only the
  HTML slideshow, follows them.
- **Priority**: emergency alerts, then pinned notices (``screens_priority: pinned``), then
  timed ones (``screens_from`` / ``screens_until``), then the rest; newest first within each.
- **Loop budget** (``loop_budget`` seconds): when the loop would be longer, whole notices drop
  out, lowest priority and oldest first, and the manifest says which and why. Alerts never
  drop.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from publisher.model import Notice, PublishedNotice

ALERT, PINNED, TIMED, DEFAULT = 100, 20, 10, 0
PRIORITY_NAMES = {ALERT: "emergency", PINNED: "pinned", TIMED: "timed", DEFAULT: "default"}

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
DAY_NAMES = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}


def parse_hours(text: str) -> list[tuple[time, time]]:
    """``"07:30-12:00, 13:30-22:00"`` → ranges; a range may run past midnight
    (``"22:00-06:00"``); ``"00:00-24:00"`` is the whole day."""
    ranges = []
    for part in text.split(","):
        m = _RANGE.match(part)
        if not m:
            raise ValueError(f"hours {part.strip()!r}: write HH:MM-HH:MM, e.g. 07:30-22:00")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"hours {part.strip()!r}: not a time of day")
        if (h1, m1) == (h2, m2):
            raise ValueError(f"hours {part.strip()!r}: the range is empty")
        end = time.max if h2 == 24 else time(h2, m2)
        ranges.append((time(h1, m1), end))
    return ranges


def parse_weekdays(value: Sequence[int | str]) -> list[int]:
    """ISO weekday numbers (1 = Monday) from numbers, names or ranges: ``[1, 2]``,
    ``["mon-fri", "sun"]``."""
    days: set[int] = set()
    for v in value:
        if isinstance(v, int):
            if not 1 <= v <= 7:
                raise ValueError(f"weekday {v}: use 1 (Monday) to 7 (Sunday)")
            days.add(v)
            continue
        lo, _, hi = str(v).strip().lower().partition("-")
        try:
            a, b = DAY_NAMES[lo[:3]], DAY_NAMES[(hi or lo)[:3]]
        except KeyError:
            raise ValueError(f"weekday {v!r}: use mon … sun, or mon-fri") from None
        days.update(range(a, b + 1) if a <= b else [*range(a, 8), *range(1, b + 1)])
    return sorted(days)


@dataclass(frozen=True)
class Daypart:
    """When a screen is on air, in the site's time zone."""

    ranges: tuple[tuple[time, time], ...]  # empty: the whole day
    weekdays: frozenset[int]
    tz: ZoneInfo

    def on_air(self, at: datetime) -> bool:
        t = at.astimezone(self.tz)
        if not self.ranges:
            return t.isoweekday() in self.weekdays
        yesterday = (t - timedelta(days=1)).isoweekday()
        for start, end in self.ranges:
            if start < end:
                if t.isoweekday() in self.weekdays and start <= t.time() < end:
                    return True
            elif (t.isoweekday() in self.weekdays and t.time() >= start) or (
                yesterday in self.weekdays and t.time() < end
            ):
                return True  # a range past midnight belongs to the day it starts
        return False

    def next_switch(self, at: datetime) -> datetime | None:
        """The first moment after ``at`` when on_air changes (None: it never does)."""
        t = at.astimezone(self.tz)
        now = self.on_air(at)
        times = [time(0, 0)] + [x for r in self.ranges for x in r]
        candidates = []
        for d in range(0, 9):
            day = t.date() + timedelta(days=d)
            for x in times:
                moment = datetime.combine(day, x, self.tz)
                if x == time.max:
                    moment = datetime.combine(day + timedelta(days=1), time(0, 0), self.tz)
                if moment > t:
                    candidates.append(moment)
        for moment in sorted(set(candidates)):
            if self.on_air(moment) != now:
                return moment
        return None

    @property
    def always(self) -> bool:
        return not self.ranges and len(self.weekdays) == 7


CN_DAYS = "一二三四五六日"


def describe(hours: str | None, weekdays: Sequence[int]) -> str:
    """The hours as the off-air slide says them: 周一至周五 07:30–22:00."""
    days = sorted(set(weekdays))
    if len(days) == 7:
        when = ""
    elif days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
        when = f"周{CN_DAYS[days[0] - 1]}至周{CN_DAYS[days[-1] - 1]}"
    else:
        when = "、".join(f"周{CN_DAYS[d - 1]}" for d in days)
    span = (hours or "").replace("-", "–").replace(" ", "")
    return "播放时段 " + " ".join(x for x in (when, span) if x) if (when or span) else ""


def priority(n: Notice) -> int:
    if n.screens_priority == "pinned":
        return PINNED
    if n.screens_from is not None or n.screens_until is not None:
        return TIMED
    return DEFAULT


def screen_window(n: Notice) -> tuple[datetime, datetime | None]:
    """When the notice is on the screens: its live time narrowed by screens_from/until."""
    start = max(n.publish_at, n.screens_from) if n.screens_from else n.publish_at
    ends = [x for x in (n.expires_at, n.screens_until) if x is not None]
    return start, (min(ends) if ends else None)


def order(views: Sequence[PublishedNotice]) -> list[PublishedNotice]:
    """Higher priority first, newest first within a priority."""
    return sorted(
        views,
        key=lambda v: (priority(v.notice), v.notice.publish_at, v.id),
        reverse=True,
    )


@dataclass(frozen=True)
class Dropped:
    notice_id: str
    title: str
    priority: str
    seconds: float


def within_budget(
    loop: Sequence[tuple[PublishedNotice, float]], budget: float | None, fixed: float = 0.0
) -> tuple[list[PublishedNotice], list[Dropped]]:
    """Keep notices (given in loop order with their seconds on screen) while the loop fits
    ``budget`` seconds, ``fixed`` (alerts) counted first; drop the lowest priority, then the
    oldest, first."""
    if budget is None:
        return [v for v, _ in loop], []
    total = fixed + sum(s for _, s in loop)
    drop: set[str] = set()
    dropped = []
    worst_first = sorted(loop, key=lambda x: (priority(x[0].notice), x[0].notice.publish_at))
    for v, seconds in worst_first:
        if total <= budget:
            break
        drop.add(v.id)
        total -= seconds
        dropped.append(
            Dropped(v.notice.id, v.notice.title, PRIORITY_NAMES[priority(v.notice)], seconds)
        )
    return [v for v, _ in loop if v.id not in drop], dropped

"""The publication record: what was published or updated when, as the rules count it.

Each approved version is one publication (the first) or update (a revision). It became public
at ``max(publish_at, approved_at)``; the 20-working-day clock (教育部令第29号, 清单) runs from its
生成日期 ``issued_on`` to that day, on the Chinese calendar with 调休 (``workdays.py``). A school
year runs 1 September – 31 August. Coverage and the annual report are both computed from here,
so the same store gives the same figures everywhere.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from publisher.config import Settings
from publisher.delivery.views import notice_url
from publisher.notices.files import content_hash, from_canonical
from publisher.notices.workdays import workday, working_days_after
from publisher.store.catalogue import CatalogueQueries


@dataclass(frozen=True)
class Publication:
    notice_id: str
    index_no: str
    title: str
    category: str
    item: int
    department: str
    revision: int
    issued_on: dt.date | None
    public_at: dt.datetime  # when readers could first see this version
    withdrawn_at: dt.datetime | None  # of the notice
    withdraw_reason: str
    url: str
    sha256: str
    working_days: int | None  # from issued_on to public_at (None: no issued_on)
    on_time_days: int

    @property
    def late(self) -> bool:
        return self.working_days is not None and self.working_days > self.on_time_days

    @property
    def public_on(self) -> dt.date:
        return self.public_at.date()


def school_year(year: int, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[1 September ``year``, 1 September ``year``+1) in the site's zone."""
    return (
        dt.datetime(year, 9, 1, tzinfo=tz),
        dt.datetime(year + 1, 9, 1, tzinfo=tz),
    )


def school_year_of(day: dt.date) -> int:
    return day.year if day.month >= 9 else day.year - 1


def publications(store: CatalogueQueries, settings: Settings) -> list[Publication]:
    """Every approved version, oldest first. A stored text that fails its hash is left out
    (it was never published either)."""
    tz = settings.tz
    days = settings.model.disclosure.on_time_days
    out = []
    for r in store.approved_history():
        if content_hash(r["canonical"]) != r["sha256"]:
            continue
        n = from_canonical(r["canonical"], tz)
        public_at = max(r["publish_at"], r["approved_at"]).astimezone(tz)
        out.append(
            Publication(
                notice_id=n.id,
                index_no=r["index_no"] or "",
                title=n.title,
                category=n.category,
                item=n.item,
                department=n.department,
                revision=r["revision"],
                issued_on=n.issued_on,
                public_at=public_at,
                withdrawn_at=r["withdrawn_at"].astimezone(tz) if r["withdrawn_at"] else None,
                withdraw_reason=r["withdraw_reason"] or "",
                url=notice_url(settings.site, n.id, n.url),
                sha256=r["sha256"],
                working_days=(
                    working_days_after(n.issued_on, public_at.date()) if n.issued_on else None
                ),
                on_time_days=days,
            )
        )
    return out


def calendar_guessed(pubs: list[Publication]) -> list[int]:
    """Years whose holidays were guessed (Mon–Fri) for some clock in ``pubs``."""
    years: set[int] = set()
    for p in pubs:
        if p.issued_on is None:
            continue
        d = p.issued_on
        while d < p.public_on:
            d += dt.timedelta(days=1)
            if not workday(d)[1]:
                years.add(d.year)
    return sorted(years)

"""The 信息公开工作年度报告 (教办厅函〔2018〕80号): the figures, computed from the publication
record (``publications.py``) and the channels' deliveries, for one school year.

The same store and year give the same figures and the same bytes: nothing here reads the
clock (the report's date comes from the office's file), and every list is sorted.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from publisher.config import Settings
from publisher.model import Action, DeliveryState
from publisher.records.publications import Publication, calendar_guessed, publications, school_year
from publisher.records.reports.office import OfficeParts
from publisher.store.catalogue import CatalogueQueries

MONTHS = (9, 10, 11, 12, 1, 2, 3, 4, 5, 6, 7, 8)


@dataclass(frozen=True)
class CategoryRow:
    slug: str
    label: str
    published: int  # new notices first published in the year
    updated: int  # revisions published in the year
    withdrawn: int  # notices withdrawn in the year


@dataclass(frozen=True)
class ItemRow:
    no: int
    category_label: str
    text: str
    published: bool  # something of this item was public at some time in the year
    count: int  # publications and updates in the year
    last: dt.date | None  # newest publication or update up to the year's end
    link: str


@dataclass(frozen=True)
class ChannelRow:
    name: str
    outlet: str
    published: int  # notices carried (sent publish deliveries, distinct notices)
    updates: int  # of which revisions
    withdrawals: int  # withdrawal announcements sent
    failed: int  # deliveries that failed or were given up


@dataclass(frozen=True)
class AnnualFigures:
    year: int
    start: dt.date
    end: dt.date  # the last day (31 August)
    published: int
    updated: int
    withdrawn: int
    with_clock: int  # publications and updates that carry a 生成日期
    on_time: int
    late: tuple[Publication, ...]
    categories: tuple[CategoryRow, ...]
    items: tuple[ItemRow, ...]
    channels: tuple[ChannelRow, ...]
    monthly: dict[str, list[int]]  # category label → new notices per month, Sep … Aug
    withdrawals: tuple[Publication, ...]
    guessed_years: tuple[int, ...]
    on_time_days: int

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.with_clock if self.with_clock else None

    @property
    def items_published(self) -> int:
        return sum(1 for i in self.items if i.published)


def figures(
    store: CatalogueQueries, settings: Settings, year: int, outlets: dict[str, str]
) -> AnnualFigures:
    """The figures of school year ``year`` (``year``-09-01 … ``year``+1-08-31); ``outlets``
    names each channel as the report lists it (channel name → label)."""
    tz = settings.tz
    start, end = school_year(year, tz)
    pubs = publications(store, settings)
    inside = [p for p in pubs if start <= p.public_at < end]
    first = [p for p in inside if p.revision == 1]
    revised = [p for p in inside if p.revision > 1]
    by_notice: dict[str, Publication] = {}
    for p in pubs:  # the newest approved version of each notice
        by_notice[p.notice_id] = p
    withdrawals = tuple(
        sorted(
            (p for p in by_notice.values() if p.withdrawn_at and start <= p.withdrawn_at < end),
            key=lambda p: (p.withdrawn_at, p.notice_id),
        )
    )
    cats = settings.catalogue
    categories = tuple(
        CategoryRow(
            c.slug,
            c.label,
            sum(1 for p in first if p.category == c.slug),
            sum(1 for p in revised if p.category == c.slug),
            sum(1 for p in withdrawals if p.category == c.slug),
        )
        for c in sorted(cats.categories.values(), key=lambda c: c.order)
    )
    base = settings.site.base_url
    items = []
    for entry in cats.checklist():
        mine = [p for p in inside if p.item == entry.no]
        upto = [p for p in pubs if p.item == entry.no and p.public_at < end]
        items.append(
            ItemRow(
                entry.no,
                entry.category_label,
                entry.text,
                bool(mine),
                len(mine),
                max((p.public_on for p in upto), default=None),
                f"{base}/catalogue/{entry.no:02d}.html",
            )
        )
    monthly: dict[str, list[int]] = {}
    for c in sorted(cats.categories.values(), key=lambda c: c.order):
        per_month = Counter(p.public_at.month for p in first if p.category == c.slug)
        if per_month:
            monthly[c.name] = [per_month.get(m, 0) for m in MONTHS]
    clocked = [p for p in inside if p.working_days is not None]
    late = tuple(p for p in clocked if p.late)
    return AnnualFigures(
        year=year,
        start=start.date(),
        end=(end - dt.timedelta(days=1)).date(),
        published=len(first),
        updated=len(revised),
        withdrawn=len(withdrawals),
        with_clock=len(clocked),
        on_time=len(clocked) - len(late),
        late=late,
        categories=categories,
        items=tuple(items),
        channels=tuple(_channels(store, start, end, outlets, inside)),
        monthly=monthly,
        withdrawals=withdrawals,
        guessed_years=tuple(calendar_guessed(inside)),
        on_time_days=settings.model.disclosure.on_time_days,
    )


def _channels(
    store: CatalogueQueries,
    start: dt.datetime,
    end: dt.datetime,
    outlets: dict[str, str],
    inside: list[Publication],
) -> list[ChannelRow]:
    revisions = {p.sha256 for p in inside if p.revision > 1}
    rows: dict[str, dict[str, int]] = {name: Counter() for name in outlets}
    for r in store.settled_between(start, end):
        if r["channel"] not in rows:
            continue  # a channel no longer configured is not this site's outlet now
        c = rows[r["channel"]]
        if r["state"] == DeliveryState.SENT:
            if r["action"] == Action.PUBLISH:
                c["published"] += r["notices"]
            elif r["action"] == Action.WITHDRAW:
                c["withdrawals"] += r["n"]
        elif r["state"] in (DeliveryState.FAILED, DeliveryState.DEAD):
            c["failed"] += r["n"]
    for name, sha in store.sent_versions_between(start, end):
        if name in rows and sha in revisions:
            rows[name]["updates"] += 1
    return [
        ChannelRow(
            name,
            outlets[name],
            c["published"],
            c["updates"],
            c["withdrawals"],
            c["failed"],
        )
        for name, c in rows.items()
    ]


@dataclass(frozen=True)
class AnnualReport:
    site_name: str
    school: str
    figures: AnnualFigures
    office: OfficeParts

    @property
    def title(self) -> str:
        y = self.figures.year
        return f"{self.school}{y}—{y + 1}学年信息公开工作年度报告"

    def summary(self) -> dict[str, Any]:
        f = self.figures
        return {
            "year": f.year,
            "published": f.published,
            "updated": f.updated,
            "withdrawn": f.withdrawn,
            "on_time": f.on_time,
            "with_clock": f.with_clock,
            "items_published": f.items_published,
        }

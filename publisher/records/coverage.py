"""Coverage of the 清单 and its clocks: which items have nothing this school year, which are
overdue against their rhythm (``disclosure.duties``), and which notices were published more
than 20 working days after their 生成日期. ``publisher report coverage``, ``job: coverage``
(a reminder to the owners through a robot) and the console's 清单 page all show this."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from publisher.config import Settings
from publisher.notices.catalogue import Duty, Rhythm
from publisher.notices.workdays import add_working_days
from publisher.records.publications import (
    Publication,
    calendar_guessed,
    school_year,
    school_year_of,
)


@dataclass(frozen=True)
class ItemCoverage:
    no: int
    category: str
    category_label: str
    text: str
    owner: str
    rhythm: str  # the label, e.g. 每年 6 月 30 日前
    last_public: dt.date | None  # newest publication or update still public
    this_year: int  # publications and updates this school year (withdrawn ones not counted)
    due: dt.date | None  # when the rhythm wants the next one (None: no clock)
    missing: bool  # nothing this school year
    overdue: bool

    @property
    def status(self) -> str:
        if self.overdue:
            return "逾期"
        if self.missing:
            return "本学年未公开"
        return "正常"


@dataclass(frozen=True)
class CoverageReport:
    today: dt.date
    school_year: int  # 2025 = 2025-09-01 … 2026-08-31
    items: tuple[ItemCoverage, ...]
    late: tuple[Publication, ...]  # this school year, beyond the working-day limit
    on_time_days: int
    guessed_years: tuple[int, ...] = field(default=())

    @property
    def missing(self) -> list[ItemCoverage]:
        return [i for i in self.items if i.missing]

    @property
    def overdue(self) -> list[ItemCoverage]:
        return [i for i in self.items if i.overdue]

    def as_json(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "school_year": f"{self.school_year}-09-01/{self.school_year + 1}-08-31",
            "on_time_days": self.on_time_days,
            "calendar_guessed_years": list(self.guessed_years),
            "items": [
                {
                    "no": i.no,
                    "category": i.category,
                    "text": i.text,
                    "owner": i.owner,
                    "rhythm": i.rhythm,
                    "last_public": i.last_public.isoformat() if i.last_public else None,
                    "this_year": i.this_year,
                    "due": i.due.isoformat() if i.due else None,
                    "missing": i.missing,
                    "overdue": i.overdue,
                    "status": i.status,
                }
                for i in self.items
            ],
            "late": [
                {
                    "notice": p.notice_id,
                    "index_no": p.index_no,
                    "title": p.title,
                    "item": p.item,
                    "revision": p.revision,
                    "issued_on": p.issued_on.isoformat() if p.issued_on else None,
                    "public_on": p.public_on.isoformat(),
                    "working_days": p.working_days,
                }
                for p in self.late
            ],
        }


def _term_start(today: dt.date, terms: list[str]) -> dt.date:
    """The newest term start on or before ``today``."""
    starts = [
        dt.date(y, int(t[:2]), int(t[3:])) for y in (today.year - 1, today.year) for t in terms
    ]
    return max(s for s in starts if s <= today)


def _due(
    rhythm: Rhythm, today: dt.date, year_start: dt.date, terms: list[str], days: int
) -> tuple[dt.date | None, dt.date]:
    """(due date, start of the period that must have a publication) for ``rhythm``."""
    if rhythm.kind == "yearly":
        y = year_start.year if rhythm.month >= 9 else year_start.year + 1
        return dt.date(y, rhythm.month, rhythm.day), year_start
    if rhythm.kind == "each term":
        start = _term_start(today, terms)
        return add_working_days(start, days), start
    return None, year_start


def coverage(pubs: list[Publication], settings: Settings, today: dt.date) -> CoverageReport:
    year = school_year_of(today)
    tz = settings.tz
    start, _end = school_year(year, tz)
    d = settings.model.disclosure
    duties = settings.duties
    live = [p for p in pubs if p.withdrawn_at is None and p.public_on <= today]
    by_item: dict[int, list[Publication]] = {}
    for p in live:
        by_item.setdefault(p.item, []).append(p)
    rows = []
    for entry in settings.catalogue.checklist():
        duty = duties.get(entry.no) or Duty(entry.no, "", Rhythm("on change"))
        mine = by_item.get(entry.no, [])
        this_year = [p for p in mine if p.public_on >= start.date()]
        due, period = _due(duty.rhythm, today, start.date(), d.terms, d.on_time_days)
        if duty.rhythm.kind == "once":
            overdue = not mine
        elif due is not None:
            overdue = today > due and not [p for p in mine if p.public_on >= period]
        else:
            overdue = False
        rows.append(
            ItemCoverage(
                no=entry.no,
                category=entry.category,
                category_label=entry.category_label,
                text=entry.text,
                owner=duty.owner,
                rhythm=duty.rhythm.label,
                last_public=max((p.public_on for p in mine), default=None),
                this_year=len(this_year),
                due=due,
                # an item published once for good is covered by that one notice
                missing=not this_year and not (duty.rhythm.kind == "once" and mine),
                overdue=overdue,
            )
        )
    late = tuple(p for p in pubs if p.late and start.date() <= p.public_on <= today)
    return CoverageReport(
        today=today,
        school_year=year,
        items=tuple(rows),
        late=late,
        on_time_days=d.on_time_days,
        guessed_years=tuple(calendar_guessed([p for p in pubs if p.public_on >= start.date()])),
    )


def reminders(
    report: CoverageReport, settings: Settings, default: str | None
) -> dict[str | None, str]:
    """The reminder text for each robot (a duty's ``notify``, else ``default``; None: an item
    no robot is named for), grouped by owner."""
    duties = settings.duties
    per_robot: dict[str | None, dict[str, list[str]]] = {}
    for i in report.items:
        if not (i.overdue or i.missing):
            continue
        duty = duties.get(i.no)
        robot = (duty.notify if duty else None) or default
        owner = i.owner or "未指定责任部门"
        what = (
            f"第{i.no}项 {i.text[:30]}：逾期（应于 {i.due.isoformat()} 前公开）"
            if i.overdue and i.due
            else f"第{i.no}项 {i.text[:30]}：{i.status}"
        )
        per_robot.setdefault(robot, {}).setdefault(owner, []).append(what)
    texts = {}
    for robot, owners in per_robot.items():
        lines = [
            f"【信息公开清单提醒】{report.today.isoformat()}，"
            f"{report.school_year}—{report.school_year + 1} 学年"
        ]
        for owner, items in sorted(owners.items()):
            lines.append(f"{owner}（{len(items)} 项）：")
            lines += [f"  · {x}" for x in items[:15]]
            if len(items) > 15:
                lines.append(f"  · 另有 {len(items) - 15} 项，见 publisher report coverage")
        texts[robot] = "\n".join(lines)
    return texts

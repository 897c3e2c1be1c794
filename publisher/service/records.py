"""The disclosure record: 索引号 and the search index, 清单 coverage and reminders, the
annual report, search."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from publisher.errors import NotApproved
from publisher.notices.files import from_canonical
from publisher.records.coverage import CoverageReport, coverage, reminders
from publisher.records.publications import publications
from publisher.records.reports.annual import AnnualReport
from publisher.records.search import Search, SearchPage, search_doc
from publisher.service.base import ServiceBase

log = logging.getLogger("publisher")


class RecordsJob(ServiceBase):
    def index_catalogue(self) -> tuple[int, int]:
        """Bring the catalogue up to the store: a 索引号 for every approved notice approved
        before numbers existed (in order of approval), and the search index to the newest
        approved versions. Returns (numbers given, search documents written or dropped)."""
        numbered = 0
        scheme = self.settings.index_scheme
        now = self.clock.now()
        for v in self.store.unnumbered():
            try:
                notice = from_canonical(v.canonical, self.settings.tz)
            except (ValueError, KeyError):
                continue
            scope, render = scheme.for_notice(notice)
            self.store.number(v.notice_id, scope, render, now)
            numbered += 1
        stale, gone = self.store.search_stale()
        docs = []
        for v in stale:
            try:
                docs.append(search_doc(self.views.published(v)))
            except NotApproved as exc:  # a stored text that fails its hash is not indexed
                log.error("search index: %s", exc)
        self.store.search_put(docs, gone)
        return numbered, len(docs) + len(gone)

    def coverage(self, today: date | None = None) -> CoverageReport:
        """The 清单 coverage table and clocks as of ``today`` (default: today)."""
        day = today or self.clock.now().astimezone(self.settings.tz).date()
        return coverage(publications(self.store, self.settings), self.settings, day)

    def remind_coverage(self, channel: str | None = None) -> list[str]:
        """Post each owner's missing and overdue 清单 items through their robot (a duty's
        ``notify``, else ``channel``). Returns the robots that took a reminder."""
        report = self.coverage()
        sent = []
        for robot, text in reminders(report, self.settings, channel).items():
            if robot is None:
                log.warning("coverage: no robot to remind; give the job a channel:\n%s", text)
            elif self.engine.operator.post(
                robot, text, f"coverage:{report.today.isoformat()}", "coverage.reminder"
            ):
                sent.append(robot)
        return sent

    def annual_report(
        self, year: int, folder: Path | None = None
    ) -> tuple[AnnualReport, list[Path]]:
        """Write the 信息公开工作年度报告 of school year ``year`` (HTML, Markdown, Word)."""
        from publisher.records.reports.annual import figures
        from publisher.records.reports.documents import write_annual
        from publisher.records.reports.office import load_office

        s = self.settings
        office = load_office(s.reports_dir, s.site.school_name, year)
        outlets = {name: ch.outlet for name, ch in self.channels.items()}
        report = AnnualReport(
            s.site.name, s.site.school_name, figures(self.store, s, year, outlets), office
        )
        return report, write_annual(report, folder or s.reports_dir, self.templates)

    def register(self, start: date, end: date, folder: Path) -> tuple[list[Path], int]:
        """Write the 保密审查 register of the days ``start`` to ``end`` (CSV and Word) into
        ``folder``. Returns the files and how many sign-offs they list."""
        from publisher.records.reports.register import write_register

        s = self.settings
        return write_register(self.store, folder, s.site.school_name, start, end, s.tz)

    def search(self, query: str, page: int = 1) -> SearchPage:
        return Search(self.store).find(query, self.clock.now(), page)

"""The `report` command: the reports the disclosure rules ask for."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from publisher.cli.output import out
from publisher.cli.registry import CommandGroup, day, open_app
from publisher.errors import PublisherError

_group = CommandGroup()
command = _group.command
COMMANDS = _group.commands


def _report_arguments(p: argparse.ArgumentParser) -> None:
    rp = p.add_subparsers(dest="report", metavar="REPORT", required=True)
    cov = rp.add_parser("coverage", help="清单 items missing or overdue, notices published late")
    cov.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cov.add_argument("--date", help="as of this day (YYYY-MM-DD; default today)")
    an = rp.add_parser("annual", help="the 信息公开工作年度报告 as HTML, Markdown and Word")
    an.add_argument(
        "--year",
        type=int,
        required=True,
        help="school year by its start: 2025 = 2025-09-01 … 2026-08-31",
    )
    an.add_argument("--out", help="folder to write to (default: disclosure.reports_folder)")
    an.add_argument(
        "--init",
        action="store_true",
        help="write the office's part (reports/annual-YEAR.yaml) to fill in, then stop",
    )
    rv = rp.add_parser("reviews", help="the 保密审查 register of a period as CSV and Word")
    rv.add_argument("--from", dest="start", required=True, help="first day (YYYY-MM-DD)")
    rv.add_argument("--to", dest="end", required=True, help="last day (YYYY-MM-DD)")
    rv.add_argument("--out", help="folder to write to (default: disclosure.reports_folder)")


@command(
    "report",
    "reports the rules ask for: `coverage` (清单 clocks), `annual --year Y`, `reviews --from --to`",
    _report_arguments,
)
def cmd_report(args: argparse.Namespace) -> int:
    app = open_app(args)
    try:
        if args.report == "coverage":
            rep = app.coverage(day(args.date, "--date") if args.date else None)
            if args.json:
                out(json.dumps(rep.as_json(), ensure_ascii=False, indent=1))
                return 0
            out(
                f"清单 coverage on {rep.today.isoformat()}, school year "
                f"{rep.school_year}-09-01 … {rep.school_year + 1}-08-31"
            )
            out(f"{'no':>3}  {'status':<8} {'last':<10}  {'due':<10}  {'owner':<12} item")
            for i in rep.items:
                last = i.last_public.isoformat() if i.last_public else "-"
                due = i.due.isoformat() if i.due else "-"
                out(
                    f"{i.no:>3}  {i.status:<8} {last:<10}  {due:<10}  {i.owner or '-':<12} "
                    f"{i.text[:40]}"
                )
            out(
                f"{len(rep.missing)} item(s) with nothing this school year, "
                f"{len(rep.overdue)} overdue, {len(rep.late)} notice(s) published more than "
                f"{rep.on_time_days} working days after their issued_on"
            )
            for late in rep.late:
                out(
                    f"  late: {late.notice_id} ({late.index_no}) issued {late.issued_on} "
                    f"published {late.public_on.isoformat()}: {late.working_days} working days"
                )
            if rep.guessed_years:
                out(
                    "note: no holiday data yet for "
                    + ", ".join(map(str, rep.guessed_years))
                    + "; working days counted Mon–Fri"
                )
            return 0
        folder = Path(args.out) if args.out else app.settings.reports_dir
        if args.report == "annual":
            from publisher.records.reports.office import office_file, template

            if args.init:
                target = office_file(app.settings.reports_dir, args.year)
                if target.exists():
                    raise PublisherError(f"{target} exists already; edit it")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(template(app.settings.site.school_name, args.year), "utf-8")
                out(f"wrote {target}: fill in the office's sections, then run without --init")
                return 0
            report, paths = app.annual_report(args.year, folder)
            for w in report.office.warnings:
                logging.getLogger("publisher").warning("%s", w)
            f = report.figures
            out(
                f"{report.title}: {f.published} published, {f.updated} updated, "
                f"{f.withdrawn} withdrawn, on time {f.on_time}/{f.with_clock}"
            )
            for p in paths:
                out(f"  {p}")
            return 0
        start, end = day(args.start, "--from"), day(args.end, "--to")
        if end < start:
            raise PublisherError("--to is before --from")
        paths, n = app.register(start, end, folder)
        out(f"{n} sign-off(s) from {start} to {end}")
        for p in paths:
            out(f"  {p}")
        return 0
    finally:
        app.close()

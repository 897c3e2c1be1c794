"""The rules' clocks and the annual report on a school year whose numbers are written here by
hand: 2025-09-01 … 2026-08-31, five notices, a revision, a withdrawal, one notice published
across a 调休 weekend (2025-09-28, a Sunday, was a working day) and one published late."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import html5lib
import pytest

from publisher.clock import ManualClock
from publisher.service.app import Publisher

from .helpers import TZ, Site, approve
from .vendors import WeComServer

DUTIES = """\
disclosure:
  duties:
    - {items: [7], owner: 招生就业处, rhythm: "yearly by 06-30"}
    - {items: [6], owner: 信息公开办公室, rhythm: "yearly by 10-31", notify: group}
    - {items: [13], owner: 研究生院, rhythm: each term}
    - {items: [2], owner: 党政办公室, rhythm: once}
"""


def at(y: int, m: int, d: int, h: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, h, 0, tzinfo=TZ)


def publish(site: Site, app: Publisher, nid: str, when: dt.datetime, **kw: object) -> None:
    """Write, approve at ``when`` (publish_at the same moment) and run a pass then."""
    site.clock.set(when)
    site.write(nid, publish_at=when.strftime("%Y-%m-%d %H:%M+08:00"), **kw)  # type: ignore[arg-type]
    approve(app, nid)
    app.tick()


@pytest.fixture
def year_site(site: Site) -> Site:
    text = site.config.read_text("utf-8")
    site.config.write_text(text.replace("review:", DUTIES + "review:", 1), "utf-8")
    site.clock = ManualClock(at(2025, 8, 20))
    with site.app() as app:
        # F: the year before (not counted)
        publish(site, app, "f", at(2025, 8, 20), extra="issued_on: 2025-08-18")
        # A: issued Mon 09-01, public Fri 09-05: 4 working days
        publish(site, app, "a", at(2025, 9, 5), extra="issued_on: 2025-09-01")
        # B: issued Fri 09-26, public Mon 09-29: 2 working days (Sun 09-28 was one: 调休)
        publish(
            site,
            app,
            "b",
            at(2025, 9, 29),
            category="jbxx",
            item=2,
            title="测试示范大学章程",
            extra="issued_on: 2025-09-26",
        )
        # A revised: issued Fri 11-07, public Mon 11-10: 1 working day
        publish(
            site, app, "a", at(2025, 11, 10), body="更正后的正文。", extra="issued_on: 2025-11-07"
        )
        # C: issued Mon 12-01, public Mon 2026-01-05: 24 working days (元旦; Sun 01-04 worked)
        publish(
            site,
            app,
            "c",
            at(2026, 1, 5),
            category="xsgl",
            item=36,
            title="测试示范大学学生手册",
            extra="issued_on: 2025-12-01",
        )
        # D: issued Fri 2026-02-27, public Mon 03-02: 2 working days (Sat 02-28 was one);
        # withdrawn on 03-10
        publish(
            site,
            app,
            "d",
            at(2026, 3, 2),
            item=13,
            title="测试示范大学拟录取研究生名单",
            extra="issued_on: 2026-02-27",
        )
        site.clock.set(at(2026, 3, 10))
        app.withdraw("d", "名单有误", actor="test")
        app.tick()
        # E: the next school year (not counted)
        publish(site, app, "e", at(2026, 9, 2), extra="issued_on: 2026-09-01")
    return site


def test_coverage_clocks_on_a_known_year(year_site: Site) -> None:
    site = year_site
    with site.app() as app:
        rep = app.coverage(dt.date(2026, 3, 20))
        items = {i.no: i for i in rep.items}
        assert rep.school_year == 2025
        assert (items[7].this_year, items[7].due, items[7].overdue) == (
            2,
            dt.date(2026, 6, 30),
            False,
        )
        assert items[7].last_public == dt.date(2025, 11, 10)
        # the annual report is due by 10-31 and nothing was published: overdue
        assert (items[6].due, items[6].overdue, items[6].owner) == (
            dt.date(2025, 10, 31),
            True,
            "信息公开办公室",
        )
        # each term: this term began 03-01, 20 working days later is 03-27; D was withdrawn
        assert (items[13].due, items[13].overdue, items[13].this_year) == (
            dt.date(2026, 3, 27),
            False,
            0,
        )
        assert items[2].status == "正常" and not items[2].overdue
        assert items[36].this_year == 1
        # 50 items, 4 with something this year (2, 7, 36; 13 was withdrawn)
        assert len(rep.items) == 50
        assert sorted(i.no for i in rep.items if not i.missing) == [2, 7, 36]
        assert [p.notice_id for p in rep.late] == ["c"]
        assert rep.late[0].working_days == 24
        later = app.coverage(dt.date(2026, 4, 10))
        assert {i.no for i in later.overdue} == {6, 13}
        data = later.as_json()
        assert data["items"][12]["status"] == "逾期" and data["late"][0]["working_days"] == 24


def test_coverage_reminder_goes_to_the_owners_robot(year_site: Site, wecom: WeComServer) -> None:
    site = year_site
    site.clock.set(at(2026, 4, 10))
    with site.app() as app:
        before = len(wecom.received)
        assert app.remind_coverage("group") == ["group"]
        text = str(wecom.received[before:])
    assert "信息公开办公室" in text and "第6项" in text and "研究生院" in text


def test_the_console_shows_the_same_coverage_table(year_site: Site) -> None:
    import re

    import httpx

    from publisher.service.accounts import Accounts
    from publisher.web.console import console_app
    from publisher.web.server import Server

    site = year_site
    site.clock.set(at(2026, 4, 10))
    (site.root / "public").mkdir(exist_ok=True)
    with site.app() as app:
        Accounts(app.store, app.clock).add("王芳", ("reviewer",), "correct-horse-1", "test")
        expected = app.coverage()
        server = Server(site.root / "public", "127.0.0.1", 0, console=console_app(app))
        server.start()
        try:
            with httpx.Client(base_url=server.url) as client:
                form = client.get("/admin/login").text
                csrf = re.search(r'name="csrftoken" value="([^"]+)"', form)
                assert csrf
                client.post(
                    "/admin/login",
                    data={"csrftoken": csrf[1], "name": "王芳", "password": "correct-horse-1"},
                )
                full = client.get("/admin/coverage")
                overdue = client.get("/admin/coverage?show=overdue").text
                missing = client.get("/admin/coverage?show=missing").text
        finally:
            server.stop()

    def rows(page: str) -> dict[int, str]:
        found = re.findall(r"<tr>\s*<td>(\d+)</td>.*?data-state=\"([^\"]+)\"", page, re.S)
        return {int(n): state for n, state in found}

    assert full.status_code == 200
    shown = rows(full.text)
    assert shown == {i.no: i.status for i in expected.items} and len(shown) == 50
    assert shown[6] == shown[13] == "逾期" and shown[7] == "正常"
    assert set(rows(overdue)) == {6, 13}
    assert set(rows(missing)) == {i.no for i in expected.missing}
    assert "信息公开办公室" in full.text and "应于 2025-10-31 前" in full.text
    # the late notice C, 24 working days after its 生成日期
    late = full.text.split('id="late"', 1)[1]
    assert "测试示范大学学生手册" in late and '<td class="bad">24</td>' in late


def test_the_annual_report_has_the_known_figures_and_is_reproducible(
    year_site: Site, tmp_path: Path
) -> None:
    import docx

    site = year_site
    with site.app() as app:
        report, paths = app.annual_report(2025, tmp_path / "one")
        f = report.figures
        assert (f.published, f.updated, f.withdrawn) == (4, 1, 1)
        # clocked: A (4), A revised (1), B (2), C (24), D (2): four within 20 working days
        assert (f.on_time, f.with_clock, f.on_time_rate) == (4, 5, 0.8)
        assert [p.notice_id for p in f.late] == ["c"]
        cats = {c.slug: (c.published, c.updated, c.withdrawn) for c in f.categories}
        assert cats["zsks"] == (2, 1, 1) and cats["jbxx"] == (1, 0, 0) and cats["xsgl"] == (1, 0, 0)
        assert sum(c.published for c in f.categories) == 4
        items = {i.no: i for i in f.items}
        assert [n for n, i in items.items() if i.published] == [2, 7, 13, 36]
        assert items[7].count == 2 and items[7].last == dt.date(2025, 11, 10)
        assert items[8].last is None and items[8].link.endswith("/catalogue/08.html")
        channels = {c.name: (c.published, c.updates, c.withdrawals) for c in f.channels}
        # routes: every category to feed and screen; zsks and xsgl to the group robot
        assert channels["feed"] == (4, 1, 0)
        assert channels["screen"] == (4, 1, 0)
        assert channels["group"] == (3, 1, 1)  # A, C, D; A's revision; D's withdrawal notice
        assert f.monthly["招生考试信息"] == [1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
        names = sorted(p.name for p in paths)
        assert names == [
            "annual-2025-channels.svg",
            "annual-2025-monthly.svg",
            "annual-2025.docx",
            "annual-2025.html",
            "annual-2025.md",
        ]
        # the same store and year: the same bytes
        _, again = app.annual_report(2025, tmp_path / "two")
    for a, b in zip(sorted(paths), sorted(again), strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name

    html = (tmp_path / "one" / "annual-2025.html").read_bytes()
    html5lib.HTMLParser(strict=True).parse(html)  # raises on any parse error
    text = html.decode("utf-8")
    for section in (
        "一、概述",
        "二、主动公开情况",
        "三、依申请公开和不予公开情况",
        "四、对信息公开的评议情况",
        "五、因学校信息公开工作受到举报、复议、诉讼的情况",
        "六、新举措、问题和改进措施",
        "七、其他需要报告的事项",
        "附表 清单事项公开情况表",
    ):
        assert section in text
        assert section in (tmp_path / "one" / "annual-2025.md").read_text("utf-8")
    assert "及时公开率 80.0%" in text

    document = docx.Document(str(tmp_path / "one" / "annual-2025.docx"))
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert "三、依申请公开和不予公开情况" in headings and "附表 清单事项公开情况表" in headings
    tables = document.tables
    appendix = tables[-1]
    assert len(appendix.rows) == 51  # a header and one row per 清单 item
    assert appendix.rows[7].cells[2].text == "是（2 项）"
    assert [c.text for c in tables[0].rows[-1].cells] == ["合计", "4", "1", "1"]
    with zipfile.ZipFile(io.BytesIO((tmp_path / "one" / "annual-2025.docx").read_bytes())) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_the_office_writes_its_sections_in_yaml(year_site: Site, tmp_path: Path) -> None:
    from publisher.errors import ReportError

    site = year_site
    folder = site.root / "reports"
    folder.mkdir()
    (folder / "annual-2025.yaml").write_text(
        "date: 2026-10-20\noverview: |\n  本学年学校健全信息公开制度。\nrequests:\n"
        "  收到申请（件）: 3\n  予以公开（件）: 2\nimprovements: 加强培训。\n",
        "utf-8",
    )
    with site.app() as app:
        report, _ = app.annual_report(2025, tmp_path)
        assert report.office.warnings == []
        html = (tmp_path / "annual-2025.html").read_text("utf-8")
        assert "本学年学校健全信息公开制度。" in html and "2026年10月20日" in html
        assert '<th scope="row">收到申请（件）</th><td class="n">3</td>' in html
        (folder / "annual-2025.yaml").write_text("date: 2026-10-20\nrequest: {}\n", "utf-8")
        with pytest.raises(ReportError, match=r"annual-2025\.yaml:2: field 'request'"):
            app.annual_report(2025, tmp_path)


def test_the_review_register_lists_every_signoff(year_site: Site, tmp_path: Path) -> None:
    import docx

    from publisher.records.reports.register import write_register

    site = year_site
    with site.app() as app:
        paths, n = write_register(
            app.store, tmp_path, "测试示范大学", dt.date(2025, 9, 1), dt.date(2026, 8, 31), TZ
        )
    assert n == 5  # A, B, A revised, C, D (F and E are outside)
    csv_text = paths[0].read_bytes().decode("utf-8-sig")
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("索引号,事项,名称") and len(lines) == 6
    assert "XXGK-02-2025-0002" in csv_text and "李明" in csv_text
    document = docx.Document(str(paths[1]))
    assert len(document.tables[0].rows) == 6

"""The console in real headless Chromium: two reviewers pass a blocking finding with reasons and
sign off as themselves; the notice reaches the feed and a loopback robot; the audit log names
both accounts; axe-core finds no serious or critical violation on any console page."""

from __future__ import annotations

from typing import Any

import feedparser
import pytest

from publisher.service.accounts import Accounts
from publisher.web.console import console_app
from publisher.web.server import Server

from .helpers import Site
from .vendors import WeComServer

BODY = "报名请点击[报名入口](https://bm.evil-example.com/x)。\n\n联系人：招生办公室。"


def axe_problems(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {v['nodes'][0]['target']}"
        for v in result.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def sign_in(page: Any, base: str, name: str, password: str) -> None:
    page.goto(base + "/admin/")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    page.wait_for_url(base + "/admin/")


@pytest.mark.slow
def test_two_reviewers_pass_a_finding_and_sign_off_in_the_browser(
    make_site: Any, wecom: WeComServer, browser: Any, tmp_path: Any
) -> None:
    site: Site = make_site(signoffs=2)
    site.write("n1", title="测试示范大学招生章程", body=BODY)
    (site.root / "public").mkdir()
    app = site.app()
    accounts = Accounts(app.store, app.clock)
    accounts.add("王芳", ("reviewer",), "correct-horse-1", "test")
    accounts.add("李明", ("reviewer", "publisher"), "correct-horse-2", "test")
    app.sync()
    server = Server(site.root / "public", "127.0.0.1", 0, console=console_app(app))
    server.start()
    base = server.url
    problems: dict[str, list[str]] = {}
    try:
        for name, password in (("王芳", "correct-horse-1"), ("李明", "correct-horse-2")):
            context = browser.new_context(bypass_csp=False)
            page = context.new_page()
            page.on("dialog", lambda d: d.accept())  # the "sign as …?" confirmation
            page.goto(base + "/admin/login")
            problems["login"] = axe_problems(page)
            sign_in(page, base, name, password)
            problems["list"] = axe_problems(page)
            page.click("text=测试示范大学招生章程")
            # the finding is listed and its line highlighted in the source
            assert "link-domain" in page.inner_text(".findings")
            marked = page.locator(".source li.marked mark")
            assert marked.count() == 1 and "bm.evil-example.com" in marked.inner_text()
            problems["notice"] = axe_problems(page)
            page.check("#allow-link-domain")
            page.fill("#reason-link-domain", f"{name}：报名系统由合作单位托管，已核实")
            page.click("form[action$='/signoff'] button[type=submit]")
            page.wait_for_selector("p.ok[role=status]")
            status = page.inner_text("p.ok[role=status]")
            assert ("2/2" in status) == (name == "李明"), status
            if name == "李明":
                for path in (
                    "/admin/calendar",
                    "/admin/coverage",
                    "/admin/channels",
                    "/admin/?state=待审",
                    "/admin/alerts",
                    "/admin/screens",
                    "/admin/notices/n1/push",
                    "/admin/notices/n1/channels/group",
                    "/admin/notices/n1/channels/feed",
                ):
                    page.goto(base + path)
                    problems[path] = axe_problems(page)
                page.goto(base + "/admin/audit")
                problems["audit"] = axe_problems(page)
                text = page.inner_text("table")
                assert "王芳" in text and "李明" in text and "signoff" in text
                page.set_viewport_size({"width": 390, "height": 844})  # a phone
                page.goto(base + "/admin/notices/n1")
                problems["notice on a phone"] = axe_problems(page)
                page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
            context.close()
        app.tick()
    finally:
        server.stop()
        app.close()
    assert {k: v for k, v in problems.items() if v} == {}
    feed = feedparser.parse((site.root / "public" / "feeds" / "all.rss.xml").read_bytes())
    assert [e.title for e in feed.entries] == ["测试示范大学招生章程"]
    assert len(wecom.received) == 1
    with site.app() as check:
        sha = check.store.notice("n1").current_sha
        signed = {a.reviewer: a for a in check.store.approvals_of(sha)}
    assert set(signed) == {"王芳", "李明"}
    assert all(a.ran_by == f"console:{n}" and a.allowances for n, a in signed.items())


@pytest.mark.slow
def test_an_editor_writes_a_notice_with_an_attachment_and_an_edit_on_disk_is_not_lost(
    site: Site, browser: Any, tmp_path: Any
) -> None:
    from publisher.cli import main

    (site.root / "public").mkdir()
    app = site.app()
    Accounts(app.store, app.clock).add("张编辑", ("editor",), "correct-horse-3", "test")
    server = Server(site.root / "public", "127.0.0.1", 0, console=console_app(app))
    server.start()
    base = server.url
    upload = tmp_path / "复试名单 2027.csv"
    upload.write_text("姓名,专业\n张三,化学\n", "utf-8")
    problems: list[str] = []
    try:
        page = browser.new_context().new_page()
        sign_in(page, base, "张编辑", "correct-horse-3")
        page.click("text=新建公开事项")
        page.fill("#id", "2027-fs")
        page.fill("#department", "研究生院")
        page.fill("#title", "测试示范大学2027年硕士研究生复试名单公示")
        page.select_option("#category", "zsks")
        page.select_option("#item", "7")
        page.fill("#publish_at", "2026-11-27T09:00")
        page.check("#exp-days")
        page.fill("#workdays", "5")
        page.fill("#summary", "复试名单公示。")
        page.fill("#body", "## 复试名单\n\n经研究，现将名单**公示**如下。")
        page.wait_for_selector("#preview h2")  # the live preview, rendered by the server
        assert "<strong>公示</strong>" in page.inner_html("#preview")
        page.set_input_files("#upload", str(upload))
        problems += axe_problems(page)
        page.click("form.edit button[type=submit]")
        page.wait_for_selector("p.ok[role=status]")
        written = site.root / "items" / "2027-fs.md"
        assert written.is_file()
        text = written.read_text("utf-8")
        # 5 working days from Friday 27 November 2026: Mon 30 … Fri 4 December
        assert "expires_at: 2026-12-05 00:00+08:00" in text
        assert (
            site.root / "items" / "2027-fs" / "复试名单_2027.csv"
        ).read_bytes() == upload.read_bytes()
        assert main(["--config", str(site.config), "check"]) == 0  # what the console wrote is valid

        # someone edits the file on disk while the form is open
        page.click("text=修改")
        page.fill("#title", "测试示范大学2027年硕士研究生复试名单公示（更正）")
        on_disk = text.replace("复试名单公示。", "复试名单公示（磁盘上的修改）。")
        written.write_text(on_disk, "utf-8")
        page.click("form.edit button[type=submit]")
        page.wait_for_selector("p.error[role=alert]")
        assert "changed by someone else" in page.inner_text("p.error")
        assert page.input_value("#title").endswith("（更正）")  # what was typed is still there
        assert written.read_text("utf-8") == on_disk  # and the edit on disk was not overwritten
        events = [e["event"] for e in app.store.audit_events("2027-fs")]
        assert events.count("notice.written") == 1
    finally:
        server.stop()
        app.close()
    assert problems == []

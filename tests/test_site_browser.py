"""The site in real headless Chromium: pages run under their Content-Security-Policy without a
violation, and an approved attachment with a script never runs on the site's origin."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from publisher.web.server import Server

from .helpers import Site, approve, served_rules


@pytest.mark.slow
def test_pages_run_with_no_csp_violation_and_attachments_never_run(
    site: Site, browser: Any
) -> None:
    (site.root / "items" / "evil.html").write_text(
        "<script>document.cookie='pwned=1'; window.top.pwned = 1</script><p>名单</p>", "utf-8"
    )
    site.write("n1", extra="attachments:\n  - {title: 名单, file: evil.html}")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
    files = list((site.root / "public" / "files").rglob("evil.html"))
    assert files, "the attachment was not published"
    srv = Server(site.root / "public", "127.0.0.1", 0, rules=served_rules(site))
    srv.start()
    page = browser.new_page(accept_downloads=True)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else 0)
    try:
        for path in ("/subscribe.html", "/signage/landscape/current/", "/notices/n1.html"):
            r = page.goto(srv.url + path)
            assert r is not None and r.status == 200, path
            page.wait_for_timeout(300)
        # the subscribe page's own inline script ran (its hash is in the policy): copy buttons
        assert page.goto(srv.url + "/subscribe.html") is not None
        assert page.evaluate("() => document.querySelectorAll('button').length") > 0
        rel = files[0].relative_to(site.root / "public").as_posix()
        # navigating to it starts a download, which aborts the navigation, as it should
        with page.expect_download() as info, contextlib.suppress(Exception):
            page.goto(f"{srv.url}/{rel}")
        assert info.value.suggested_filename == "evil.html"
        assert page.evaluate("() => window.pwned === undefined")
        assert "pwned" not in page.evaluate("() => document.cookie")
        assert violations == []
    finally:
        page.close()
        srv.stop()


WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}})
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {v['nodes'][0]['target']}"
        for v in result.response["violations"]
    ]


@pytest.mark.slow
def test_the_catalogue_reads_and_searches_in_a_browser(site: Site, browser: Any) -> None:
    import socket

    from publisher.runtime.daemon import Runner

    with socket.socket() as s:  # the site's base_url must be where the browser finds it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = site.config.read_text("utf-8")
    site.config.write_text(text.replace("127.0.0.1:8080", f"127.0.0.1:{port}"), "utf-8")
    site.write("n1", body="经评审，拟推荐王晓同学获得国家奖学金。\n\n## 一、评审程序\n\n略。")
    site.write("n2", category="jbxx", item=2, title="测试示范大学章程")
    with site.app() as app:
        approve(app, "n1")
        approve(app, "n2")
        app.tick()
        runner = Runner(app, port=port)
        runner.start()
        assert runner.server is not None
        base = runner.server.url
        page = browser.new_page()
        try:
            assert page.goto(base + "/") is not None
            # every 清单 item is there, each linking to its own page
            rows = page.locator("table.cat tbody tr")
            assert rows.count() == 50
            for no in range(1, 51):
                assert page.locator(f"#item-{no} a").first.get_attribute("href") == (
                    f"{site.settings().site.base_url}/catalogue/{no:02d}.html"
                )
            # items with notices show them and when they were last published
            assert "测试示范大学招生章程" in page.locator("#item-7").inner_text()
            assert "2026-11-26" in page.locator("#item-7").inner_text()
            assert "暂无" in page.locator("#item-8").inner_text()
            problems = {"home": axe_violations(page)}
            for path in ("/catalogue/07.html", "/catalogue/08.html", "/notices/n1.html"):
                r = page.goto(base + path)
                assert r is not None and r.status == 200, path
                problems[path] = axe_violations(page)
            # the catalogue page links the notice; the notice its item
            page.goto(base + "/catalogue/07.html")
            assert page.locator("main a", has_text="测试示范大学招生章程").count() == 1
            # search from the form on any page, by a word of the body
            page.fill("#q", "王晓")
            page.keyboard.press("Enter")
            page.wait_for_url("**/search?q=*")
            assert page.locator("section.hit h2 a").all_inner_texts() == ["测试示范大学招生章程"]
            assert page.locator("section.hit mark").first.inner_text() == "王晓"
            problems["search"] = axe_violations(page)
            page.goto(base + "/search?q=" + "不存在的词语")
            assert "没有找到" in page.locator("main").inner_text()
            # reflow: at 320 CSS px nothing scrolls sideways (WCAG 1.4.10)
            page.set_viewport_size({"width": 320, "height": 640})
            for path in ("/", "/notices/n1.html", "/catalogue/07.html"):
                page.goto(base + path)
                assert page.evaluate("() => document.documentElement.scrollWidth") <= 320, path
            # keyboard: the first Tab reaches the skip link, and it is visible when focused
            page.goto(base + "/")
            page.keyboard.press("Tab")
            assert page.evaluate("() => document.activeElement.className") == "skip"
            box = page.locator("a.skip").bounding_box()
            assert box is not None and box["x"] >= 0
            assert {k: v for k, v in problems.items() if v} == {}
        finally:
            page.close()
            runner.stop()

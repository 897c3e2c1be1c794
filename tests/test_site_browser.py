"""The site in real headless Chromium: pages run under their Content-Security-Policy without a
violation, and an approved attachment with a script never runs on the site's origin."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from publisher.server import Server

from .helpers import Site, approve


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
    srv = Server(site.root / "public", "127.0.0.1", 0)
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

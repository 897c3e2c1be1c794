"""The signage slideshow in real headless Chromium: it plays, advances, and stays in the safe
area of the screen."""

from __future__ import annotations

import json
from typing import Any

from publisher.server import Server

from .conftest import Site, approve


def test_slideshow_plays_all_slides_inside_the_safe_area(site: Site, browser: Any) -> None:
    body = "\n\n".join(f"第{i}条：" + "公示期内如有异议，请实名反映。" * 6 for i in range(1, 6))
    site.write("n1", body=body, expires_at="2026-12-04 18:00+08:00")
    site.write("n2", title="第二条通知", body="短通知。")
    with site.app() as app:
        approve(app, "n1")
        approve(app, "n2")
        app.tick()
    manifest = json.loads(site.out("signage/landscape/manifest.json").read_text("utf-8"))
    expected = [s["title"] for item in manifest["items"] for s in item["slides"]]
    assert len(expected) >= 3
    srv = Server(site.root / "public", "127.0.0.1", 0)
    srv.start()
    try:
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        # the page decides what is live by its own clock: pin it to the site's test clock
        page.clock.set_fixed_time(site.clock.now())
        page.goto(srv.url + "/signage/landscape/")
        seen = []
        for _ in expected:
            slide = page.locator(".slide.on")
            seen.append(slide.locator("h1").inner_text())
            box = slide.bounding_box()
            assert box is not None
            assert box["x"] >= 1920 * 0.05 - 1 and box["y"] >= 1080 * 0.05 - 1
            assert box["x"] + box["width"] <= 1920 * 0.95 + 1
            assert box["y"] + box["height"] <= 1080 * 0.95 + 1
            # the text fits: nothing is cut off at the bottom of the slide
            overflow = slide.evaluate("e => e.scrollHeight - e.clientHeight")
            assert overflow <= 1, f"slide '{seen[-1]}' overflows by {overflow}px"
            page.evaluate("window.signage.next()")
        assert seen == expected
        page.close()
    finally:
        srv.stop()

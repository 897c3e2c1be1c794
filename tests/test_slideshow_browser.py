"""The signage slideshow in real headless Chromium: it plays every slide, keeps text inside the
safe area, draws real CJK glyphs (no tofu), and puts an emergency alert in front."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from publisher.server import Server

from .helpers import Site, approve

# draws each character of a text on a canvas and compares it with U+10FFFD, which no font has:
# a character drawn like that is a .notdef box (tofu)
TOFU_CHECK = """(text) => {
  const c = document.createElement('canvas'); c.width = 64; c.height = 64;
  const g = c.getContext('2d');
  const fam = getComputedStyle(document.querySelector('.line')).fontFamily;
  const shot = (ch) => { g.clearRect(0, 0, 64, 64); g.font = '48px ' + fam;
    g.fillText(ch, 4, 52); return Array.from(g.getImageData(0, 0, 64, 64).data).join(','); };
  const tofu = shot('\\u{10FFFD}');
  return Array.from(new Set(text)).filter((ch) => ch.trim() && shot(ch) === tofu);
}"""


@pytest.mark.slow
def test_slideshow_plays_all_slides_inside_the_safe_area(site: Site, browser: Any) -> None:
    body = "\n\n".join(f"第{i}条：" + "公示期内如有异议，请实名反映。" * 6 for i in range(1, 6))
    site.write("n1", body=body, expires_at="2026-12-04 18:00+08:00")
    site.write("n2", title="第二条通知", body="短通知。")
    with site.app() as app:
        approve(app, "n1")
        approve(app, "n2")
        app.tick()
        manifest = json.loads(
            site.out("signage/landscape/current/manifest.json").read_text("utf-8")
        )
        expected = [f"{i['notice_id']}:{i['page']}" for i in manifest["items"]]
        assert len(expected) >= 3
        srv = Server(site.root / "public", "127.0.0.1", 0)
        srv.start()
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            # the page decides what is live by its own clock: pin it to the site's test clock
            page.clock.set_fixed_time(site.clock.now())
            page.goto(srv.url + "/signage/landscape/")  # the redirect to current/
            page.wait_for_url("**/current/")
            page.wait_for_function("window.signage !== undefined")
            seen = []
            for _ in expected:
                seen.append(page.evaluate("document.body.dataset.slide"))
                slide = page.locator(".slide.on")
                for i in range(slide.locator(".line").count()):
                    box = slide.locator(".line").nth(i).bounding_box()
                    assert box is not None
                    assert box["x"] >= 1920 * 0.05 - 1 and box["y"] >= 1080 * 0.05 - 2
                    assert box["x"] + box["width"] <= 1920 * 0.95 + 2, box
                    assert box["y"] + box["height"] <= 1080 * 0.95 + 2, box
                text = "".join(slide.locator(".line").all_inner_texts())
                assert page.evaluate(TOFU_CHECK, text) == []
                page.screenshot()
                page.evaluate("window.signage.next()")
            assert seen == expected
            # the network drops: the slideshow keeps playing what it has
            page.context.set_offline(True)
            before = page.evaluate("document.body.dataset.slide")
            page.evaluate("window.signage.next()")
            assert page.evaluate("document.body.dataset.slide") not in ("", before)
            page.context.set_offline(False)
            # an emergency alert: in front of everything at once (within one tick); markup in
            # its text ("<!--<script>" once blanked the whole slideshow) is just text
            text = "因台风影响，今日停课。<!--<script>x</script> & <b>"
            app.alerts.put_up(text, until=site.clock.now() + timedelta(hours=1))
            page.goto(srv.url + "/signage/landscape/current/")
            assert page.evaluate("document.body.dataset.slide").startswith("alert-")
            island = page.evaluate("document.getElementById('data').textContent")
            alert = json.loads(island)["slides"][0]
            shown = "".join(line[0] for line in alert["lines"])
            assert "<" not in island and text.replace(" ", "") in shown.replace(" ", "")
            on_screen = page.inner_text(".slide.on").replace("\n", "").replace(" ", "")
            assert text.replace(" ", "") in on_screen
            page.evaluate("window.signage.next()")
            assert page.evaluate("document.body.dataset.slide").startswith("alert-")
            page.close()
        finally:
            srv.stop()

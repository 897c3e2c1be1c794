"""The signage slideshow in real headless Chromium: it plays every slide, keeps text inside the
safe area, draws real CJK glyphs (no tofu), and puts an emergency alert in front."""

from __future__ import annotations

import io
import json
import os
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image, ImageChops

from publisher.web.server import Server

from .helpers import Site, approve, served_rules
from .vendors import wait_for

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
        srv = Server(site.root / "public", "127.0.0.1", 0, rules=served_rules(site))
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
                    line = slide.locator(".line").nth(i)
                    box = line.bounding_box()
                    assert box is not None
                    # the glyphs' em box: the line box is as high as the font's ascent +
                    # descent (Noto CJK: 1.16 + 0.288 em), the ideographs take 0.88 + 0.12
                    size = float(line.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
                    baseline = box["y"] + round(1.16 * size)
                    top, bottom = baseline - 0.88 * size, baseline + 0.12 * size
                    assert box["x"] >= 1920 * 0.05 - 1 and top >= 1080 * 0.05 - 2, box
                    assert box["x"] + box["width"] <= 1920 * 0.95 + 2, box
                    assert bottom <= 1080 * 0.95 + 2, box
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


def _differing(a: Image.Image, b: Image.Image) -> float:
    """Share of pixels that differ visibly: some channel by more than 64 of 255 (the two
    rasterisers shade glyph edges a little differently; a misplaced line, box or code
    differs by far more)."""
    r, g, b_ = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).split()
    most = ImageChops.lighter(ImageChops.lighter(r, g), b_)
    return sum(most.histogram()[65:]) / (a.width * a.height)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("profile", "size"), [("landscape", (1920, 1080)), ("portrait", (1080, 1920))]
)
def test_the_slideshow_draws_what_the_pngs_show(
    site: Site, browser: Any, profile: str, size: tuple[int, int]
) -> None:
    w, h = size
    text = site.config.read_text("utf-8")
    old = "        - {name: landscape, width: 1920, height: 1080, outputs: [html, manifest]}\n"
    new = (
        f"        - {{name: {profile}, width: {w}, height: {h}, outputs: [png, html, manifest]}}\n"
    )
    # `first`: the alert, then every notice slide with the alert's banner across its foot
    site.config.write_text(text.replace(old, new + "      alert_mode: first\n"), "utf-8")
    table = "| 姓名 | 学院 | 专业 |\n|---|---|---|\n" + "".join(
        f"| 学生{i} | 文学院 | 汉语言文学 |\n" for i in range(6)
    )
    site.write(
        "n1",
        title="关于2027年推荐优秀应届本科毕业生免试攻读研究生拟录取名单的公示",
        body="经学院复试，现将拟录取名单公示如下。\n\n" + table,
        expires_at="2026-12-04 18:00+08:00",
    )
    chapters = (
        f"## 第{k}章\n\n第{k}条 学校坚持“立德树人”，依法办学，接受社会监督。" for k in range(1, 5)
    )
    site.write("n2", title="测试示范大学章程", body="\n\n".join(chapters))
    with site.app() as app:
        approve(app, "n1")
        approve(app, "n2")
        app.alerts.put_up("因寒潮影响，明日全校停课。", until=site.clock.now() + timedelta(hours=2))
        m = json.loads(site.out(f"signage/{profile}/current/manifest.json").read_text("utf-8"))
        srv = Server(site.root / "public", "127.0.0.1", 0, rules=served_rules(site))
        srv.start()
        try:
            page = browser.new_page(viewport={"width": w, "height": h}, device_scale_factor=1)
            page.clock.set_fixed_time(site.clock.now())
            page.goto(srv.url + f"/signage/{profile}/current/")
            page.wait_for_function("window.signage !== undefined")
            page.evaluate("document.fonts.ready")
            worst = 0.0
            for item in m["items"]:
                assert page.evaluate("document.body.dataset.slide") == (
                    f"{item['notice_id']}:{item['page']}"
                )
                shot = Image.open(io.BytesIO(page.screenshot()))
                drawn = Image.open(
                    site.out(f"signage/{profile}/files/" + item["file"].rsplit("/", 1)[-1])
                )
                share = _differing(shot, drawn)
                if os.environ.get("SLIDE_DIFF"):  # to look at: the two and where they differ
                    stem = (
                        f"{os.environ['SLIDE_DIFF']}/{profile}-{item['notice_id']}-{item['page']}"
                    )
                    shot.save(stem + "-html.png")
                    drawn.save(stem + "-png.png")
                    ImageChops.difference(shot.convert("RGB"), drawn.convert("RGB")).save(
                        stem + "-diff.png"
                    )
                worst = max(worst, share)
                assert share <= 0.005, (item["notice_id"], item["page"], share)
                page.evaluate("window.signage.next()")
            print(f"{profile}: {len(m['items'])} slides, worst {worst:.4%} of pixels differ")
            page.close()
        finally:
            srv.stop()


@pytest.mark.slow
def test_the_slideshow_reports_its_heartbeat_and_what_it_showed(site: Site, browser: Any) -> None:
    site.write("n1", body="\n\n".join("公示期内如有异议，请实名反映。" * 8 for _ in range(4)))
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        version = json.loads(
            site.out("signage/landscape/current/manifest.json").read_text("utf-8")
        )["version"]

        def heartbeat(body: bytes, address: str) -> dict[str, Any]:
            return {"current": app.screens.current(app.screens.record(body, address))}

        srv = Server(
            site.root / "public", "127.0.0.1", 0, heartbeat=heartbeat, rules=served_rules(site)
        )
        srv.start()
        try:
            page = browser.new_page(viewport={"width": 960, "height": 540})
            page.clock.set_fixed_time(site.clock.now())
            page.goto(srv.url + "/signage/landscape/current/?screen=lobby-1")
            page.wait_for_function("window.signage !== undefined")
            page.evaluate("window.signage.next()")
            page.evaluate("window.signage.next()")
            site.clock.advance(timedelta(seconds=10))  # the server's clock: past the 5 s limit
            page.evaluate("window.signage.beat()")
            assert wait_for(lambda: bool(app.store.screens()), 10)
            [screen] = app.store.screens()
            assert (screen.screen, screen.profile, screen.version) == (
                "lobby-1",
                "landscape",
                version,
            )
            assert (screen.width, screen.height) == (960, 540) and screen.address == "127.0.0.1"
            now = site.clock.now()
            plays = app.store.plays(now - timedelta(hours=1), now + timedelta(hours=1))
            assert [p[4].notice_id for p in plays] == ["n1", "n1"]
            assert [p[4].page for p in plays] == [1, 2]
            # a beat the server refuses keeps the slides it carried for the next one
            page.evaluate("window.signage.next()")
            page.evaluate("window.signage.beat()")  # within 5 s of the last: 429
            page.wait_for_timeout(500)
            assert len(app.store.plays(now - timedelta(hours=1), now + timedelta(hours=1))) == 2
            site.clock.advance(timedelta(seconds=10))
            page.evaluate("window.signage.beat()")
            assert wait_for(
                lambda: (
                    len(app.store.plays(now - timedelta(hours=1), now + timedelta(hours=1))) == 3
                ),
                10,
            )
            page.close()
        finally:
            srv.stop()

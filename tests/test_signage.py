"""Signage: layout, line breaking, PNG slides, bundles, alerts."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops

from channels.signage.fonts import draws_chinese, find_fonts, glyph
from channels.signage.layout import Layout
from channels.signage.linebreak import NO_END, NO_START, break_paragraph, tokens
from channels.signage.options import Profile
from channels.signage.render import draw

from .helpers import Site, approve

FONTS = find_fonts()


def bundle_file(site: Site, profile: str, name: str) -> Path:
    return site.out(f"signage/{profile}/current/{name}")


def manifest(site: Site, profile: str = "landscape") -> dict:
    return json.loads(bundle_file(site, profile, "manifest.json").read_text("utf-8"))


def configure(site: Site, profiles: str, extra: str = "") -> None:
    text = site.config.read_text("utf-8")
    old = "        - {name: landscape, width: 1920, height: 1080, outputs: [html, manifest]}\n"
    site.config.write_text(text.replace(old, profiles + extra), "utf-8")


# --------------------------------------------------------------------------- line breaking


def width(s: str) -> float:
    return sum(0.55 if c.isascii() else 1.0 for c in s)


UNITS = [
    *"公示期内如有异议请实名反映。，、；：！？（）《》「」“”",
    "2025",
    "7.5%",
    "0851-86681369",
    "abc",
    " ",
]
cjk_text = st.lists(st.sampled_from(UNITS), max_size=120).map("".join)


@settings(max_examples=400, deadline=None)
@given(cjk_text, st.integers(4, 30))
def test_line_breaking_rules(text: str, limit: int) -> None:
    lines = break_paragraph(text, width, limit)
    assert "".join(lines) == text  # nothing lost, nothing added
    for i, line in enumerate(lines):
        if i > 0 and line:
            # a line may start with closing punctuation only when the previous one could not
            # give a character (it held a single unit)
            assert line[0] not in NO_START or len(tokens(lines[i - 1])) <= 1
        if i < len(lines) - 1 and len(tokens(line)) > 1:
            assert line[-1] not in NO_END
    # a run of digits and letters that fits on a line is never split (runs written next to each
    # other, 2025 then 7.5%, make one run: "20257.5%" is the unit, not "7.5%")
    for run in tokens(text):
        if len(run) > 1 and not run.isspace() and width(run) <= limit:
            assert any(run in ln for ln in lines), (run, lines)


def test_runs_are_kept_whole() -> None:
    assert "0851-86681369" in tokens("电话0851-86681369。")
    assert "7.5%" in tokens("增长7.5%，")
    lines = break_paragraph("联系电话0851-86681369，邮箱xxgk@example.edu.cn。", width, 10)
    assert any("0851-86681369" in ln for ln in lines)


# --------------------------------------------------------------------------- layout


def notice_view(site: Site, body: str, **kw: object) -> object:
    site.write("n1", body=body, **kw)
    with site.app() as app:
        approve(app, "n1")
        v = app.store.latest_approved("n1")
        assert v is not None
        return app.views.published(v)


def test_pages_keep_every_character_in_order(site: Site) -> None:
    body = "\n\n".join(
        f"第{i}段：" + "公示期内如有异议，请以书面形式实名反映。" * 6 for i in range(1, 9)
    )
    view = notice_view(site, body, expires_at="2026-12-04 18:00+08:00")
    for profile in (
        Profile(name="a", width=1920, height=1080),
        Profile(name="b", width=1080, height=1920),
        Profile(name="c", width=3840, height=1080),
        Profile(name="d", width=2112, height=960),
    ):
        layout = Layout(profile, FONTS, "测试站")
        slides = layout.notice_slides(view)  # type: ignore[arg-type]
        assert len(slides) > 1 or profile.name == "b"
        body_lines = [ln.text for s in slides for ln in s.lines if ln.size == layout.body]
        assert "".join(body_lines).replace(" ", "") == body.replace("\n", "").replace(" ", "")
        for s in slides:
            if s.pages > 1:
                assert s.lines[0].text.endswith(f"（{s.page}/{s.pages}）") or any(
                    ln.text.endswith(f"（{s.page}/{s.pages}）") for ln in s.lines[:2]
                )
            assert "公示期：2026年11月26日 至 2026年12月4日" in [ln.text for ln in s.lines]
            assert profile.dwell_min <= s.duration <= profile.dwell_max
            for ln in s.lines:  # the ink of every line inside the safe area
                m = layout.measure(ln.size, ln.bold)
                top, bottom = layout.ink(ln.size, ln.bold)
                assert ln.x >= layout.left and ln.x + m(ln.text) <= layout.right + 1, ln.text
                assert ln.y + top >= layout.top and ln.y + bottom <= layout.bottom + 1
        if profile.name == "c":
            xs = {ln.x for s in slides for ln in s.lines if ln.size == layout.body}
            assert len(xs) == 2  # two columns on a very wide LED wall


def ink_outside_safe_area(img: Image.Image, profile: Profile, background: str) -> bool:
    bg = Image.new("RGB", img.size, background)
    diff = ImageChops.difference(img, bg).convert("L").point(lambda v: 255 if v > 40 else 0)
    left, top = round(profile.width * profile.margin), round(profile.height * profile.margin)
    inner = Image.new("L", img.size, 0)
    inner.paste(255, (left, top, profile.width - left, profile.height - top))
    outside = ImageChops.subtract(diff, inner)
    return outside.getbbox() is not None


def test_png_size_margins_and_every_line_drawn(site: Site) -> None:
    body = "根据有关规定，现将拟录取名单公示如下。" * 20
    view = notice_view(site, body)
    profile = Profile(name="lobby", width=1920, height=1080)
    layout = Layout(profile, FONTS, "测试站")
    for slide in layout.notice_slides(view):  # type: ignore[arg-type]
        img = draw(slide, profile.width, profile.height, FONTS)
        assert img.size == (1920, 1080)
        assert not ink_outside_safe_area(img, profile, slide.background)
        # render-and-compare: each line, drawn alone at its place, matches the slide there
        for ln in slide.lines:
            font = (FONTS.bold if ln.bold else FONTS.regular).load(ln.size)
            alone = Image.new("RGB", img.size, slide.background)
            from PIL import ImageDraw

            ImageDraw.Draw(alone).text((ln.x, ln.y), ln.text, font=font, fill=ln.color)
            box = ImageChops.difference(
                alone, Image.new("RGB", img.size, slide.background)
            ).getbbox()
            assert box is not None, ln.text  # the line has ink
            assert ImageChops.difference(alone.crop(box), img.crop(box)).getbbox() is None


def test_cjk_glyphs_are_not_tofu() -> None:
    font = FONTS.regular.load(48)
    notdef = glyph(font, "\U0010fffd")
    for ch in "南山示范大学拟录取名单公示期异议联系电话。，":
        assert glyph(font, ch) != notdef, ch
    assert draws_chinese(FONTS.regular)
    assert FONTS.regular.name in ("Noto Sans CJK SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei")


def test_missing_font_names_the_debian_package(tmp_path: Path) -> None:
    from publisher.errors import ChannelError

    with pytest.raises(ChannelError, match="fonts-noto-cjk"):
        find_fonts(str(tmp_path / "nope.ttc"))


# --------------------------------------------------------------------------- bundles


def test_bundle_outputs_and_atomic_versions(site: Site) -> None:
    configure(
        site,
        "        - {name: landscape, width: 1920, height: 1080, outputs: [png, "
        "html, manifest, anthias, concerto, pdf]}\n        - {name: portrait, width: "
        "1080, height: 1920, categories: [cwzc]}\n",
    )
    site.write("n1", title="招生章程", expires_at="2026-12-04 18:00+08:00")
    site.write("n2", title="部门预算", category="cwzc", item=19)
    with site.app() as app:
        approve(app, "n1")
        approve(app, "n2")
        app.tick()
        m = manifest(site)
        assert {i["notice_id"] for i in m["items"]} == {"n1", "n2"}
        item = next(i for i in m["items"] if i["notice_id"] == "n1")
        png = (bundle_file(site, "landscape", "manifest.json").parent / item["file"]).resolve()
        data = png.read_bytes()
        import hashlib

        assert hashlib.sha256(data).hexdigest() == item["sha256"] and len(data) == item["bytes"]
        assert Image.open(io.BytesIO(data)).size == (1920, 1080)
        assert item["valid_until"].startswith("2026-12-04T18:00:00")
        assert item["source_url"] == "http://127.0.0.1:8080/notices/n1.html"
        anthias = json.loads(bundle_file(site, "landscape", "anthias.json").read_text("utf-8"))
        assert anthias["assets"][0]["mimetype"] == "image"
        assert anthias["assets"][0]["uri"].startswith(
            "http://127.0.0.1:8080/signage/landscape/files/"
        )
        concerto = json.loads(bundle_file(site, "landscape", "concerto.json").read_text())
        assert concerto["content"][0]["type"] == "graphic"
        assert bundle_file(site, "landscape", "poster.pdf").read_bytes().startswith(b"%PDF")
        assert [i["notice_id"] for i in manifest(site, "portrait")["items"]] == ["n2"]
        link = site.out("signage/landscape/current")
        assert link.is_symlink() and os.readlink(link).startswith("versions/")
        first = os.readlink(link)
        drawn = app.channels["screen"].rendered  # type: ignore[attr-defined]
        site.clock.advance(3600)
        app.tick(force_build=True)
        assert os.readlink(link) == first  # no change: no new version
        assert app.channels["screen"].rendered == drawn  # type: ignore[attr-defined]
        site.write("n2", title="部门预算（更正）", category="cwzc", item=19)
        approve(app, "n2")
        app.tick()
        assert os.readlink(link) != first
        # only the changed notice's slides were drawn again (one per profile showing it)
        assert app.channels["screen"].rendered - drawn == 2  # type: ignore[attr-defined]
        assert (site.out("signage/landscape") / first).is_dir()  # kept for rollback


def test_old_versions_are_pruned(site: Site) -> None:
    configure(
        site,
        "        - {name: landscape, width: 640, height: 360}\n",
        extra="      keep_versions: 2\n",
    )
    with site.app() as app:
        for i in range(4):
            site.write(f"n{i}", title=f"通知{i}")
            approve(app, f"n{i}")
            app.tick()
            site.clock.advance(60)
    versions = [
        p for p in site.out("signage/landscape/versions").iterdir() if not p.name.startswith(".")
    ]
    assert len(versions) == 2
    used = {
        i["file"].rsplit("/", 1)[-1]
        for v in versions
        for i in json.loads((v / "manifest.json").read_text())["items"]
    }
    pool = {
        p.name for p in site.out("signage/landscape/files").iterdir() if not p.name.startswith(".")
    }
    assert pool == used


def test_expired_and_withdrawn_leave_the_export(site: Site) -> None:
    site.write("n1", expires_at="2026-11-26 12:00+08:00")
    site.write("n2", title="另一条")
    with site.app() as app:
        approve(app, "n1")
        approve(app, "n2")
        report = app.tick()
        assert report.channels["screen"].wake_at is not None  # it knows when n1 expires
        assert {i["notice_id"] for i in manifest(site)["items"]} == {"n1", "n2"}
        site.clock.set(report.channels["screen"].wake_at)
        app.tick()
        assert {i["notice_id"] for i in manifest(site)["items"]} == {"n2"}
        app.withdraw("n2", "错误")
        assert manifest(site)["items"] == []


def test_emergency_alert_in_front_until_it_ends(site: Site) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        until = site.clock.now() + timedelta(hours=1)
        app.alerts.put_up("因台风影响，今日下午停课。请师生注意安全。", until=until)
        items = manifest(site)["items"]
        assert items[0]["priority"] == 100 and items[0]["notice_id"].startswith("alert-")
        notice = next(i for i in items if i["notice_id"] == "n1")
        assert notice["starts"] == until.isoformat()  # date-aware players resume after it
        site.clock.advance(timedelta(hours=1, seconds=1))
        app.tick()
        assert [i["notice_id"] for i in manifest(site)["items"]] == ["n1"]


def test_alert_text_passes_the_review_lint(site: Site) -> None:
    from publisher.errors import BlockedByFindings

    with site.app() as app, pytest.raises(BlockedByFindings):
        app.alerts.put_up("请联系 13812345678", until=site.clock.now() + timedelta(hours=1))


FontCheck = Callable[[str], bool]


def _view(title: str, body: str) -> object:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from publisher.model import Notice, PublishedNotice

    at = datetime(2026, 11, 26, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    n = Notice(
        id="p",
        title=title,
        category="zsks",
        item=7,
        department="招生就业处",
        summary="",
        body=body,
        publish_at=at,
        contact="0851-86681201",
    )
    return PublishedNotice(
        notice=n,
        sha256="0" * 64,
        url="http://127.0.0.1:8080/notices/p.html",
        html="",
        approved_at=at,
        revision=1,
        category_name="招生考试信息",
        item_text="",
    )


PARAGRAPHS = st.lists(cjk_text.filter(lambda t: t.strip() != ""), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(PARAGRAPHS, st.sampled_from([(1920, 1080), (1080, 1920), (3840, 1080), (800, 480)]))
def test_paginated_slides_keep_the_text_and_the_safe_area(
    paragraphs: list[str], size: tuple[int, int]
) -> None:
    profile = Profile(name="p", width=size[0], height=size[1])
    layout = Layout(profile, FONTS, "测试站")
    body = "\n\n".join(paragraphs)
    slides = layout.notice_slides(_view("标题", body))  # type: ignore[arg-type]
    shown = "".join(ln.text for s in slides for ln in s.lines if ln.size == layout.body)
    assert shown.replace(" ", "") == body.replace("\n", "").replace(" ", "")
    assert [s.page for s in slides] == list(range(1, len(slides) + 1))
    for s in slides:
        assert s.pages == len(slides)
        for ln in s.lines:
            top, bottom = layout.ink(ln.size, ln.bold)
            assert ln.x + layout.measure(ln.size, ln.bold)(ln.text.rstrip()) <= layout.right + 1
            assert ln.y + top >= layout.top and ln.y + bottom <= layout.bottom + 1


def test_alert_text_with_control_characters_is_refused(site: Site) -> None:
    from publisher.errors import PublisherError

    site.write("n1")
    with site.app() as app:
        for text in ("停课\x1b[2J\x1b[31m", "停课\udcff", "停课\x00"):
            with pytest.raises(PublisherError, match="control character"):
                app.alerts.put_up(text, until=site.clock.now() + timedelta(hours=1))
        assert app.store.alerts(site.clock.now()) == []

"""Signage: layout, line breaking, PNG slides, bundles, alerts."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageDraw

from channels.common.fonts import draws_chinese, find_fonts, glyph
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


def has_colour(img: Image.Image, rgb: tuple[int, int, int], count: int = 500) -> bool:
    """At least ``count`` pixels within a few levels of ``rgb`` (PNGs keep 256 colours)."""
    near = 0
    for n, c in img.getcolors(1 << 20) or []:
        if max(abs(a - b) for a, b in zip(c, rgb, strict=True)) <= 6:
            near += n
    return near >= count


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


def test_a_long_notice_is_a_poster_and_at_most_max_slides(site: Site) -> None:
    body = "\n\n".join(
        f"第{i}段：" + "公示期内如有异议，请以书面形式实名反映。" * 6 for i in range(1, 40)
    )
    view = notice_view(site, body, expires_at="2026-12-04 18:00+08:00")
    for profile in (
        Profile(name="a", width=1920, height=1080),
        Profile(name="b", width=1080, height=1920),
        Profile(name="c", width=3840, height=1080),
        Profile(name="d", width=2112, height=960, max_slides=5),
    ):
        layout = Layout(profile, FONTS, "测试站")
        slides = layout.notice_slides(view)  # type: ignore[arg-type]
        assert len(slides) == profile.max_slides
        assert [s.kind for s in slides] == ["poster"] + ["body"] * (len(slides) - 2) + ["more"]
        poster = slides[0]
        assert (
            "".join(ln.text for ln in poster.lines if ln.role == "title") == "测试示范大学招生章程"
        )
        assert {ln.text for ln in poster.lines if ln.role == "label"} >= {"公示期", "发布部门"}
        facts = "".join(ln.text for ln in poster.lines if ln.role == "fact")
        assert "2026年11月26日至2026年12月4日" in facts.replace(" ", "")
        assert poster.qr_box and slides[-1].qr_box and slides[1].qr_box is None
        assert any(ln.text == "全文请扫码" for ln in slides[-1].lines)
        assert_inside_safe_area(layout, slides)
        for s in slides:
            assert profile.dwell_min <= s.duration <= profile.dwell_max
        if profile.name == "c":
            xs = {ln.x for s in slides[1:-1] for ln in s.lines if ln.role == "body"}
            assert len(xs) == 2  # two columns on a very wide LED wall


def assert_inside_safe_area(layout: Layout, slides: list) -> None:  # type: ignore[type-arg]
    for s in slides:
        for ln in s.lines:  # the ink of every line inside the safe area
            m = layout.measure(ln.size, ln.bold)
            top, bottom = layout.ink(ln.size, ln.bold)
            assert ln.x >= layout.left and ln.x + m(ln.text.rstrip()) <= layout.right + 1, ln
            assert ln.y + top >= layout.top and ln.y + bottom <= layout.bottom + 1, ln
        for b in s.boxes:
            assert layout.left <= b.x and b.x + b.w <= layout.right + 1, b
            assert layout.top <= b.y and b.y + b.h <= layout.bottom + 1, b
        if s.qr_box:
            x, y, side = s.qr_box
            assert layout.left <= x and x + side <= layout.right
            assert layout.top <= y and y + side <= layout.bottom


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
            under = draw(replace(slide, lines=(), qr_url=None), *img.size, FONTS)
            alone = under.copy()
            ImageDraw.Draw(alone).text((ln.x, ln.y), ln.text, font=font, fill=ln.color)
            box = ImageChops.difference(alone, under).getbbox()
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
        assert {i["notice_id"] for i in manifest(site, "portrait")["items"]} == {"n2"}
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
        # only the changed notice's slides were drawn again, in each profile showing it
        of_n2 = sum(
            1 for p in ("landscape", "portrait") for i in manifest(site, p)["items"]
            if i["notice_id"] == "n2"
        )  # fmt: skip
        assert app.channels["screen"].rendered - drawn == of_n2  # type: ignore[attr-defined]
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
        assert {i["notice_id"] for i in manifest(site)["items"]} == {"n1"}


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


SENTENCE = st.lists(st.sampled_from(UNITS[:-1]), min_size=1, max_size=30).map(
    lambda units: "".join(units).strip("。！？；") + "。"
)
PARAGRAPH = st.lists(SENTENCE, min_size=1, max_size=6).map("".join)
NAMES = st.integers(2, 30)


@st.composite
def bodies(draw: st.DrawFn) -> str:
    """Markdown bodies of paragraphs, headings and 名单 tables."""
    parts = []
    for i in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["p", "p", "p", "h", "t"]))
        if kind == "h":
            parts.append(f"## 第{i}章 标题{i}")
        elif kind == "t":
            rows = draw(NAMES)
            lines = ["| 姓名 | 专业 | 编号 |", "|---|---|---|"]
            lines += [f"| 学生{i}x{r} | 化学{r} | 1000{r} |" for r in range(rows)]
            parts.append("\n".join(lines))
        else:
            parts.append(draw(PARAGRAPH))
    return "\n\n".join(parts)


@settings(max_examples=80, deadline=None)
@given(
    bodies(),
    st.sampled_from([(1920, 1080), (1080, 1920), (3840, 1080), (800, 480)]),
    st.integers(1, 5),
    st.sampled_from(["标题", "测试示范大学2027年推荐免试攻读研究生拟录取名单公示" * 2]),
)
def test_slides_break_between_sentences_keep_rows_whole_and_stay_in_the_safe_area(
    body: str, size: tuple[int, int], max_slides: int, title: str
) -> None:
    from channels.signage.blocks import Para, Table, display_blocks, sentences

    profile = Profile(name="p", width=size[0], height=size[1], max_slides=max_slides)
    layout = Layout(profile, FONTS, "测试站")
    slides = layout.notice_slides(_view(title, body))  # type: ignore[arg-type]
    assert 1 <= len(slides) <= max_slides
    assert [s.page for s in slides] == list(range(1, len(slides) + 1))
    assert all(s.pages == len(slides) for s in slides)
    # the title is never cut: whole on the poster, whole in each slide's running head
    assert "".join(ln.text for ln in slides[0].lines if ln.role == "title") == title
    body_slides = [s for s in slides if s.kind == "body"]
    for s in body_slides:
        assert "".join(ln.text for ln in s.lines if ln.role == "running-head") == title
    assert_inside_safe_area(layout, slides)
    blocks = display_blocks(body)
    # where each slide's text of a paragraph ends: only after a sentence or the paragraph
    for k, s in enumerate(body_slides):
        paras = [ln for ln in s.lines if ln.role in ("body", "lead")]
        if not paras:
            continue
        last = paras[-1].block
        block = blocks[last]
        if not isinstance(block, Para):
            continue
        lines = [ln for ln in paras if ln.block == last]
        mine = "".join(
            ln.text for ln in s.lines if ln.block == last and ln.role in ("body", "lead")
        )
        earlier = "".join(
            ln.text
            for t in body_slides[:k]
            for ln in t.lines
            if ln.block == last and ln.role in ("body", "lead")
        )
        shown = (earlier + mine).replace(" ", "")
        full = (block.bullet + block.text).replace(" ", "")
        ends = {len("".join(sentences(full)[: i + 1])) for i in range(len(sentences(full)))}
        if len(shown) < len(full):
            assert len(shown) in ends, (shown, full)  # never inside a sentence
            assert len(lines) >= 2  # no lone first line of a paragraph at a slide's foot
        if earlier:
            assert len(lines) >= 2 or len(shown) < len(full)  # no lone last line at the top
        # a heading is never the last thing on a slide
        last_line = [ln for ln in s.lines if ln.block >= 0][-1]
        assert last_line.role != "heading" or last_line.block == len(blocks) - 1
    # a table row is whole on one slide, below its header
    for s in body_slides:
        for b in {ln.block for ln in s.lines if ln.role == "cell"}:
            rows = {ln.row for ln in s.lines if ln.role == "cell" and ln.block == b}
            assert 0 in rows  # the header, repeated
            for r in rows - {0}:
                cells = [ln.text for ln in s.lines if ln.block == b and ln.row == r]
                assert f"1000{r - 1}" in "".join(cells), cells
    # a table on the slides is whole: never some names and not the rest (else summarised)
    for b, block in enumerate(blocks):
        if isinstance(block, Table):
            shown_rows = {
                ln.row for s in body_slides for ln in s.lines if ln.block == b and ln.row > 0
            }
            assert not shown_rows or shown_rows == set(range(1, len(block.rows) + 1))


def test_alert_text_with_control_characters_is_refused(site: Site) -> None:
    from publisher.errors import PublisherError

    site.write("n1")
    with site.app() as app:
        for text in ("停课\x1b[2J\x1b[31m", "停课\udcff", "停课\x00"):
            with pytest.raises(PublisherError, match="control character"):
                app.alerts.put_up(text, until=site.clock.now() + timedelta(hours=1))
        assert app.store.alerts(site.clock.now()) == []


def test_readability_is_checked_against_the_viewing_distance() -> None:
    near = Layout(Profile(name="a"), FONTS, "测试站").readability()
    # 1920×1080 at 55″: 0.634 mm a pixel; 国 at 59 px is about 54 px of ink
    assert 30 <= float(near["cap_height_mm"]) <= 38 and near["needed_mm"] == 25.0
    assert near["readable"] is True
    far = Layout(Profile(name="b", viewing_distance_m=6), FONTS, "测试站").readability()
    assert far["needed_mm"] == 50.0 and far["readable"] is False
    small = Layout(Profile(name="c", body_size=0.03), FONTS, "测试站").readability()
    assert small["readable"] is False


def test_a_table_too_wide_for_the_screen_is_summarised() -> None:
    header = "| " + " | ".join(f"列{i}" for i in range(12)) + " |"
    rule = "|" + "---|" * 12
    rows = [
        "| " + " | ".join(f"很长的单元格内容{i}{j}" for j in range(12)) + " |" for i in range(5)
    ]
    body = "\n".join([header, rule, *rows])
    layout = Layout(Profile(name="a"), FONTS, "测试站")
    slides = layout.notice_slides(_view("标题", body))  # type: ignore[arg-type]
    text = "".join(ln.text for s in slides for ln in s.lines)
    assert "表格共 5 行，请扫码查看全文。" in text and "列0" not in text
    names = "| 姓名 | 专业 |\n|---|---|\n" + "\n".join(f"| 学生{i} | 化学 |" for i in range(400))
    slides = layout.notice_slides(_view("名单", names))  # type: ignore[arg-type]
    said = [
        s for s in slides if "名单共 400 人，请扫码查看全文。" in "".join(ln.text for ln in s.lines)
    ]
    assert len(said) == 1 and said[0].qr_box is not None  # the code it points to is there
    assert_inside_safe_area(layout, slides)


# --------------------------------------------------------------------------- scheduling


def test_dayparts_blank_the_screens_outside_their_hours_but_not_an_alert(site: Site) -> None:
    # 2026-11-26 is a Thursday; the clock starts at 10:00
    configure(
        site,
        "        - {name: landscape, width: 1920, height: 1080, outputs: [html, manifest],"
        ' hours: "07:30-22:00", weekdays: [mon-fri]}\n',
    )
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        report = app.tick()
        m = manifest(site)
        assert m["schedule"]["on_air"] and m["items"][0]["notice_id"] == "n1"
        assert m["schedule"]["next_switch"] == "2026-11-26T22:00:00+08:00"
        # the engine comes back when the hours end, not at the next interval tick
        assert report.channels["screen"].wake_at.isoformat() == "2026-11-26T22:00:00+08:00"
        site.clock.set(report.channels["screen"].wake_at)
        report = app.tick()
        m = manifest(site)
        assert not m["schedule"]["on_air"]
        assert [i["kind"] for i in m["items"]] == ["off-air"]
        # Friday 07:30 is the next start (the night belongs to Thursday's hours)
        assert report.channels["screen"].wake_at.isoformat() == "2026-11-27T07:30:00+08:00"
        app.alerts.put_up("因寒潮影响，明日停课。", until=site.clock.now() + timedelta(hours=2))
        kinds = [i["kind"] for i in manifest(site)["items"]]
        assert kinds == ["alert", "off-air"]  # an emergency shows at any hour
        # Saturday is not a weekday of this profile: off all day, on again on Monday
        site.clock.set(site.clock.now().replace(day=28, hour=12))
        report = app.tick()
        assert [i["kind"] for i in manifest(site)["items"]] == ["off-air"]
        assert report.channels["screen"].wake_at.isoformat() == "2026-11-30T07:30:00+08:00"
        site.clock.set(report.channels["screen"].wake_at)
        app.tick()
        assert {i["notice_id"] for i in manifest(site)["items"]} == {"n1"}


def test_priorities_and_screen_windows(site: Site) -> None:
    pinned = "screens_priority: pinned"
    site.write("old", title="置顶的旧通知", publish_at="2026-11-20 09:00+08:00", extra=pinned)
    window = "screens_from: 2026-11-26 09:30+08:00\nscreens_until: 2026-11-26 12:00+08:00"
    site.write("timed", title="限时上屏", publish_at="2026-11-21 09:00+08:00", extra=window)
    site.write("new", title="最新通知", publish_at="2026-11-26 09:00+08:00")
    with site.app() as app:
        for nid in ("old", "timed", "new"):
            approve(app, nid)
        report = app.tick()
        items = manifest(site)["items"]
        firsts = [i["notice_id"] for i in items if i["page"] == 1]
        assert firsts == ["old", "timed", "new"]  # pinned > timed > default, whatever the age
        names = [i["priority_name"] for i in items if i["page"] == 1]
        assert names == ["pinned", "timed", "default"]
        timed = next(i for i in items if i["notice_id"] == "timed")
        assert timed["valid_from"] == "2026-11-26T09:30:00+08:00"
        assert timed["valid_until"] == "2026-11-26T12:00:00+08:00"
        # the screen window's end brings the engine back, and the notice leaves the loop
        assert report.channels["screen"].wake_at.isoformat() == "2026-11-26T12:00:00+08:00"
        site.clock.set(report.channels["screen"].wake_at)
        app.tick()
        firsts = [i["notice_id"] for i in manifest(site)["items"] if i["page"] == 1]
        assert firsts == ["old", "new"]
        # the feed is not a screen: the notice stays live there
        assert "限时上屏" in site.out("feeds/all.rss.xml").read_text("utf-8")


def test_the_loop_budget_drops_the_lowest_priority_oldest_first(site: Site) -> None:
    configure(
        site,
        "        - {name: landscape, width: 1920, height: 1080, outputs: [html, manifest],"
        " loop_budget: 60, dwell_min: 10, dwell_max: 10}\n",
    )
    for i in range(6):
        extra = "screens_priority: pinned" if i == 0 else ""
        at = f"2026-11-2{i} 09:00+08:00"
        site.write(f"n{i}", title=f"第{i}号通知", publish_at=at, body="正文。", extra=extra)
    with site.app() as app:
        for i in range(6):
            approve(app, f"n{i}")
        app.alerts.put_up("今日停水。", until=site.clock.now() + timedelta(hours=1))
        m = manifest(site)
        # each notice is one poster here (10 s), the alert 10 s: 70 s against a budget of 60 s
        assert m["loop_seconds"] <= 60
        shown = {i["notice_id"] for i in m["items"]}
        assert "n0" in shown  # pinned: kept although it is the oldest
        assert any(n.startswith("alert-") for n in shown)  # alerts never drop
        dropped = [d["notice_id"] for d in m["dropped"]]
        assert dropped == ["n1"]  # the oldest unpinned one
        assert "n5" in shown  # the newest stays
        assert all(d["reason"] == "loop budget 60 s" for d in m["dropped"])


def test_screen_fields_of_a_notice_are_checked(site: Site) -> None:
    from publisher.errors import NoticeError

    backwards = "screens_from: 2026-11-27 09:00+08:00\nscreens_until: 2026-11-27 08:00+08:00"
    site.write("a", extra=backwards)
    site.write("b", extra="screens_priority: top")
    late = "screens_from: 2026-11-28 09:00+08:00"
    site.write("c", expires_at="2026-11-27 09:00+08:00", extra=late)
    with site.app() as app:
        _, errors = app.load()
    by_file = {e.file.rsplit("/", 1)[-1]: e for e in errors if isinstance(e, NoticeError)}
    assert by_file["a.md"].field == "screens_until" and by_file["a.md"].line > 1
    assert (
        "pinned or normal" in str(by_file["b.md"]) and by_file["b.md"].field == "screens_priority"
    )
    assert "never be on the screens" in str(by_file["c.md"])


def _hours(ranges: list[tuple[int, int, int, int]]) -> str:
    parts = []
    for a, b, c, d in ranges:
        d = 0 if c == 24 else d
        if (a, b) != (c, d):
            parts.append(f"{a:02d}:{b:02d}-{c:02d}:{d:02d}")
    return ", ".join(parts)


MINUTES = st.sampled_from([0, 30])
HOURS = st.lists(
    st.tuples(st.integers(0, 23), MINUTES, st.integers(0, 24), MINUTES), max_size=3
).map(_hours)


@settings(max_examples=200, deadline=None)
@given(HOURS, st.sets(st.integers(1, 7), min_size=1), st.integers(0, 7 * 24 * 60 - 1))
def test_daypart_switches_exactly_when_it_says(hours: str, days: set[int], minute: int) -> None:
    from channels.signage.schedule import Daypart, parse_hours

    from .helpers import START, TZ

    dp = Daypart(tuple(parse_hours(hours)) if hours else (), frozenset(days), TZ)
    at = START.replace(hour=0, minute=0) + timedelta(minutes=minute)
    state = dp.on_air(at)
    switch = dp.next_switch(at)
    horizon = at + timedelta(days=8)
    end = switch or horizon
    t = at
    while t < end:  # nothing changes before the switch …
        assert dp.on_air(t) == state, (hours, days, at, t)
        t += timedelta(minutes=15)
    if switch is not None:  # … and it does change at it
        assert dp.on_air(switch) != state
        assert dp.on_air(switch - timedelta(seconds=1)) == state


def test_alerts_fill_the_screen_with_a_sign_and_are_a_banner_in_first_mode(site: Site) -> None:
    configure(
        site,
        "        - {name: landscape, width: 1920, height: 1080, outputs: [png, html, manifest]}\n",
        "      alert_mode: first\n",
    )
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        plain = {i["file"] for i in manifest(site)["items"]}
        until = site.clock.now() + timedelta(hours=2)
        app.alerts.put_up("因台风影响，今日下午全校停课，请师生留在室内。", until=until)
        items = manifest(site)["items"]
        assert items[0]["kind"] == "alert"
        notices = [i for i in items if i["notice_id"] == "n1"]
        # every notice slide is drawn again, with the banner, and ends with the alert
        assert notices and not {i["file"] for i in notices} & plain
        assert all(i["valid_until"] == until.isoformat() for i in notices)
        files = site.out("signage/landscape/files")
        alert_png = Image.open(files / items[0]["file"].rsplit("/", 1)[-1]).convert("RGB")
        # the sign: warning yellow in the top band of the alert slide
        assert has_colour(alert_png.crop((0, 0, 1920, 200)), (0xFF, 0xD5, 0x4A))
        first = Image.open(files / notices[0]["file"].rsplit("/", 1)[-1]).convert("RGB")
        assert has_colour(first.crop((0, 960, 1920, 1080)), (0x8B, 0x00, 0x00))
        assert not has_colour(first.crop((0, 0, 1920, 960)), (0x8B, 0x00, 0x00))
        # the alert ends: the notice slides are the plain ones again
        site.clock.set(until + timedelta(seconds=1))
        app.tick()
        assert {i["file"] for i in manifest(site)["items"]} == plain

"""Signage at scale.

- 500 slides at 1920×1080 to PNG, in slides per second, beside a bare Pillow loop drawing the
  same lines with the same font and saving the same kind of PNG;
- a 1,000-notice site exported for 3 profiles, then one notice changed: how many slides are
  drawn again (only that notice's), and the time beside the full export.
"""

from __future__ import annotations

import io
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw

from channels.signage import SignageChannel, SignageOptions
from channels.signage.fonts import find_fonts
from channels.signage.layout import Layout
from channels.signage.options import Profile
from channels.signage.render import png
from publisher.channel import ChannelContext
from publisher.clock import ManualClock
from publisher.model import Notice, PublishedNotice, SiteInfo
from publisher.templating import make_environment
from publisher.text import render_markdown

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=TZ)
SITE = SiteInfo("基准站点", "基准示范大学", "http://127.0.0.1:8080", TZ)
Row = tuple[str, float, str, float, str]
TEXT = (
    "根据《高等学校信息公开办法》，现将有关事项公示如下。公示期内如有异议，请以书面形式实名向"
    "招生办公室反映，联系电话 0851-86681201。"
)


def view(i: int, body: str, version: int = 0) -> PublishedNotice:
    n = Notice(
        id=f"n{i:04d}",
        title=f"基准示范大学第{i}号公开事项",
        category="zsks",
        item=7,
        department="招生就业处",
        summary="摘要",
        body=body,
        publish_at=NOW - timedelta(minutes=i),
        contact="0851-86681201",
        expires_at=NOW + timedelta(days=10),
    )
    return PublishedNotice(
        notice=n,
        sha256=f"{i:060x}{version:04x}",
        url=f"{SITE.base_url}/notices/{n.id}.html",
        html=render_markdown(body),
        approved_at=NOW,
        revision=version + 1,
        category_name="招生考试信息",
        item_text="",
    )


def render_figures(slides_wanted: int = 500) -> list[Row]:
    fonts = find_fonts()
    profile = Profile(name="lobby", width=1920, height=1080)
    layout = Layout(profile, fonts, SITE.name)
    slides = []
    i = 0
    while len(slides) < slides_wanted:
        slides += layout.notice_slides(view(i, (TEXT * (1 + i % 4)) + f"（第{i}号）"))
        i += 1
    slides = slides[:slides_wanted]

    t0 = time.perf_counter()
    for s in slides:
        png(s, profile, fonts)
    ours = time.perf_counter() - t0

    # the bare loop: the same lines, the same fonts, the same PNG settings, nothing else
    plan = [
        (
            s.background,
            [
                (
                    ln.x,
                    ln.y,
                    ln.text,
                    (fonts.bold if ln.bold else fonts.regular).load(ln.size),
                    ln.color,
                )
                for ln in s.lines
            ],
        )
        for s in slides
    ]
    t0 = time.perf_counter()
    for background, lines in plan:
        img = Image.new("RGB", (1920, 1080), background)
        d = ImageDraw.Draw(img)
        for x, y, text, font, color in lines:
            d.text((x, y), text, font=font, fill=color)
        img.save(io.BytesIO(), "PNG", compress_level=6)
    bare = time.perf_counter() - t0
    return [
        (
            f"{slides_wanted} slides, 1920×1080 PNG (layout done before)",
            slides_wanted / ours,
            "bare Pillow loop, same lines and font",
            slides_wanted / bare,
            "slides/s",
        )
    ]


def export_figures(notices: int = 1000) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        opts = SignageOptions(
            profiles=[
                Profile(name="lobby", width=1920, height=1080, outputs=["png", "manifest"]),
                Profile(name="portrait", width=1080, height=1920, outputs=["png", "manifest"]),
                Profile(name="wall", width=3840, height=1080, outputs=["png", "manifest"]),
            ]
        )
        ctx = ChannelContext(SITE, make_environment(None, TZ), Path(tmp), ManualClock(NOW))
        ch = SignageChannel("screens", opts, ctx)
        live = [view(i, TEXT * (1 + i % 3)) for i in range(notices)]
        t0 = time.perf_counter()
        ch.build(live)
        full = time.perf_counter() - t0
        drawn = ch.rendered
        live[500] = view(500, TEXT + "（更正）", version=1)
        t0 = time.perf_counter()
        ch.build(live)
        one = time.perf_counter() - t0
        redrawn = ch.rendered - drawn
        slides_of_one = sum(len(ch.notice_slides(p, live[500])) for p in opts.profiles)
    print(
        f"# export: {drawn} slides drawn for {notices} notices × 3 profiles; after one "
        f"changed notice {redrawn} drawn again (its slides: {slides_of_one})"
    )
    assert redrawn == slides_of_one
    return [
        (
            f"export {notices} notices × 3 profiles, then one changed: re-export",
            one,
            "the full first export",
            full,
            "s",
        )
    ]

"""Slides that are not notices: an emergency alert that fills the screen (a warning sign,
紧急通知, the text as large as fits, until when), its banner across every notice slide in
``alert_mode: first``, and the slide a screen shows outside its hours."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from .blocks import display_quotes
from .layout import Layout
from .schedule import ALERT
from .slides import MUTED, NAVY, RULE, WHITE, Box, Icon, Line, Page, Slide


def alert_slides(
    layout: Layout, alert_id: str, text: str, until: datetime, starts: datetime
) -> list[Slide]:
    page = Page()
    head = "紧急通知"
    size = round(layout.poster_title * 0.9)
    hw = layout.measure(size, True)(head)
    y = layout.top
    # the warning sign before the head, the pair centred
    ink_h = layout.ink_height(size, True)
    icon_side = round(ink_h * 1.25)
    x0 = round(layout.left + (layout.width - hw - icon_side - layout.gap) / 2)
    icon = Icon(x0, y - round((icon_side - ink_h) / 2), icon_side)
    page.lines.append(
        layout.line_at(head, x0 + icon_side + layout.gap, y, size, True, "#ffe08a", "alert-head")
    )
    y += layout.block_height(1, size, 1.0, True) + layout.gap * 2
    until_text = f"有效期至 {until.year}年{until.month}月{until.day}日 {until:%H:%M}"
    bottom = layout.bottom - layout.footer * 2 - layout.block_height(1, layout.facts) - layout.gap
    # the largest size at which the text fits between the head and the end time
    big = round(layout.p.short * 0.11)
    while big > layout.body:
        lines = layout.wrap(display_quotes(text), big, True, layout.width)
        if y + layout.block_height(len(lines), big, 1.3, True) <= bottom:
            break
        big = int(big * 0.94)
    lines = layout.wrap(display_quotes(text), big, True, layout.width)
    block_h = layout.block_height(len(lines), big, 1.3, True)
    y += max(0, (bottom - y - block_h) // 2)
    for t in lines:
        w = layout.measure(big, True)(t)
        page.lines.append(
            layout.line_at(
                t, round(layout.left + (layout.width - w) / 2), y, big, True, WHITE, "alert"
            )
        )
        y += layout.step(big, 1.3)
    uw = layout.measure(layout.facts)(until_text)
    page.lines.append(
        layout.line_at(
            until_text,
            round(layout.left + (layout.width - uw) / 2),
            bottom + layout.gap,
            layout.facts,
            False,
            "#ffe08a",
            "alert-until",
        )
    )
    page.chars = len(text)
    slide = layout.finish(
        page,
        1,
        1,
        "alert",
        None,
        dict(
            notice_id=f"alert-{alert_id}",
            sha256="",
            pages=1,
            valid_from=starts,
            valid_until=until,
            source_url="",
            title="紧急通知",
        ),
    )
    return [replace(slide, priority=ALERT, background="#8b0000", icons=(icon,))]


def with_banner(layout: Layout, slide: Slide, text: str, until: datetime) -> Slide:
    """A notice slide with the alert across its foot (``alert_mode: first``): a red band
    with the sign and the alert in one line, over the footer, inside the safe area."""
    size = round(layout.footer * 1.1)
    band_top = layout.bottom - layout.footer * 2 + layout.footer // 4
    band = Box(
        layout.left,
        band_top,
        layout.width,
        layout.bottom - band_top,
        "#8b0000",
        radius=round(layout.footer * 0.3),
    )
    ink_h = layout.ink_height(size, True)
    text_top = band_top + (band.h - ink_h) // 2
    icon_side = round(ink_h * 1.3)
    pad = round(layout.footer * 0.5)
    icon = Icon(layout.left + pad, band_top + (band.h - icon_side) // 2, icon_side)
    x = layout.left + pad + icon_side + pad
    room = layout.right - pad - x
    tail = f"（至 {until.month}月{until.day}日 {until:%H:%M}）"
    words = display_quotes(" ".join(text.split()))
    line = f"紧急通知：{words}{tail}"
    measure = layout.measure(size, True)
    while measure(line) > room and len(words) > 1:  # shorten the alert, keep the end time
        words = words[:-1]
        line = f"紧急通知：{words}…{tail}"
    lines = [ln for ln in slide.lines if ln.role != "footer"]
    lines.append(layout.line_at(line, x, text_top, size, True, WHITE, "banner"))
    return replace(
        slide,
        lines=tuple(lines),
        boxes=(*slide.boxes, band),
        icons=(*slide.icons, icon),
        valid_until=min(t for t in (slide.valid_until, until) if t is not None),
    )


def off_air_slide(layout: Layout, style: str, note: str) -> Slide:
    """Outside the profile's hours: black, or the site's name and the hours, quietly."""
    lines: list[Line] = []
    if style == "screensaver":
        size = round(layout.poster_title * 0.7)
        w = layout.measure(size, True)(layout.site_name)
        h = layout.block_height(1, size, 1.0, True)
        y = layout.top + (layout.bottom - layout.top - h) // 2 - layout.facts
        lines.append(
            layout.line_at(
                layout.site_name,
                round(layout.left + (layout.width - w) / 2),
                y,
                size,
                True,
                MUTED,
                "title",
            )
        )
        nw = layout.measure(layout.facts)(note)
        lines.append(
            layout.line_at(
                note,
                round(layout.left + (layout.width - nw) / 2),
                y + h + layout.gap * 2,
                layout.facts,
                False,
                RULE,
                "footer",
            )
        )
    return Slide(
        notice_id="off-air",
        sha256="",
        page=1,
        pages=1,
        lines=tuple(lines),
        qr_url=None,
        qr_box=None,
        duration=60.0,
        valid_from=None,
        valid_until=None,
        background="#000000" if style == "blank" else NAVY,
        title="休息时段",
        kind="off-air",
    )

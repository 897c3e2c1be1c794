"""From a notice to slides: positions of every line at the screen's own resolution.

The same layout feeds the PNG renderer and the HTML slideshow, so both show the same slides.
Layout of a slide (inside the safe area): the title (bold, at most two lines, with (i/N) on
every page of a long notice), the key facts first (公示期, whom to contact for 异议, the
department), the body in one or two columns, and a footer band with the site's name, the page
and a QR code to the full notice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from PIL import ImageFont

from publisher.model import PublishedNotice
from publisher.text import plain_text

from .fonts import Fonts
from .linebreak import break_paragraph, break_text
from .options import Profile


@dataclass(frozen=True)
class Line:
    text: str
    x: int
    y: int  # top of the line box
    size: int
    bold: bool = False
    color: str = "#ffffff"


@dataclass(frozen=True)
class Slide:
    notice_id: str
    sha256: str  # the version shown ("" for alerts)
    page: int
    pages: int
    lines: tuple[Line, ...]
    qr_url: str | None
    qr_box: tuple[int, int, int] | None  # x, y, size
    duration: float
    valid_from: datetime | None
    valid_until: datetime | None
    priority: int = 0  # alerts: 100
    background: str = "#0b2a4a"
    text_chars: int = 0
    source_url: str = ""
    title: str = ""

    def key(self, profile: Profile, fonts: Fonts) -> str:
        """Everything the rendered pixels depend on: the name of the PNG file."""
        h = hashlib.sha256()
        h.update(
            repr(
                (
                    profile.width,
                    profile.height,
                    fonts.identity,
                    self.background,
                    self.qr_url,
                    self.qr_box,
                )
            ).encode()
        )
        for ln in self.lines:
            h.update(repr((ln.text, ln.x, ln.y, ln.size, ln.bold, ln.color)).encode())
        return h.hexdigest()[:20]


class Measure:
    """Widths of text in a font, cached per unit (line breaking measures many times)."""

    def __init__(self, font: ImageFont.FreeTypeFont) -> None:
        self.font = font
        self._cache: dict[str, float] = {}

    def __call__(self, s: str) -> float:
        w = self._cache.get(s)
        if w is None:
            w = self.font.getlength(s)
            if len(self._cache) < 50_000:
                self._cache[s] = w
        return w


class Layout:
    def __init__(self, profile: Profile, fonts: Fonts, site_name: str) -> None:
        self.p = profile
        self.fonts = fonts
        self.site_name = site_name
        short = profile.short
        self.body = max(12, round(short * profile.body_size))
        self.title = max(14, round(self.body * profile.title_scale))
        self.facts = max(10, round(short * profile.facts_size))
        self.footer = max(10, round(short * 0.028))
        self.left = round(profile.width * profile.margin)
        self.top = round(profile.height * profile.margin)
        self.right = profile.width - self.left
        self.bottom = profile.height - self.top
        self.qr_size = round(short * 0.2) if profile.qr else 0
        self.gap = round(self.body * 0.8)
        self._measure: dict[tuple[int, bool], Measure] = {}
        self._ink: dict[tuple[int, bool], tuple[int, int]] = {}

    def measure(self, size: int, bold: bool = False) -> Measure:
        key = (size, bold)
        if key not in self._measure:
            face = self.fonts.bold if bold else self.fonts.regular
            self._measure[key] = Measure(face.load(size))
        return self._measure[key]

    @property
    def width(self) -> int:
        return self.right - self.left

    def ink(self, size: int, bold: bool = False) -> tuple[int, int]:
        """Where the ink of a line of ``size`` starts and ends below the y it is drawn at
        (Pillow places text by its ascender, which sits well above CJK glyphs)."""
        key = (size, bold)
        if key not in self._ink:
            face = self.fonts.bold if bold else self.fonts.regular
            box = face.load(size).getbbox("国Ég（")
            self._ink[key] = (int(box[1]), int(box[3]))
        return self._ink[key]

    def css_top(self, size: int, bold: bool = False) -> float:
        """How far below the drawing y a CSS box of line-height 1 starts, so the browser puts
        the baseline where Pillow does."""
        face = self.fonts.bold if bold else self.fonts.regular
        ascent, descent = face.load(size).getmetrics()
        return (ascent + descent - size) / 2

    # ---------------------------------------------------------------- notices

    def notice_slides(self, v: PublishedNotice, tz: object = None) -> list[Slide]:
        n = v.notice
        facts = []
        if n.expires_at is not None:
            facts.append(f"公示期：{_d(n.publish_at)} 至 {_d(n.expires_at)}")
        if n.contact:
            facts.append(("如有异议请联系：" if n.expires_at else "联系方式：") + n.contact)
        facts.append(f"发布部门：{n.department}")
        text = plain_text(n.body) or n.summary
        return self._paged(
            n.id, v.sha256, n.title, facts, text, v.url, n.publish_at, n.expires_at, priority=0
        )

    def alert_slides(
        self, alert_id: str, text: str, until: datetime, starts: datetime
    ) -> list[Slide]:
        return self._paged(
            f"alert-{alert_id}",
            "",
            "紧急通知",
            [],
            text,
            None,
            starts,
            until,
            priority=100,
            background="#8b0000",
        )

    def _paged(
        self,
        nid: str,
        sha: str,
        title: str,
        facts: list[str],
        text: str,
        url: str | None,
        valid_from: datetime | None,
        valid_until: datetime | None,
        priority: int,
        background: str = "#0b2a4a",
    ) -> list[Slide]:
        columns = self.p.column_count
        col_gap = self.gap * 2
        col_width = (self.width - col_gap * (columns - 1)) / columns
        body_m = self.measure(self.body)
        body_lines = [ln.rstrip() for ln in break_text(text.strip(), body_m, col_width)]
        while body_lines and not body_lines[-1]:
            body_lines.pop()
        line_h = round(self.body * 1.55)
        body_top_ink, body_bottom_ink = self.ink(self.body)
        # the head (title + facts) decides where the body starts; measure it with a page mark
        mark_room = self.measure(self.title, True)("（99/99）")
        title_lines = self._title_lines(title, mark_room)
        fact_lines = [
            ln for f in facts for ln in break_paragraph(f, self.measure(self.facts), self.width)
        ]
        head_h = (
            len(title_lines) * round(self.title * 1.35)
            + (len(fact_lines) * round(self.facts * 1.5) + self.gap if fact_lines else 0)
            + self.gap
        )
        footer_h = max(self.qr_size, round(self.footer * 1.6))
        body_h = self.bottom - footer_h - self.gap - (self.top + head_h)
        # k lines take (k-1) line steps plus the ink of the last one
        per_column = max(1, (body_h - (body_bottom_ink - body_top_ink)) // line_h + 1)
        capacity = per_column * columns
        pages: list[list[str]] = []
        rest = body_lines
        while rest:
            page, rest = rest[:capacity], rest[capacity:]
            while rest and not rest[0]:
                rest = rest[1:]  # no page starts with a paragraph gap
            pages.append(page)
        pages = pages or [[]]
        total = len(pages)
        slides = []
        for i, page in enumerate(pages, 1):
            lines: list[Line] = []
            y = self.top
            shown_title = title_lines[:]
            if total > 1:
                shown_title[-1] = shown_title[-1] + f"（{i}/{total}）"
            # y runs over the tops of the ink; a Line is placed at its font's ascender top
            for t in shown_title:
                lines.append(
                    Line(t, self.left, y - self.ink(self.title, True)[0], self.title, True)
                )
                y += round(self.title * 1.35)
            for f in fact_lines:
                lines.append(
                    Line(f, self.left, y - self.ink(self.facts)[0], self.facts, False, "#ffd666")
                )
                y += round(self.facts * 1.5)
            if fact_lines:
                y += self.gap
            y += self.gap
            for c in range(columns):
                x = round(self.left + c * (col_width + col_gap))
                cy = y
                for text_line in page[c * per_column : (c + 1) * per_column]:
                    if text_line:
                        lines.append(Line(text_line, x, cy - body_top_ink, self.body))
                    cy += line_h
            footer_y = self.bottom - self.ink(self.footer)[1]
            lines.append(
                Line(
                    f"{self.site_name}" + (f" · 第 {i}/{total} 页" if total > 1 else ""),
                    self.left,
                    footer_y,
                    self.footer,
                    False,
                    "#9fb3c8",
                )
            )
            chars = sum(len(t) for t in page) + (
                len(title) + sum(len(f) for f in fact_lines) if i == 1 else 0
            )
            duration = min(
                self.p.dwell_max, max(self.p.dwell_min, round(chars / self.p.chars_per_second, 1))
            )
            qr_box = (
                (self.right - self.qr_size, self.bottom - self.qr_size, self.qr_size)
                if url and self.qr_size
                else None
            )
            slides.append(
                Slide(
                    nid,
                    sha,
                    i,
                    total,
                    tuple(lines),
                    url if qr_box else None,
                    qr_box,
                    duration,
                    valid_from,
                    valid_until,
                    priority,
                    background,
                    chars,
                    url or "",
                    title,
                )
            )
        return slides

    def _title_lines(self, title: str, mark_room: float) -> list[str]:
        m = self.measure(self.title, True)
        lines = break_paragraph(title, m, self.width - mark_room)
        if len(lines) <= 2:
            return lines
        second = "".join(lines[1:])
        while second and m(second + "…") > self.width - mark_room:
            second = second[:-1]
        return [lines[0], second + "…"]


def _d(dt: datetime) -> str:
    return f"{dt.year}年{dt.month}月{dt.day}日"

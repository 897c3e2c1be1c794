"""What a slide is: lines of text, boxes, icons and a QR code at the screen's own pixels,
as the layout places them and both renderers (the PNG and the slideshow) draw them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from channels.common.fonts import Fonts

from .options import Profile

WHITE = "#ffffff"
MUTED = "#9fb3c8"
GOLD = "#ffd666"
PANEL = "#133d66"
RULE = "#3a6a99"
NAVY = "#0b2a4a"


@dataclass(frozen=True)
class Line:
    text: str
    x: int
    y: int  # where the text is drawn: the top of the font's ascender, as Pillow places it
    size: int
    bold: bool = False
    color: str = WHITE
    role: str = "body"  # kicker, title, label, fact, summary, heading, body, cell, footer, …
    block: int = -1  # on body slides: which block of the body the line belongs to
    row: int = -1  # in a table: which row (0: the header)


@dataclass(frozen=True)
class Box:
    """A filled rectangle: fact panels, table rules and header rows."""

    x: int
    y: int
    w: int
    h: int
    fill: str
    radius: int = 0


@dataclass(frozen=True)
class Icon:
    """The warning sign of alerts: a triangle with an exclamation mark, as polygons, so the
    PNG (Pillow) and the slideshow (SVG) draw the same shape without a font's symbol."""

    x: int
    y: int
    size: int
    color: str = "#ffd54a"
    ink: str = "#8b0000"

    def polygons(self) -> list[tuple[list[tuple[int, int]], str]]:
        x, y, s = self.x, self.y, self.size

        def at(fx: float, fy: float) -> tuple[int, int]:
            return (round(x + s * fx), round(y + s * fy))

        return [
            ([at(0.5, 0.02), at(1.0, 0.92), at(0.0, 0.92)], self.color),
            ([at(0.445, 0.3), at(0.555, 0.3), at(0.53, 0.64), at(0.47, 0.64)], self.ink),
            ([at(0.445, 0.7), at(0.555, 0.7), at(0.555, 0.81), at(0.445, 0.81)], self.ink),
        ]


@dataclass(frozen=True)
class Slide:
    notice_id: str
    sha256: str  # the version shown ("" for alerts)
    page: int
    pages: int
    lines: tuple[Line, ...]
    qr_url: str | None
    qr_box: tuple[int, int, int] | None  # x, y, size of the code including its quiet zone
    duration: float
    valid_from: datetime | None
    valid_until: datetime | None
    priority: int = 0  # schedule.ALERT, PINNED, TIMED or DEFAULT
    background: str = NAVY
    text_chars: int = 0
    source_url: str = ""
    title: str = ""
    boxes: tuple[Box, ...] = ()
    kind: str = "poster"  # poster, body, more (全文请扫码), alert, off-air
    icons: tuple[Icon, ...] = ()

    def key(self, profile: Profile, fonts: Fonts) -> str:
        """Everything the rendered pixels depend on: the name of the PNG file."""
        h = hashlib.sha256()
        h.update(
            repr(
                (
                    2,  # the layout's generation: bump when drawing changes
                    profile.width,
                    profile.height,
                    profile.png,  # a palette PNG is other pixels than an RGB one
                    fonts.identity,
                    self.background,
                    self.qr_url,
                    self.qr_box,
                    self.boxes,
                    self.icons,
                )
            ).encode()
        )
        for ln in self.lines:
            h.update(repr((ln.text, ln.x, ln.y, ln.size, ln.bold, ln.color)).encode())
        return h.hexdigest()[:20]


@dataclass
class Page:
    """Body slides being filled: one list of lines and boxes per page."""

    lines: list[Line] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    chars: int = 0
    points_to_qr: bool = False  # says 请扫码 (a summarised table): show the code if it fits

"""Finding a CJK font that draws Simplified Chinese, and failing clearly when there is none.

Debian's ``fonts-noto-cjk`` ships ``NotoSansCJK-Regular.ttc`` with several faces in one file; the
Simplified Chinese face is looked up by its name ("Noto Sans CJK SC"), not by a fixed index, so a
newer package with another order still gives Chinese (not Japanese) glyph shapes.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from PIL import Image, ImageDraw, ImageFont

from publisher.errors import ChannelError

CANDIDATES = (
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    ),
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
        "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Bold.otf",
    ),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", None),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", None),
)
PREFERRED = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei")
MISSING = (
    "no font with Simplified Chinese glyphs was found; install the Debian package "
    "fonts-noto-cjk (apt-get install fonts-noto-cjk), or set the signage channel's "
    "`font:` option to a .ttc/.otf/.ttf file"
)


@dataclass(frozen=True)
class FontFace:
    path: str
    index: int
    name: str

    def load(self, size: int) -> ImageFont.FreeTypeFont:
        return _load(self.path, self.index, max(int(size), 1))


@lru_cache(maxsize=32)
def _vertical(path: str, index: int) -> tuple[int, int, int]:
    """The face's ascender, descender (positive) and units per em, from its hhea table."""
    font = TTFont(path, fontNumber=index, lazy=True)
    try:
        hhea, upem = font["hhea"], font["head"].unitsPerEm
        return int(hhea.ascent), int(-hhea.descent), int(upem)
    finally:
        font.close()


def browser_metrics(face: FontFace, size: int) -> tuple[int, int]:
    """Ascent and descent of ``face`` at ``size`` px as Chromium lays text out: the hhea
    values scaled and rounded (FreeType, hence Pillow, rounds the ascent up instead, so the
    two put a baseline a pixel apart at some sizes unless the slideshow corrects for it)."""
    ascent, descent, upem = _vertical(face.path, face.index)
    return math.floor(ascent * size / upem + 0.5), math.floor(descent * size / upem + 0.5)


@lru_cache(maxsize=256)
def _load(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


def _faces(path: str) -> list[FontFace]:
    faces = []
    for index in range(16):
        try:
            family, _style = ImageFont.truetype(path, 16, index=index).getname()
        except OSError:
            break
        faces.append(FontFace(path, index, family or ""))
    return faces


def _pick(path: str) -> FontFace | None:
    faces = _faces(path)
    for wanted in PREFERRED:
        for face in faces:
            if face.name == wanted:
                return face
    for face in faces:  # a font of the site's own choice: take the face that draws 中文
        if draws_chinese(face):
            return face
    return None


def glyph(font: ImageFont.FreeTypeFont, ch: str) -> bytes:
    """The pixels of one character: equal to the .notdef box's when the font lacks it."""
    img = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(img).text((4, 0), ch, font=font, fill=255)
    return img.tobytes()


def draws_chinese(face: FontFace) -> bool:
    """True when the face has real glyphs for common hanzi (not the .notdef box)."""
    font = face.load(32)
    notdef = glyph(font, "\U0010fffd")
    return all(glyph(font, ch) != notdef for ch in "中文公示")


def _fc_match() -> list[str]:
    if not shutil.which("fc-match"):
        return []
    try:
        out = subprocess.run(
            ["fc-match", "-s", "-f", "%{file}\n", ":lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line for line in out.splitlines()[:10] if line.endswith((".ttc", ".otf", ".ttf"))]


@dataclass(frozen=True)
class Fonts:
    regular: FontFace
    bold: FontFace

    @property
    def identity(self) -> str:
        """What rendered slides depend on (part of their content key)."""
        return f"{self.regular.path}#{self.regular.index}|{self.bold.path}#{self.bold.index}"


@lru_cache(maxsize=8)
def find_fonts(configured: str | None = None) -> Fonts:
    """The configured font, else the installed one that draws Simplified Chinese."""
    if configured:
        if not Path(configured).is_file():
            raise ChannelError(f"signage font {configured!r} does not exist ({MISSING})")
        face = _pick(configured)
        if face is None:
            raise ChannelError(f"signage font {configured!r} has no Simplified Chinese glyphs")
        return Fonts(face, face)
    for regular, bold in CANDIDATES:
        if Path(regular).is_file() and (face := _pick(regular)) is not None:
            bold_face = _pick(bold) if bold and Path(bold).is_file() else None
            return Fonts(face, bold_face or face)
    for path in _fc_match():
        if (face := _pick(path)) is not None:
            return Fonts(face, face)
    raise ChannelError(MISSING)

"""A 公众号 article's cover when the site configured none for its category: the category's
name on the site's colour, the site's name below, drawn with Pillow at the 2.35:1 size WeChat
crops covers to (900 × 383), as PNG. The same inputs give the same bytes, so the upload is
done once per category and process."""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageColor, ImageDraw

from channels.common.fonts import find_fonts

WIDTH, HEIGHT = 900, 383


@lru_cache(maxsize=64)
def default_cover(category: str, site: str, colour: str) -> bytes:
    """PNG bytes of the cover for ``category``."""
    bg = ImageColor.getrgb(colour)
    # white on dark colours, near-black on light ones (contrast ≥ 4.5:1 either way)
    luminance = 0.2126 * bg[0] + 0.7152 * bg[1] + 0.0722 * bg[2]
    fg = (255, 255, 255) if luminance < 140 else (20, 20, 20)
    img = Image.new("RGB", (WIDTH, HEIGHT), bg)
    draw = ImageDraw.Draw(img)
    fonts = find_fonts()
    # a band of the text colour, thin, as the boards' headers have
    draw.rectangle((60, 96, 66, 287), fill=fg)
    size = 72
    while size > 28:
        font = fonts.bold.load(size)
        if draw.textlength(category, font=font) <= WIDTH - 150:
            break
        size -= 4
    draw.text((96, 150), category, font=font, fill=fg, anchor="ls")
    small = fonts.regular.load(32)
    draw.text((96, 250), site, font=small, fill=fg, anchor="ls")
    if "信息公开" not in site:
        draw.text((96, 292), "信息公开", font=small, fill=fg, anchor="ls")
    out = io.BytesIO()
    img.save(out, "PNG", optimize=False)
    return out.getvalue()

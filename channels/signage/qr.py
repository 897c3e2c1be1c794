"""QR codes for slides: the same code, size and quiet zone in the PNG and in the slideshow.

ISO/IEC 18004 asks for a quiet zone of four modules around the symbol; phones read a code
on a busy screen far more reliably with it. Codes are drawn in whole modules (a module of
k pixels), so they stay sharp at any size the layout gives them.
"""

from __future__ import annotations

from functools import lru_cache

import segno
from PIL import Image, ImageDraw

QR_BORDER = 4  # modules of quiet zone on every side


@lru_cache(maxsize=256)
def _matrix(url: str) -> tuple[tuple[bool, ...], ...]:
    return tuple(tuple(bool(v) for v in row) for row in segno.make(url, error="m").matrix)


def qr_modules(url: str) -> int:
    """Modules across the symbol, without the quiet zone."""
    return len(_matrix(url))


def module_px(url: str, side: int) -> int:
    return max(1, side // (qr_modules(url) + 2 * QR_BORDER))


def qr_image(url: str, side: int) -> Image.Image:
    """The code with its quiet zone, ``side`` pixels or a little less (whole modules)."""
    matrix = _matrix(url)
    k = module_px(url, side)
    n = len(matrix) + 2 * QR_BORDER
    img = Image.new("RGB", (n * k, n * k), "#ffffff")
    d = ImageDraw.Draw(img)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                x0, y0 = (c + QR_BORDER) * k, (r + QR_BORDER) * k
                d.rectangle((x0, y0, x0 + k - 1, y0 + k - 1), fill="#000000")
    return img


def qr_svg(url: str, side: int) -> tuple[str, int]:
    """(inline SVG, its size in pixels): the same modules as ``qr_image``."""
    k = module_px(url, side)
    code = segno.make(url, error="m")
    return code.svg_inline(scale=k, border=QR_BORDER), (qr_modules(url) + 2 * QR_BORDER) * k

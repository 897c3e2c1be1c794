"""Drawing slides to PNG at the screen's native size, and posters to PDF for 报廊."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime

import png as pypng  # type: ignore[import-untyped]
from PIL import Image, ImageDraw

from channels.common.fonts import Fonts

from .options import Profile
from .qr import qr_image
from .slides import Slide

A4 = (1240, 1754)  # 150 dpi
A3 = (1754, 2480)


def draw(slide: Slide, width: int, height: int, fonts: Fonts) -> Image.Image:
    img = Image.new("RGB", (width, height), slide.background)
    d = ImageDraw.Draw(img)
    for b in slide.boxes:
        box = (b.x, b.y, b.x + b.w - 1, b.y + b.h - 1)
        if b.radius:
            d.rounded_rectangle(box, radius=b.radius, fill=b.fill)
        else:
            d.rectangle(box, fill=b.fill)
    for icon in slide.icons:
        for points, fill in icon.polygons():
            d.polygon(points, fill=fill)
    for ln in slide.lines:
        font = (fonts.bold if ln.bold else fonts.regular).load(ln.size)
        d.text((ln.x, ln.y), ln.text, font=font, fill=ln.color)
    if slide.qr_url and slide.qr_box:
        x, y, size = slide.qr_box
        img.paste(qr_image(slide.qr_url, size), (x, y))
    return img


def png(slide: Slide, profile: Profile, fonts: Fonts) -> bytes:
    """The slide as PNG bytes, the same for the same slide (no time stamps or text chunks).

    ``rgb`` (the default) keeps every colour and writes unfiltered rows at zlib level 1 with
    pypng: slides are flat colour, so filtering gains little and costs more than compressing
    (about 16 ms for 1920×1080, ~130 KiB). ``palette`` keeps 256 colours (the text's
    anti-aliased edges lose shades no one sees at a screen's distance): about a third of the
    bytes, for players that fetch over a slow link, at twice the time. bench/signage.py
    measures both.
    """
    out = io.BytesIO()
    img = draw(slide, profile.width, profile.height, fonts)
    if profile.png == "palette":
        img = img.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        img.save(out, "PNG", compress_level=6)
        return out.getvalue()
    w, h = img.size
    raw = img.tobytes()
    stride = w * 3
    writer = pypng.Writer(w, h, greyscale=False, bitdepth=8, compression=1)
    writer.write(out, (raw[i * stride : (i + 1) * stride] for i in range(h)))
    return out.getvalue()


def poster_size(profile: Profile) -> tuple[int, int]:
    return A4 if profile.poster == "A4" else A3


def poster_pdf(slides: Sequence[Slide], profile: Profile, fonts: Fonts, when: datetime) -> bytes:
    """One page per slide (laid out for the poster's size); dated by the data, not the clock,
    so an unchanged export gives the same bytes."""
    size = poster_size(profile)
    pages = [draw(s, *size, fonts) for s in slides] or [Image.new("RGB", size, "white")]
    out = io.BytesIO()
    stamp = when.astimezone(UTC).timetuple()
    pages[0].save(
        out,
        "PDF",
        save_all=True,
        append_images=pages[1:],
        resolution=150.0,
        creationDate=stamp,
        modDate=stamp,
        producer="disclosure-publisher",
    )
    return out.getvalue()

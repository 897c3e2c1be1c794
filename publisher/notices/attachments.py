"""Attachment files: read once from inside the items folder, and their text for the review.

An attachment's bytes are part of the approved version, so they are read exactly once: the
bytes hashed are the bytes scanned and stored (a file swapped between two reads could otherwise
publish other bytes under the approved hash). The file must resolve inside the items folder
after every symlink; the check is made on the opened file itself, so swapping in a symlink
after the check cannot redirect the read.

Leaks and injected spam come through attachments too, so every text-like attachment is decoded
by its detected charset (``charset-normalizer``; GBK/GB18030, Big5, UTF-16 with or without a
BOM) and scanned; one whose charset cannot be decided is refused rather than scanned as noise.
"""

from __future__ import annotations

import codecs
import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

from publisher.model import Attachment

# fmt: off
TEXT_EXTENSIONS = frozenset((
    "txt", "text", "csv", "tsv", "md", "markdown", "html", "htm", "xhtml", "xml", "svg", "json",
    "jsonl", "geojson", "yaml", "yml", "ini", "cfg", "conf", "log", "rtf", "tex", "srt", "vtt",
    "ics", "vcf", "js", "css",
))
# fmt: on
TEXT_MEDIA = ("text/", "application/json", "application/xml", "image/svg+xml")
# a mainland office's files: when several decodings read equally well, the first wins
_PREFERENCE = ("utf_8", "gb18030", "big5", "utf_16_le", "utf_16_be", "utf_32")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_MAX_CHAOS = 0.2  # charset-normalizer's "mess" ratio above which a decoding is not text


class OutsideItems(Exception):
    """The path resolves outside the items folder (``..``, an absolute path, a symlink)."""


class UndecidableCharset(Exception):
    """No character set decodes the bytes into readable text."""


def read_inside(path: Path, root: Path) -> bytes:
    """The bytes of ``path``, read once, provided the file opened lies inside ``root``.

    The check is made on the open file descriptor (``/proc/self/fd``), so a symlink swapped in
    between a check and the read cannot send the read elsewhere."""
    root_real = os.path.realpath(root)
    if not os.path.realpath(path).startswith(root_real + os.sep):
        raise OutsideItems(str(path))
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        proc = f"/proc/self/fd/{fd}"
        opened = os.readlink(proc) if os.path.exists(proc) else os.path.realpath(path)
        if not opened.startswith(root_real + os.sep):
            raise OutsideItems(str(path))
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def is_text_like(a: Attachment) -> bool:
    ext = a.filename.rsplit(".", 1)[-1].lower() if "." in a.filename else ""
    mt = a.media_type.lower()
    return ext in TEXT_EXTENSIONS or mt.startswith(TEXT_MEDIA) or mt.endswith(("+xml", "+json"))


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str


def decode(data: bytes) -> list[Decoded]:
    """Every plausible reading of ``data`` as text, the most likely first.

    A BOM decides; otherwise strict UTF-8; otherwise the candidates of charset-normalizer that
    read as text. When several read equally well (short texts often decode in both GB18030 and
    Big5) all are returned, so a reader's app cannot see words the review did not.
    Raises ``UndecidableCharset`` when none does."""
    if not data:
        return [Decoded("", "utf-8")]
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return [Decoded(data.decode(enc), enc)]
            except UnicodeDecodeError:
                break
    found: dict[str, Decoded] = {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if text.isascii():
            return [Decoded(text, "utf-8")]
        # bytes can be valid UTF-8 and valid GB18030 at once (d6 80 is "ր" and "謤"), and a
        # CSV without a BOM opens as GBK in Excel on a Chinese Windows: every strict reading
        # is scanned, so no reader's app shows words the review did not see
        found[text] = Decoded(text, "utf-8")
        _strict_readings(data, ("gb18030", "big5"), found)
        return list(found.values())
    matches = [m for m in from_bytes(data, cp_isolation=list(_PREFERENCE)) if m.chaos <= _MAX_CHAOS]
    if matches:
        best = min(m.chaos for m in matches)
        close = [m for m in matches if m.chaos <= best + 0.05]
        close.sort(key=lambda m: _PREFERENCE.index(m.encoding) if m.encoding in _PREFERENCE else 99)
        for m in close:
            found.setdefault(str(m), Decoded(str(m), m.encoding))
    # the detector can pass over a short GBK text (it guessed Shift-JIS for a 20-byte CSV):
    # every Chinese charset that decodes the bytes strictly into readable text is read as well
    _strict_readings(data, ("gb18030", "big5", "utf-16-le", "utf-16-be"), found)
    if not found:
        raise UndecidableCharset("no character set decodes it into readable text")
    return list(found.values())


def _strict_readings(data: bytes, encodings: Iterable[str], found: dict[str, Decoded]) -> None:
    """Add each reading of ``data`` that decodes strictly into readable text."""
    for enc in encodings:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if _readable(text):
            found.setdefault(text, Decoded(text, enc))


def _readable(text: str) -> bool:
    """No control, unassigned, private-use or surrogate characters (what a wrong charset makes)."""
    return not any(
        unicodedata.category(c) in ("Cc", "Cn", "Co", "Cs") and c not in "\t\n\r" for c in text
    )

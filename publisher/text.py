"""Text helpers shared by review, rendering and channels-facing views."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

# Characters that are invisible but change matching (zero-width, joiners, BOM, variation
# selectors, tag characters). Spammers sprinkle them into text to defeat filters.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f]"
)
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")

_EMOJI_RANGES = (
    (0x1F000, 0x1FAFF),
    (0x2600, 0x27BF),
    (0x2B00, 0x2BFF),
    (0x2300, 0x23FF),
    (0x2190, 0x21FF),
    (0x3030, 0x3030),
    (0x303D, 0x303D),
    (0x20E3, 0x20E3),
    (0x2122, 0x2122),
    (0x2139, 0x2139),
    (0x24C2, 0x24C2),
)
_EMOJI = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _EMOJI_RANGES) + "]")


def emoji_at(text: str) -> list[int]:
    """Indexes of the emoji in ``text``."""
    return [m.start() for m in _EMOJI.finditer(text)]


def invisible_at(text: str) -> list[int]:
    """Indexes of invisible characters in ``text`` other than bidi controls."""
    return [m.start() for m in _INVISIBLE.finditer(text) if not BIDI_CONTROLS.match(m[0])]


_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(s: str) -> str:
    """Drop characters XML 1.0 cannot carry (lxml raises on them; readers choke): C0 controls
    but tab and newlines, U+FFFE/U+FFFF, and lone surrogates."""
    return _XML_INVALID.sub("", s)


def line_col(text: str, index: int, first_line: int) -> tuple[int, int]:
    before = text[:index]
    return first_line + before.count("\n"), index - before.rfind("\n")


@lru_cache(maxsize=1)
def markdown_parser() -> MarkdownIt:
    # raw HTML in notices is escaped, not passed through: the body is Markdown, and a <script>
    # or a hidden <div> must never reach a feed reader or a screen
    return MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")


def render_markdown(body: str) -> str:
    html: str = markdown_parser().render(body)
    return html


def parse_markdown(body: str) -> list[Token]:
    """The body's Markdown tokens (parsed once per published version, then handed to every
    channel on the ``PublishedNotice``)."""
    tokens: list[Token] = markdown_parser().parse(body)
    return tokens


def render_tokens(tokens: Sequence[Token]) -> str:
    """HTML from tokens already parsed (the same HTML ``render_markdown`` gives)."""
    md = markdown_parser()
    html: str = md.renderer.render(list(tokens), md.options, {})
    return html


def plain_text(body: str) -> str:
    """Markdown → readable plain text (for messages and slides)."""
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", body)
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1", text)
    text = re.sub(r"^#{1,6}\s*", "", text, flags=re.M)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"^\s*[-*+]\s+", "· ", text, flags=re.M)
    text = re.sub(r"^\s*\|?\s*:?-{3,}.*$\n?", "", text, flags=re.M)  # table rulers
    text = re.sub(
        r"^\s*\|(.*)\|\s*$",
        lambda m: "  ".join(c.strip() for c in m[1].split("|")),
        text,
        flags=re.M,
    )  # table rows: cells spaced
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()

"""Text helpers shared by review, rendering and channels-facing views."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import zhconv
from markdown_it import MarkdownIt

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
# everything matching ignores: invisible characters, emoji and white space
_DROP = re.compile(f"{_INVISIBLE.pattern}|{_EMOJI.pattern}|\\s")
_SEPARATORS = frozenset("·•.。-_*~|/\\、,，")


def is_emoji(ch: str) -> bool:
    return bool(_EMOJI.match(ch))


def is_invisible(ch: str) -> bool:
    return bool(_INVISIBLE.match(ch))


_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(s: str) -> str:
    """Drop characters XML 1.0 cannot carry (lxml raises on them; readers choke): C0 controls
    but tab and newlines, U+FFFE/U+FFFF, and lone surrogates."""
    return _XML_INVALID.sub("", s)


@lru_cache(maxsize=2048)
def normalise_for_matching(text: str) -> tuple[str, list[int]]:
    """NFKC, invisible characters, emoji, spaces and separators removed, 繁→简.

    Returns the normalised text and, for each of its characters, the index in ``text`` it came
    from, so a match can be reported at its real position. (Cached: the rules ask for the same
    field several times; callers must not modify the returned list.)
    """
    out: list[str] = []
    index: list[int] = []
    drop = _DROP.match
    for i, ch in enumerate(text):
        if drop(ch):
            continue
        if ch.isascii():
            if ch not in _SEPARATORS:
                out.append(ch.lower())
                index.append(i)
            continue
        for c in unicodedata.normalize("NFKC", ch):
            if c.isspace() or c in _SEPARATORS:
                continue
            for low in c.lower():
                out.append(low)
                index.append(i)
    joined = "".join(out)
    simplified = to_simplified(joined)
    if len(simplified) != len(joined):  # a phrase mapping changed the length: go char by char
        simplified = "".join(to_simplified(c) or c for c in joined)
        if len(simplified) != len(joined):
            simplified = joined
    return simplified, index


@lru_cache(maxsize=4096)
def _simp_cached(s: str) -> str:
    return str(zhconv.convert(s, "zh-cn"))


def to_simplified(s: str) -> str:
    return _simp_cached(s) if len(s) < 64 else str(zhconv.convert(s, "zh-cn"))


def line_col(text: str, index: int, first_line: int) -> tuple[int, int]:
    before = text[:index]
    return first_line + before.count("\n"), index - before.rfind("\n")


@lru_cache(maxsize=1)
def _md() -> MarkdownIt:
    # raw HTML in notices is escaped, not passed through: the body is Markdown, and a <script>
    # or a hidden <div> must never reach a feed reader or a screen
    return MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")


def render_markdown(body: str) -> str:
    html: str = _md().render(body)
    return html


def markdown_links(body: str) -> list[tuple[str, int]]:
    """Every link target in a Markdown body (inline links, autolinks, bare URLs) with index."""
    found: list[tuple[str, int]] = []
    for m in re.finditer(r"\]\(\s*<?([^)\s>]+)", body):
        found.append((m[1], m.start(1)))
    for m in re.finditer(r"<(https?://[^>\s]+)>", body):
        found.append((m[1], m.start(1)))
    for m in re.finditer(r"(?<![(<\w])(https?://[^\s)<>\]\"'，。；）]+)", body):
        found.append((m[1], m.start(1)))
    for m in re.finditer(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", body, re.M):
        found.append((m[1], m.start(1)))
    seen: set[int] = set()
    unique = []
    for url, pos in sorted(found, key=lambda x: x[1]):
        if pos not in seen:
            seen.add(pos)
            unique.append((url, pos))
    return unique


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

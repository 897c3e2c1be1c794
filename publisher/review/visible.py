"""What a reader sees of a notice: visible text and followed links, from the renderer's own tokens.

Rules that match on the Markdown source miss what the renderer makes of it: ``博&#24425;`` is
rendered 博彩, a word split across two links reads as one, ``[x](https&#58;//evil)`` becomes a
live link. So the review also walks the tokens of the same markdown-it configuration that
renders pages and feeds (``text.render_markdown``): text, code, link and image text, table rows
joined as a reader reads them, and every ``href``/``src`` it emits.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache

from markdown_it.token import Token

from publisher.text import markdown_parser


@dataclass
class Shown:
    """The visible text, laid on the source's lines (the text of a block starts after as many
    newlines as the block's first source line is from the body's first line, so a position in
    it maps to a file line), and every emitted link with its line offset."""

    text: str = ""
    links: list[tuple[int, str]] = field(default_factory=list)


@lru_cache(maxsize=64)
def shown_body(body: str) -> Shown:
    out = Shown()
    by_line: dict[int, list[str]] = {}
    line = 0
    for tok in markdown_parser().parse(body):
        if tok.map is not None:
            line = tok.map[0]
        if tok.type in ("fence", "code_block"):
            by_line.setdefault(line, []).append(tok.content)
        elif tok.type == "inline":
            by_line.setdefault(line, []).append(_inline_text(tok.children or [], line, out))
    # a table row's cells, or a paragraph's lines, read as one run of text
    pieces: list[str] = []
    at = 0  # the line the text so far ends on
    for ln, parts in sorted(by_line.items()):
        text = " ".join(p for p in parts if p)
        if not text:
            continue
        if ln > at:
            pieces.append("\n" * (ln - at))
            at = ln
        elif pieces:
            pieces.append(" ")
        pieces.append(text)
        at += text.count("\n")
    out.text = "".join(pieces)
    return out


def _inline_text(children: list[Token], line: int, out: Shown) -> str:
    parts: list[str] = []
    for t in children:
        if t.type in ("text", "code_inline"):
            parts.append(t.content)
        elif t.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif t.type == "link_open":
            out.links.append((line, str(t.attrs.get("href", ""))))
        elif t.type == "image":
            out.links.append((line, str(t.attrs.get("src", ""))))
            parts.append(_inline_text(t.children or [], line, out))
    return "".join(parts)


def shown_plain(text: str) -> str:
    """A plain field as an HTML-rendering reader may show it (entities decoded)."""
    return html.unescape(text)


# a URL a reader's app may turn into a link even where the renderer did not: any scheme, or
# www.; taken from the visible text, so entity-encoded schemes (https&#58;//) are included
BARE_URL = re.compile(
    r"(?i)(?<![a-z0-9+.-])(?:[a-z][a-z0-9+.-]{1,20}:/{2}|www\.)[^\s<>\"'，。；）)\]】]+"
)


def bare_urls(text: str) -> list[tuple[int, str]]:
    return [(m.start(), m[0]) for m in BARE_URL.finditer(text)]


# Link syntax in the Markdown source itself: robots hand the source to the vendor's own
# renderer, which may follow what markdown-it refused (javascript:) or read it differently
_SOURCE_LINKS = (
    re.compile(r"\]\(\s*<?([^)\s>]+)"),  # [text](target) and ![alt](target)
    re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^>\s]*)>"),  # <scheme:…> autolinks
    re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M),  # [ref]: target
)


def source_links(body: str) -> list[tuple[int, str]]:
    """(line offset, target with entities decoded) of every link written in the source."""
    found: dict[int, str] = {}
    for pattern in _SOURCE_LINKS:
        for m in pattern.finditer(body):
            found.setdefault(m.start(1), html.unescape(m[1]))
    return [(body.count("\n", 0, pos), url) for pos, url in sorted(found.items())]

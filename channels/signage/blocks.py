"""A notice body as a screen shows it: headings, paragraphs (a ``第一条`` lead marked), list
items and tables, each as plain display text, from the Markdown the office wrote.

Parsing is markdown-it's (the same parser as the site), so a table on a screen is the table
on the web page; links keep their text (the QR code leads to the full notice); straight
quotes become “ ” and ‘ ’ for display, as a typesetter would set them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from markdown_it.token import Token

from publisher.text import markdown_parser

# 第一条 … 第一百二十条 (and 第1条) at the start of a paragraph: drawn bold, as printed rules are
ARTICLE = re.compile(r"^(第[一二三四五六七八九十百零〇\d]{1,6}[条章节款])[\s　]*")
# a sentence ends at 。！？； (or their ASCII forms followed by a space or the end), with any
# closing quotes or brackets that follow
SENTENCE_END = re.compile(r"[。！？；…]+[”’」』）】》]*|[.!?;](?=\s|$)[”’)\]]*")


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Para:
    text: str
    lead: str = ""  # 第一条 and the like: drawn bold, part of ``text``
    bullet: str = ""  # "· " or "1. " in front of a list item


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...] = field(default=())

    @property
    def people(self) -> bool:
        """A 名单 (a column of names): summarised as "名单共 N 人"."""
        return any(h in ("姓名", "名字", "学生姓名", "考生姓名") for h in self.header)


Block = Heading | Para | Table


def sentences(text: str) -> list[str]:
    """``text`` cut after each sentence end; ``"".join(result) == text``."""
    out, start = [], 0
    for m in SENTENCE_END.finditer(text):
        out.append(text[start : m.end()])
        start = m.end()
    if start < len(text):
        out.append(text[start:])
    return out or [text]


def display_quotes(text: str) -> str:
    """Straight quotes as typographic ones, alternating open and close."""
    out, double, single = [], False, False
    for i, ch in enumerate(text):
        if ch == '"':
            out.append("”" if double else "“")
            double = not double
        elif ch == "'":
            prev = text[i - 1] if i else " "
            if prev.isascii() and prev.isalnum():
                out.append("’")  # an apostrophe: it's, 1990's
            else:
                out.append("’" if single else "‘")
                single = not single
        else:
            out.append(ch)
    return "".join(out)


def _inline(token: Token) -> str:
    parts: list[str] = []
    children = token.children or []
    for i, child in enumerate(children):
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            before = parts[-1][-1:] if parts and parts[-1] else ""
            after = children[i + 1].content[:1] if i + 1 < len(children) else ""
            # Chinese runs on across a line break in the source; Latin words keep a space
            joined = before.isascii() and after.isascii() and before.isalnum()
            parts.append(" " if joined else "")
        elif child.type == "image":
            parts.append(child.content)
    return display_quotes("".join(parts).strip())


def display_blocks(body: str, tokens: Sequence[Token] = ()) -> list[Block]:
    """The blocks of ``body`` in order; empty text is left out (``tokens``: the body already
    parsed, as the published view hands it)."""
    tokens = list(tokens) or markdown_parser().parse(body)
    blocks: list[Block] = []
    bullets: list[list[int]] = []  # per open list: [next number] or [] for bullets
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.type == "heading_open":
            text = _inline(tokens[i + 1])
            if text:
                blocks.append(Heading(text))
            i += 3
            continue
        if t.type == "bullet_list_open":
            bullets.append([])
        elif t.type == "ordered_list_open":
            bullets.append([int(t.attrGet("start") or 1)])
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            bullets.pop()
        elif t.type == "inline" and tokens[i - 1].type == "paragraph_open":
            text = _inline(t)
            in_item = bool(bullets) and tokens[i - 2].type == "list_item_open"
            bullet = ""
            if in_item:
                counter = bullets[-1]
                if counter:
                    bullet = f"{counter[0]}. "
                    counter[0] += 1
                else:
                    bullet = "· "
            if text:
                m = ARTICLE.match(text)
                blocks.append(Para(text, lead=m[1] if m else "", bullet=bullet))
        elif t.type in ("fence", "code_block"):
            for line in t.content.splitlines():
                if line.strip():
                    blocks.append(Para(display_quotes(line.strip())))
        elif t.type == "table_open":
            table, i = _table(tokens, i)
            if table.header or table.rows:
                blocks.append(table)
            continue
        i += 1
    return blocks


def _table(tokens: list[Token], i: int) -> tuple[Table, int]:
    header: list[str] = []
    rows: list[list[str]] = []
    row: list[str] | None = None
    in_head = False
    while tokens[i].type != "table_close":
        t = tokens[i]
        if t.type == "thead_open":
            in_head = True
        elif t.type == "thead_close":
            in_head = False
        elif t.type == "tr_open":
            row = []
        elif t.type == "tr_close" and row is not None:
            if in_head:
                header = row
            else:
                rows.append(row)
            row = None
        elif t.type == "inline" and row is not None:
            row.append(_inline(t))
        i += 1
    width = max([len(header)] + [len(r) for r in rows])

    def pad(cells: list[str]) -> tuple[str, ...]:
        return tuple(cells) + ("",) * (width - len(cells))

    return Table(pad(header), tuple(pad(r) for r in rows)), i + 1

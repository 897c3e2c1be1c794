"""A notice's Markdown body as each app shows it.

The apps differ: a ``text`` message shows every character as typed (``##``, ``|---|``,
``[text](url)`` and backticks would be read literally), WeCom's ``markdown`` (v1), DingTalk's
``markdown`` and Feishu's cards render Markdown but not tables, and WeCom's ``markdown_v2``
renders tables too. So the body is rendered per message type from markdown-it's tokens (the
parser the pages use), not patched with regular expressions:

- :func:`plain`: headings as lines of their own, lists with · or 1., links as "text: url",
  emphasis and code as their text, tables as one line per row ("姓名：王晓　学院：文学院");
- :func:`without_tables`: Markdown kept, each table replaced by a line that says how many
  rows it has and links to the full text.
"""

from __future__ import annotations

from collections.abc import Sequence

from markdown_it.token import Token

from publisher.text import markdown_parser


def _inline(tok: Token, links: bool = True) -> str:
    """The text of an inline token: emphasis and code as their text, links as "text: url"
    (or the address alone when it is its own text), images as their description."""
    out: list[str] = []
    href = ""
    start = 0
    for child in tok.children or []:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif child.type == "image":
            out.append(child.content or "")
        elif child.type == "link_open":
            href = str(child.attrs.get("href", ""))
            start = len(out)
        elif child.type == "link_close" and links:
            label = "".join(out[start:])
            if href and href != label:
                out.append(f"：{href}")
    return "".join(out)


def _cells(tokens: list[Token], i: int) -> tuple[list[list[str]], int]:
    """The rows of the table opening at ``i`` (header first) and where it closes."""
    rows: list[list[str]] = []
    j = i
    while tokens[j].type != "table_close":
        t = tokens[j]
        if t.type == "tr_open":
            rows.append([])
        elif t.type == "inline" and rows:
            rows[-1].append(_inline(t))
        j += 1
    return rows, j


def plain(body: str, tokens: Sequence[Token] = ()) -> str:
    """The body as plain text that reads well where nothing is rendered (``tokens``: the
    body already parsed, as the published view hands it)."""
    tokens = list(tokens) or markdown_parser().parse(body)
    blocks: list[str] = []
    lists: list[list[int]] = []  # per open list: [ordered, next number]
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.type in ("bullet_list_open", "ordered_list_open"):
            start = int(t.attrs.get("start", 1) or 1) if t.type == "ordered_list_open" else 0
            lists.append([int(t.type == "ordered_list_open"), start])
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif t.type == "table_open":
            rows, i = _cells(tokens, i)
            header, body_rows = (rows[0], rows[1:]) if rows else ([], [])
            for row in body_rows:
                pairs = [f"{h}：{c}" if h else c for h, c in zip(header, row, strict=False) if c]
                blocks.append("　".join(pairs))
        elif t.type == "inline":
            text = _inline(t)
            parent = tokens[i - 1].type if i else ""
            in_item = i >= 2 and tokens[i - 2].type == "list_item_open"
            if parent == "heading_open":
                blocks.append(f"【{text}】")
            elif lists and in_item:
                ordered, number = lists[-1]
                mark = f"{number}." if ordered else "·"
                if ordered:
                    lists[-1][1] += 1
                blocks.append("  " * (len(lists) - 1) + f"{mark} {text}")
            else:
                blocks.append(text)
        elif t.type in ("fence", "code_block"):
            blocks.append(t.content.rstrip("\n"))
        elif t.type == "hr":
            blocks.append("——")
        i += 1
    return "\n".join(b for b in blocks if b.strip())


def without_tables(body: str, url: str, tokens: Sequence[Token] = ()) -> str:
    """The Markdown body with each table replaced by a line pointing to the full text."""
    tokens = list(tokens) or markdown_parser().parse(body)
    lines = body.split("\n")
    cut: list[tuple[int, int, int]] = []  # (first line, end line, rows)
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.type == "table_open" and t.map:
            rows, j = _cells(tokens, i)
            cut.append((t.map[0], t.map[1], max(0, len(rows) - 1)))
            i = j
        i += 1
    for first, end, n in reversed(cut):
        lines[first:end] = [f"（表格共 {n} 行，见[全文]({url})）"]
    return "\n".join(lines)

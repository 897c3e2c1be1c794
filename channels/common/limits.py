"""Byte limits: cutting a title to fit, and splitting a long Markdown message into pieces.

Robots count UTF-8 bytes of one field. The splitter cuts only between Markdown blocks
(paragraphs, tables, fenced code, lists), then between lines, then after sentence punctuation,
and never inside a multi-byte character, a link, an image or inline code. The pieces, joined,
are exactly the input, so nothing is lost or doubled; page marks (1/N) are added around them by
the caller.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"

# spans a cut must not fall inside: links, images, inline code, autolinks, bold/italic markers
_ATOMIC = re.compile(
    r"!?\[[^\]\n]*\]\([^)\n]*\)"  # [text](url), ![alt](src)
    r"|`[^`\n]+`"  # `code`
    r"|<https?://[^>\s]+>"  # <http://…>
    r"|https?://[^\s<>)\]]+"  # bare URLs
    r"|\*\*[^*\n]+\*\*"  # **bold**
)
_FENCE = re.compile(r"^(```|~~~)")
_SENTENCE_END = "。！？；!?;.，,、 "


def nbytes(s: str) -> int:
    return len(s.encode("utf-8"))


def cut_bytes(s: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """``s`` cut to at most ``limit`` UTF-8 bytes, never inside a character, with ``ellipsis``
    when anything was cut."""
    data = s.encode("utf-8")
    if len(data) <= limit:
        return s
    room = max(limit - nbytes(ellipsis), 0)
    return data[:room].decode("utf-8", errors="ignore") + (
        ellipsis if limit >= nbytes(ellipsis) else ""
    )


def blocks(text: str) -> list[str]:
    """Markdown blocks, each with the blank lines that follow it; ''.join(blocks) == text.

    A fenced code block is one block however many blank lines it holds.
    """
    out: list[str] = []
    current: list[str] = []
    in_fence = False
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        current.append(line)
        if _FENCE.match(line.lstrip()):
            in_fence = not in_fence
        if in_fence:
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        blank_now = line.strip() == ""
        if blank_now and (nxt is None or nxt.strip() != ""):
            out.append("".join(current))
            current = []
    if current:
        out.append("".join(current))
    return out


def _safe_cut(s: str, limit: int) -> int:
    """The largest index ≤ the byte limit where ``s`` may be cut: after sentence punctuation if
    possible, never inside an atomic span or a character."""
    hard = len(s.encode("utf-8")[:limit].decode("utf-8", errors="ignore"))
    if hard >= len(s):
        return len(s)
    atoms = [m.span() for m in _ATOMIC.finditer(s)]

    def inside(i: int) -> bool:
        return any(a < i < b for a, b in atoms)

    for i in range(hard, max(hard // 2, 0), -1):
        if s[i - 1] in _SENTENCE_END and not inside(i):
            return i
    for i in range(hard, 0, -1):
        if not inside(i):
            return i
    return hard  # one atom longer than the limit: it has to be cut


def split(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` bytes whose concatenation is ``text``."""
    if limit < 8:
        raise ValueError("a limit below 8 bytes cannot hold a character and its context")
    if nbytes(text) <= limit:
        return [text]
    units: list[str] = []
    for block in blocks(text):
        if nbytes(block) <= limit:
            units.append(block)
            continue
        for line in block.splitlines(keepends=True):
            while nbytes(line) > limit:
                cut = _safe_cut(line, limit)
                units.append(line[:cut])
                line = line[cut:]
            if line:
                units.append(line)
    pieces: list[str] = []
    current = ""
    for unit in units:
        if current and nbytes(current) + nbytes(unit) > limit:
            pieces.append(current)
            current = ""
        current += unit
    if current:
        pieces.append(current)
    return pieces

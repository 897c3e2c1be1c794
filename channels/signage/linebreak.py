"""Chinese line breaking for screens and print.

Rules (REFERENCE.md §4): no line starts with closing punctuation (，。、；：？！）》」』】…” …) and
none ends with opening punctuation (（《「『【“ …); runs of digits and Latin letters such as
``2025``, ``7.5%``, ``0851-86681369`` or a URL stay whole unless wider than a line. Breaking never
loses or adds a character: the lines of a paragraph, joined, are the paragraph.
"""

from __future__ import annotations

import re
from collections.abc import Callable

NO_START = frozenset("，。、；：？！）》」』】〕〉…”’·%‰℃,.;:?!)]}>ー々〻ゝゞ")
NO_END = frozenset("（《「『【〔〈“‘([{<")
# a run kept whole: Latin letters and digits with the joiners that occur inside numbers, times,
# phone numbers and URLs
_RUN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.,:/%#&=?_+\-@~]*[A-Za-z0-9%/]|[A-Za-z0-9]")


def tokens(text: str) -> list[str]:
    """Units a line break may not split: Latin/digit runs, spaces, single other characters."""
    out: list[str] = []
    i = 0
    while i < len(text):
        m = _RUN.match(text, i)
        if m:
            out.append(m.group())
            i = m.end()
        else:
            out.append(text[i])
            i += 1
    return out


def break_paragraph(text: str, width: Callable[[str], float], limit: float) -> list[str]:
    """Lines of one paragraph (no newlines in ``text``), each at most ``limit`` wide where the
    rules allow; ``"".join(result) == text``."""
    if not text:
        return [""]
    units: list[str] = []
    for tok in tokens(text):
        if width(tok) > limit and len(tok) > 1:
            units.extend(tok)  # a run wider than a line has to be broken somewhere
        else:
            units.append(tok)
    lines: list[list[str]] = [[]]
    used = 0.0
    for tok in units:
        w = width(tok)
        line = lines[-1]
        if line and used + w > limit and not tok.isspace():
            nxt: list[str] = []
            # kinsoku: a closing mark may not start the next line: take units along until the
            # next line starts with something else (。。 or 》。 move together)
            if tok[0] in NO_START:
                while len(line) > 1:
                    nxt.insert(0, line.pop())
                    if nxt[0][0] not in NO_START:
                        break
            # an opening mark may not end this line: move it down
            while len(line) > 1 and line[-1][-1] in NO_END:
                nxt.insert(0, line.pop())
            lines.append(nxt)
            line = nxt
            used = sum(width(t) for t in line)
        line.append(tok)
        used += w
    return ["".join(line) for line in lines]

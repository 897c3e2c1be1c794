"""From a notice to slides: where every line, box and QR code goes, at the screen's own pixels.

A notice is a poster first, a document second. Slide 1 is the poster: the title large (the
biggest size at which it takes at most three lines; never cut), the key facts as labelled
blocks, the summary, and a big QR code with 扫码查看全文. Further slides carry the body only
if it fits ``max_slides`` readably; a longer body ends on a 全文请扫码 slide instead of
hundreds of pages. Pages break only between sentences or blocks, never leave a lone line of a
paragraph on either side, keep a heading with what follows it, and never split a table row
(the header row is repeated; a table too wide or too long is summarised, 名单共 N 人).

The same layout feeds the PNG renderer and the HTML slideshow, so both show the same slides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from PIL import ImageFont

from channels.common.fonts import Fonts, browser_metrics
from publisher.model import PublishedNotice
from publisher.text import plain_text

from .blocks import Block, Heading, Para, Table, display_blocks, display_quotes, sentences
from .linebreak import break_paragraph
from .options import Profile
from .qr import QR_BORDER, qr_modules
from .schedule import priority, screen_window
from .slides import GOLD, MUTED, PANEL, RULE, WHITE, Box, Line, Page, Slide


class Measure:
    """Widths of text in a font, cached per unit (line breaking measures many times)."""

    def __init__(self, font: ImageFont.FreeTypeFont) -> None:
        self.font = font
        self._cache: dict[str, float] = {}

    def __call__(self, s: str) -> float:
        w = self._cache.get(s)
        if w is None:
            w = self.font.getlength(s)
            if len(self._cache) < 50_000:
                self._cache[s] = w
        return w


class Layout:
    def __init__(self, profile: Profile, fonts: Fonts, site_name: str) -> None:
        self.p = profile
        self.fonts = fonts
        self.site_name = site_name
        short = profile.short
        self.body = max(12, round(short * profile.body_size))
        self.title = max(14, round(self.body * profile.title_scale))
        self.poster_title = max(self.title, round(short * 0.085))
        self.facts = max(10, round(short * profile.facts_size))
        self.label = max(10, round(short * 0.026))
        self.footer = max(10, round(short * 0.028))
        self.heading = round(self.body * 1.12)
        self.left = round(profile.width * profile.margin)
        self.top = round(profile.height * profile.margin)
        self.right = profile.width - self.left
        self.bottom = profile.height - self.top
        self.gap = round(self.body * 0.8)
        self.landscape = profile.width >= profile.height
        self._measure: dict[tuple[int, bool], Measure] = {}
        self._ink: dict[tuple[int, bool], tuple[int, int]] = {}

    # ---------------------------------------------------------------- fonts

    def measure(self, size: int, bold: bool = False) -> Measure:
        key = (size, bold)
        if key not in self._measure:
            face = self.fonts.bold if bold else self.fonts.regular
            self._measure[key] = Measure(face.load(size))
        return self._measure[key]

    @property
    def width(self) -> int:
        return self.right - self.left

    def ink(self, size: int, bold: bool = False) -> tuple[int, int]:
        """Where the ink of a line of ``size`` starts and ends below the y it is drawn at
        (Pillow places text by its ascender, which sits well above CJK glyphs)."""
        key = (size, bold)
        if key not in self._ink:
            face = self.fonts.bold if bold else self.fonts.regular
            box = face.load(size).getbbox("国Ég（")
            self._ink[key] = (int(box[1]), int(box[3]))
        return self._ink[key]

    def css_line(self, size: int, bold: bool = False) -> tuple[int, int]:
        """(offset, line-height) of the slideshow's box for a line drawn at y: a box as high
        as the browser's ascent + descent (no half-leading to round), starting ``offset``
        below y, puts the baseline on the pixel row where Pillow puts it."""
        face = self.fonts.bold if bold else self.fonts.regular
        pillow_ascent, _ = face.load(size).getmetrics()
        ascent, descent = browser_metrics(face, size)
        return pillow_ascent - ascent, ascent + descent

    def line_at(self, text: str, x: int, ink_top: int, size: int, bold: bool, color: str,
              role: str) -> Line:  # fmt: skip
        """A line whose ink starts at ``ink_top``."""
        return Line(text, x, ink_top - self.ink(size, bold)[0], size, bold, color, role)

    def wrap(self, text: str, size: int, bold: bool, limit: float) -> list[str]:
        return [ln.rstrip() for ln in break_paragraph(text, self.measure(size, bold), limit)]

    def step(self, size: int, factor: float = 1.5) -> int:
        return round(size * factor)

    def block_height(self, n: int, size: int, factor: float = 1.5, bold: bool = False) -> int:
        """Height of ``n`` lines: (n-1) line steps plus the ink of the last."""
        if n <= 0:
            return 0
        top, bottom = self.ink(size, bold)
        return (n - 1) * self.step(size, factor) + (bottom - top)

    # ---------------------------------------------------------------- readability

    def readability(self, diagonal_in: float = 55.0) -> dict[str, float | bool]:
        """The body's cap height on a ``diagonal_in`` screen of this profile's shape against
        the common guidance of 1 inch of letter height per 10 feet of viewing distance."""
        w, h = self.p.width, self.p.height
        mm_per_px = diagonal_in * 25.4 / (w * w + h * h) ** 0.5
        # the height of a Chinese character's ink (国), the measure of a CJK "cap height"
        box = self.fonts.regular.load(self.body).getbbox("国")
        cap_mm = (box[3] - box[1]) * mm_per_px
        needed_mm = self.p.viewing_distance_m * 1000 / 120  # 25.4 mm per 3,048 mm
        return {
            "body_px": self.body,
            "cap_height_mm": round(cap_mm, 1),
            "needed_mm": round(needed_mm, 1),
            "viewing_distance_m": self.p.viewing_distance_m,
            "diagonal_in": diagonal_in,
            "readable": cap_mm >= needed_mm,
        }

    # ---------------------------------------------------------------- notices

    def facts_of(self, v: PublishedNotice) -> list[tuple[str, str]]:
        n = v.notice
        facts = []
        if n.expires_at is not None:
            facts.append(("公示期", f"{_d(n.publish_at)} 至 {_d(n.expires_at)}"))
        if n.contact:
            facts.append(("如有异议请联系" if n.expires_at else "联系方式", n.contact))
        facts.append(("发布部门", n.department))
        return [(label, display_quotes(value)) for label, value in facts]

    def notice_slides(self, v: PublishedNotice, tz: object = None) -> list[Slide]:
        n = v.notice
        blocks = display_blocks(n.body, v.tokens)
        summary = [display_quotes(n.summary.strip())] if n.summary.strip() else []
        opening = 0
        if not summary:
            # no summary: the poster shows the opening paragraphs, and the body slides go on
            # from after those it shows whole
            while opening < len(blocks) and isinstance(blocks[opening], Para):
                opening += 1
            summary = [b.text for b in blocks[:opening] if isinstance(b, Para)]
            if not summary:  # it opens with a heading: the first paragraph as a teaser
                summary = [b.text for b in blocks if isinstance(b, Para)][:1]
        poster, whole = self._poster(
            display_quotes(n.title), self.facts_of(v), summary, v.category_name
        )
        if not opening and blocks and all(isinstance(b, Para) for b in blocks):
            # a short body of plain paragraphs that fits under the summary: one poster says
            # it all (a second slide of three sentences only makes the loop longer)
            paras = [b.text for b in blocks if isinstance(b, Para)]
            both, shown = self._poster(
                display_quotes(n.title), self.facts_of(v), summary + paras, v.category_name
            )
            if shown == len(summary) + len(paras):
                poster, whole, opening = both, len(blocks), len(blocks)
        body_text = plain_text(n.body)
        skip = min(whole, opening)
        rest = blocks[skip:]
        pages: list[Page] = self._flow(rest, n.title, skip) if rest else []
        more = False
        room = self.p.max_slides - 1
        summarise: set[int] = set()
        while len(pages) > room:
            # a table cut where the slides run out would show some names and not the rest (a
            # reader could think they are not on the list): say how many, and where to look
            keep = max(0, room - 1)
            on_kept = {ln.block for p in pages[:keep] for ln in p.lines if ln.row > 0}
            cut = on_kept & {ln.block for p in pages[keep:] for ln in p.lines if ln.row > 0}
            if not cut:
                break
            summarise |= cut
            pages = self._flow(rest, n.title, skip, summarise)
        if len(pages) > room:
            # the last slide allowed says 全文请扫码; with one slide, the poster says it
            more = room >= 1
            pages = pages[: max(0, room - 1)]
        total = 1 + len(pages) + (1 if more else 0)
        title = n.title
        window = screen_window(n)
        common = dict(
            notice_id=n.id,
            sha256=v.sha256,
            pages=total,
            valid_from=window[0],
            valid_until=window[1],
            source_url=v.url,
            title=title,
            priority=priority(n),
        )
        slides = [self.finish(poster, 1, total, "poster", v.url, common)]
        for i, page in enumerate(pages, 2):
            slides.append(
                self.finish(page, i, total, "body", v.url if page.points_to_qr else None, common)
            )
        if more:
            slides.append(self.finish(self._more(len(body_text)), total, total, "more",
                                       v.url, common))  # fmt: skip
        return slides

    def finish(
        self, page: Page, i: int, total: int, kind: str, url: str | None, common: dict[str, object]
    ) -> Slide:
        lines = list(page.lines)
        footer = self.site_name + (f" · {i}/{total}" if total > 1 else "")
        lines.append(
            self.line_at(
                footer, self.left, self.bottom - self.ink_height(self.footer), self.footer, False,
                "#f3c4c4" if kind == "alert" else MUTED, "footer",
            )
        )  # fmt: skip
        chars = page.chars
        duration = min(
            self.p.dwell_max, max(self.p.dwell_min, round(chars / self.p.chars_per_second, 1))
        )
        qr = self._qr_box(kind, url) if url and self.p.qr and kind in ("poster", "more") else None
        if url and self.p.qr and kind == "body":
            # a body slide that says 请扫码 gets the code in the room below its text, as large
            # as that room allows (and not at all when a phone could not read it from there)
            lowest = max(ln.y + self.ink(ln.size, ln.bold)[1] for ln in page.lines)
            caption = self.block_height(1, self.facts) + self.gap // 2
            room = self.bottom - self.footer * 2 - caption - (lowest + self.gap)
            modules = qr_modules(url) + 2 * QR_BORDER
            side = min(self._qr_side(), room) // modules * modules
            qr = None
            if side >= max(modules * 3, round(self.p.short * 0.18)):
                y = lowest + self.gap + (room - side) // 2
                qr = (self.left + (self.width - side) // 2, y, side)
        if qr:
            lines.append(self._qr_caption(qr))
        return Slide(
            page=i,
            lines=tuple(lines),
            boxes=tuple(page.boxes),
            qr_url=url if qr else None,
            qr_box=qr,
            duration=duration,
            text_chars=chars,
            kind=kind,
            **common,  # type: ignore[arg-type]
        )

    def _qr_caption(self, qr: tuple[int, int, int]) -> Line:
        """扫码查看全文, centred under the code."""
        x, y, side = qr
        caption = "扫码查看全文"
        w = self.measure(self.facts)(caption)
        return self.line_at(caption, round(x + (side - w) / 2), y + side + self.gap // 2,
                          self.facts, False, GOLD, "qr-caption")  # fmt: skip

    def ink_height(self, size: int, bold: bool = False) -> int:
        top, bottom = self.ink(size, bold)
        return bottom - top

    # ---------------------------------------------------------------- the poster

    def _qr_side(self) -> int:
        short = self.p.short
        return round(short * (0.34 if self.landscape else 0.42))

    def _qr_box(self, kind: str, url: str) -> tuple[int, int, int]:
        side = self._qr_side()
        # whole modules only: the drawn code is a multiple of the module count
        modules = qr_modules(url) + 2 * QR_BORDER
        side = max(modules, side // modules * modules)
        caption = self.block_height(1, self.facts) + self.gap // 2
        if kind == "more" or not self.landscape:
            x = self.left + (self.width - side) // 2
            y = self.bottom - self.footer * 2 - caption - side
            if kind == "more":  # in the middle of the room below the words
                free = y - (self.top + self.block_height(1, round(self.poster_title * 1.2), 1.0,
                                                         True) + self.facts * 4)  # fmt: skip
                y -= max(0, free // 2)
        else:
            x = self.right - side
            y = self.top + (self.bottom - self.top - side - caption) // 2
        return (x, y, side)

    def _text_column(self) -> tuple[int, int]:
        """(width, bottom) of the poster's text beside or above the QR code."""
        side = self._qr_side() if self.p.qr else 0
        footer_room = self.footer * 2
        if self.landscape:
            return self.width - (side + self.gap * 2 if side else 0), self.bottom - footer_room
        caption = self.block_height(1, self.facts) + self.gap // 2
        qr_room = side + caption + self.gap if side else 0
        return self.width, self.bottom - footer_room - qr_room

    def _poster(
        self,
        title: str,
        facts: list[tuple[str, str]],
        summary: list[str],
        kicker: str,
    ) -> tuple[Page, int]:
        """The poster, and how many paragraphs of ``summary`` it shows whole."""
        width, bottom = self._text_column()
        page = Page()
        y = self.top
        kicker = kicker or self.site_name
        page.lines.append(self.line_at(kicker, self.left, y, self.label, False, MUTED, "kicker"))
        y += self.block_height(1, self.label) + self.gap
        # the largest title size that takes at most three lines and leaves room for the facts
        facts_h = self._facts_height(facts, width)
        size, lines = self.poster_title, self.wrap(title, self.poster_title, True, width)
        floor = max(12, round(self.body * 0.8))
        while size > floor:
            lines = self.wrap(title, size, True, width)
            h = self.block_height(len(lines), size, 1.25, True)
            if len(lines) <= 3 and y + h + self.gap + facts_h <= bottom:
                break
            size = max(floor, int(size * 0.94))
        # a title too long for three lines: smaller still, never cut, until it fits; the
        # facts give way last (they are on the notice's page too)
        while size > 12:
            lines = self.wrap(title, size, True, width)
            if y + self.block_height(len(lines), size, 1.25, True) + self.gap + facts_h <= bottom:
                break
            if facts and size <= floor:
                facts, facts_h = [], 0
                continue
            size = max(12, int(size * 0.94))
        lines = self.wrap(title, size, True, width)
        for t in lines:
            page.lines.append(self.line_at(t, self.left, y, size, True, WHITE, "title"))
            y += self.step(size, 1.25)
        y += self.block_height(1, size, 1.25, True) - self.step(size, 1.25) + self.gap
        page.chars += len(title)
        y = self._facts(page, facts, y, width)
        # the summary: whole paragraphs while they fit (then whole sentences of the first),
        # at the body size or a little smaller
        room = bottom - y
        para_gap = self.gap // 2
        whole = 0
        for size in (self.body, round(self.body * 0.85)):
            chosen: list[list[str]] = []
            used, whole = 0, 0
            for j, paragraph in enumerate(summary):
                lines = self.wrap(paragraph, size, False, width)
                h = self.block_height(len(lines), size) + (para_gap if chosen else 0)
                if used + h <= room:
                    chosen.append(lines)
                    used += h + self.step(size) - self.block_height(1, size)
                    whole = j + 1
                    continue
                if not chosen:  # the opening sentences of a long first paragraph
                    text, part = "", []
                    for sentence in sentences(paragraph):
                        candidate = self.wrap(text + sentence, size, False, width)
                        if self.block_height(len(candidate), size) > room:
                            break
                        text, part = text + sentence, candidate
                    if part:
                        chosen.append(part)
                break
            if chosen:
                break
        for k, lines in enumerate(chosen):
            if k:
                y += para_gap
            for t in lines:
                page.lines.append(self.line_at(t, self.left, y, size, False, WHITE, "summary"))
                y += self.step(size)
                page.chars += len(t)
        return page, whole

    def _fact_columns(self, n: int, width: int) -> int:
        per_row = max(1, int(width // (self.facts * 9)))
        return max(1, min(n, per_row, 3))

    def _fact_block(self, label: str, value: str, w: int) -> tuple[int, list[str]]:
        pad = round(self.label * 0.6)
        lines = self.wrap(value, self.facts, True, w - 2 * pad)
        h = (
            pad
            + self.block_height(1, self.label)
            + round(self.label * 0.5)
            + self.block_height(len(lines), self.facts, 1.3, True)
            + pad
        )
        return h, lines

    def _facts_height(self, facts: list[tuple[str, str]], width: int) -> int:
        if not facts:
            return 0
        cols = self._fact_columns(len(facts), width)
        w = (width - self.gap * (cols - 1)) // cols
        heights = [self._fact_block(label, value, w)[0] for label, value in facts]
        rows = [heights[i : i + cols] for i in range(0, len(heights), cols)]
        return sum(max(r) for r in rows) + self.gap * len(rows)

    def _facts(self, page: Page, facts: list[tuple[str, str]], y: int, width: int) -> int:
        if not facts:
            return y
        cols = self._fact_columns(len(facts), width)
        w = (width - self.gap * (cols - 1)) // cols
        pad = round(self.label * 0.6)
        for r in range(0, len(facts), cols):
            row = facts[r : r + cols]
            blocks = [self._fact_block(label, value, w) for label, value in row]
            h = max(b[0] for b in blocks)
            for c, ((label, _), (_, lines)) in enumerate(zip(row, blocks, strict=True)):
                x = self.left + c * (w + self.gap)
                page.boxes.append(Box(x, y, w, h, PANEL, round(self.label * 0.3)))
                ly = y + pad
                page.lines.append(
                    self.line_at(label, x + pad, ly, self.label, False, GOLD, "label")
                )
                ly += self.block_height(1, self.label) + round(self.label * 0.5)
                for t in lines:
                    page.lines.append(self.line_at(t, x + pad, ly, self.facts, True, WHITE, "fact"))
                    ly += self.step(self.facts, 1.3)
                page.chars += len(label) + sum(len(t) for t in lines)
            y += h + self.gap
        return y

    def _more(self, chars: int) -> Page:
        page = Page()
        big = round(self.poster_title * 1.2)
        y = self.top + self.gap
        text = "全文请扫码"
        w = self.measure(big, True)(text)
        page.lines.append(self.line_at(text, round(self.left + (self.width - w) / 2), y, big, True,
                                     WHITE, "more"))  # fmt: skip
        y += self.block_height(1, big, 1.0, True) + self.gap
        note = f"本事项全文约 {chars} 字，请用手机扫描下方二维码阅读"
        for t in self.wrap(note, self.facts, False, self.width):
            tw = self.measure(self.facts)(t)
            page.lines.append(self.line_at(t, round(self.left + (self.width - tw) / 2), y,
                                         self.facts, False, MUTED, "more-note"))  # fmt: skip
            y += self.step(self.facts)
        page.chars += len(text) + len(note)
        return page

    # ---------------------------------------------------------------- body slides

    def _running_head(self, title: str) -> tuple[list[Line], int]:
        """The title, small, on every body slide (whole, wrapped), and where the body starts."""
        size = self.facts
        lines = []
        y = self.top
        for t in self.wrap(display_quotes(title), size, True, self.width):
            lines.append(self.line_at(t, self.left, y, size, True, MUTED, "running-head"))
            y += self.step(size, 1.3)
        y += self.block_height(1, size, 1.3, True) - self.step(size, 1.3)
        return lines, y + self.gap

    def _flow(
        self,
        blocks: Sequence[Block],
        title: str,
        first: int = 0,
        summarise: frozenset[int] | set[int] = frozenset(),
    ) -> list[Page]:
        """Body slides of ``blocks`` (the body's from the ``first``-th on); the tables of
        ``summarise`` (block numbers) as one line that says how many rows they have."""
        head, body_top = self._running_head(title)
        body_bottom = self.bottom - self.footer * 2
        columns = self.p.column_count
        col_gap = self.gap * 2
        col_w = (self.width - col_gap * (columns - 1)) // columns
        flow = _Flow(self, head, body_top, body_bottom, columns, col_w, col_gap)
        flow.summarise = summarise
        for i, block in enumerate(blocks):
            flow.block = first + i
            if isinstance(block, Heading):
                flow.heading(block, blocks[i + 1 :])
            elif isinstance(block, Para):
                flow.paragraph(block)
            else:
                flow.table(block)
        return [p for p in flow.pages if p.lines]


class _Flow:
    """Fills body slides block by block, breaking only where the rules allow."""

    def __init__(
        self,
        layout: Layout,
        head: list[Line],
        top: int,
        bottom: int,
        columns: int,
        col_w: int,
        col_gap: int,
    ) -> None:
        self.L = layout
        self.head = head
        self.top = top
        self.bottom = bottom
        self.columns = columns
        self.col_w = col_w
        self.col_gap = col_gap
        self.pages: list[Page] = []
        self.col = columns  # forces a new page on first use
        self.y = top
        self.size = layout.body
        self.block = -1
        self.summarise: frozenset[int] | set[int] = frozenset()

    # where things go

    @property
    def x(self) -> int:
        return self.L.left + self.col * (self.col_w + self.col_gap)

    @property
    def room(self) -> int:
        return self.bottom - self.y

    @property
    def fresh(self) -> bool:
        return self.y == self.top

    def next_column(self) -> None:
        self.col += 1
        if self.col >= self.columns:
            page = Page()
            page.lines.extend(self.head)
            self.pages.append(page)
            self.col = 0
        self.y = self.top

    def ensure(self) -> None:
        if not self.pages:
            self.next_column()

    @property
    def page(self) -> Page:
        return self.pages[-1]

    def space(self, gap: int) -> None:
        if not self.fresh:
            self.y += gap

    def add(self, line: Line, row: int = -1) -> None:
        self.page.lines.append(replace(line, block=self.block, row=row))

    def put(self, lines: list[str], size: int, bold: bool, role: str, lead: str = "") -> None:
        L = self.L
        for t in lines:
            if lead and t.startswith(lead):
                # 第一条 drawn bold in gold, the rest of the line after it
                lw = round(L.measure(size, True)(lead))
                self.add(L.line_at(lead, self.x, self.y, size, True, GOLD, "lead"))
                rest = t[len(lead) :]
                if rest:
                    self.add(L.line_at(rest, self.x + lw, self.y, size, False, WHITE, role))
                lead = ""
            else:
                color = GOLD if role == "heading" else WHITE
                self.add(L.line_at(t, self.x, self.y, size, bold, color, role))
            self.y += L.step(size)
            self.page.chars += len(t)
        # the last line's box ends at its ink, not at a full line step
        self.y += L.block_height(1, size) - L.step(size)

    def lines_height(self, n: int, size: int) -> int:
        return self.L.block_height(n, size)

    # blocks

    def heading(self, block: Heading, after: Sequence[Block]) -> None:
        """A heading, kept with what follows: the rest of a run of headings and two lines of
        the text after them must fit below it, or it starts the next slide."""
        L = self.L
        self.ensure()
        lines = L.wrap(block.text, L.heading, True, self.col_w)
        h = self.lines_height(len(lines), L.heading)
        follow = 0
        for nxt in after:
            if isinstance(nxt, Heading):
                n = len(L.wrap(nxt.text, L.heading, True, self.col_w))
                follow += round(L.gap * 1.5) + self.lines_height(n, L.heading)
                continue
            if isinstance(nxt, Para):
                n = self.first_part_lines(nxt)
                follow += L.gap + self.lines_height(n, self.size)
            else:
                follow += L.gap + 2 * L.step(self.size) * 2  # a header row and a row
            break
        gap = 0 if self.fresh else round(L.gap * 1.5)
        if not self.fresh and gap + h + follow > self.room:
            self.next_column()
            gap = 0
        self.y += gap
        self.put(lines, L.heading, True, "heading")

    def first_part_lines(self, block: Para) -> int:
        """The fewest lines ``paragraph`` can put before it breaks ``block`` (a break falls
        at a sentence end and leaves two lines or more on each side; a paragraph that has no
        such break goes whole)."""
        L = self.L
        parts = sentences(block.bullet + block.text)
        whole = len(L.wrap("".join(parts), self.size, False, self.col_w))
        for k in range(1, len(parts)):
            first = len(L.wrap("".join(parts[:k]), self.size, False, self.col_w))
            if first >= 2 and len(L.wrap("".join(parts[k:]), self.size, False, self.col_w)) >= 2:
                return min(first, whole)
        return whole

    def paragraph(self, block: Para) -> None:
        L = self.L
        self.ensure()
        parts = sentences(block.bullet + block.text)
        lead = block.lead
        while parts:
            gap = 0 if self.fresh else L.gap
            whole = L.wrap("".join(parts), self.size, False, self.col_w)
            if gap + self.lines_height(len(whole), self.size) <= self.room:
                self.y += gap
                self.put(whole, self.size, False, "body", lead)
                return
            # the most sentences that fit, leaving two lines or more on each side
            best = 0
            for k in range(1, len(parts)):
                first = L.wrap("".join(parts[:k]), self.size, False, self.col_w)
                if gap + self.lines_height(len(first), self.size) > self.room:
                    break
                rest = L.wrap("".join(parts[k:]), self.size, False, self.col_w)
                if len(first) >= 2 and len(rest) >= 2:
                    best = k
            if best:
                first = L.wrap("".join(parts[:best]), self.size, False, self.col_w)
                self.y += gap
                self.put(first, self.size, False, "body", lead)
                parts = parts[best:]
                lead = ""
                self.next_column()
                continue
            if not self.fresh:
                self.next_column()
                continue
            # one sentence taller than a whole slide: it has to break between lines
            joined = "".join(parts)
            raw = break_paragraph(joined, L.measure(self.size), self.col_w)
            fit = max(2, (self.room - L.ink_height(self.size)) // L.step(self.size) + 1)
            if len(raw) - fit == 1:
                fit -= 1  # never a lone line on the next slide
            taken = raw[:fit]
            self.put([t.rstrip() for t in taken], self.size, False, "body", lead)
            # counted on the unstripped lines, so a line of spaces still moves on
            remainder = joined[len("".join(taken)) :]
            parts = sentences(remainder) if remainder.strip() else []
            lead = ""
            self.next_column()

    def table(self, block: Table) -> None:
        L = self.L
        self.ensure()
        size = round(self.size * 0.9)
        pad = round(size * 0.35)
        widths = self._columns(block, size, pad)
        n = len(block.rows)
        summary = Para(
            f"名单共 {n} 人，请扫码查看全文。"
            if block.people
            else f"表格共 {n} 行，请扫码查看全文。"
        )
        if widths is None or self.block in self.summarise:
            self.paragraph(summary)
            self.page.points_to_qr = True
            return
        m = L.measure(size)
        mb = L.measure(size, True)

        def cells(row: Sequence[str], bold: bool) -> list[list[str]]:
            return [
                [t.rstrip() for t in break_paragraph(c, mb if bold else m, w - 2 * pad)]
                for c, w in zip(row, widths, strict=True)
            ]

        def row_h(lines: list[list[str]], bold: bool = False) -> int:
            k = max(len(c) for c in lines)
            return L.block_height(k, size, 1.3, bold) + 2 * pad

        head = cells(block.header, True) if any(block.header) else None
        head_h = row_h(head, True) if head else 0
        body_rows = [cells(r, False) for r in block.rows]
        # a table taller than the slides could hold is summarised, not cut
        usable = self.bottom - self.top - head_h
        total = sum(row_h(r) for r in body_rows)
        if any(row_h(r) > usable for r in body_rows) or total > usable * self.L.p.max_slides:
            self.paragraph(summary)
            self.page.points_to_qr = True
            return
        gap = 0 if self.fresh else L.gap
        first_row = row_h(body_rows[0]) if body_rows else 0
        if gap + head_h + first_row > self.room:
            self.next_column()
            gap = 0
        self.y += gap
        if head:
            self._row(head, widths, size, pad, True, head_h, 0)
        for n, r in enumerate(body_rows, 1):
            h = row_h(r)
            if h > self.room:
                self.next_column()
                if head:
                    self._row(head, widths, size, pad, True, head_h, 0)  # on each slide
            self._row(r, widths, size, pad, False, h, n)

    def _row(
        self,
        cells: list[list[str]],
        widths: list[int],
        size: int,
        pad: int,
        bold: bool,
        h: int,
        row: int,
    ) -> None:
        L = self.L
        total_w = sum(widths)
        if bold:
            self.page.boxes.append(Box(self.x, self.y, total_w, h, PANEL))
        x = self.x
        for lines, w in zip(cells, widths, strict=True):
            cy = self.y + pad
            for t in lines:
                color = GOLD if bold else WHITE
                self.add(L.line_at(t, x + pad, cy, size, bold, color, "cell"), row)
                cy += L.step(size, 1.3)
                self.page.chars += len(t)
            x += w
        self.page.boxes.append(Box(self.x, self.y + h - 2, total_w, 2, RULE))
        self.y += h

    def _columns(self, block: Table, size: int, pad: int) -> list[int] | None:
        """Column widths that fit the column, or None when the table cannot be fitted."""
        L = self.L
        m, mb = L.measure(size), L.measure(size, True)
        rows = [block.header, *block.rows]
        natural = [
            max(max(mb(r[c]) if r is block.header else m(r[c]) for r in rows), m("国国")) + 2 * pad
            for c in range(len(block.header))
        ]
        # the narrowest a column may be: four characters, or its longest unbreakable run
        least = [
            max(m("国国国国"), *(max((m(t) for t in r[c].split()), default=0) for r in rows))
            + 2 * pad
            for c in range(len(block.header))
        ]
        least = [min(a, b) for a, b in zip(least, natural, strict=True)]
        if sum(least) > self.col_w:
            return None
        if sum(natural) <= self.col_w:
            extra = (self.col_w - sum(natural)) / len(natural)
            return [int(w + extra) for w in natural]
        # shrink the wide columns towards their least width, in proportion
        spare = self.col_w - sum(least)
        wants = [n - le for n, le in zip(natural, least, strict=True)]
        share = spare / sum(wants) if sum(wants) else 0
        return [int(le + w * share) for le, w in zip(least, wants, strict=True)]


def _d(dt: datetime) -> str:
    return f"{dt.year}年{dt.month}月{dt.day}日"

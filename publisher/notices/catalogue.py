"""The 清单 (disclosure checklist): categories and numbered items.

The default is the national list (教办函〔2014〕23号, 10 categories, 50 items) shipped as data.
Provinces and schools adapt it, so a site can replace the file or override single items.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path

from publisher.errors import CatalogueError
from publisher.model import ChecklistItem

_CN_NUMERALS = "一二三四五六七八九十"


@dataclass(frozen=True)
class Category:
    slug: str  # ASCII, used in URLs (feeds/zsks.xml)
    name: str
    order: int

    @property
    def label(self) -> str:
        prefix = _CN_NUMERALS[self.order - 1] if 0 < self.order <= 10 else str(self.order)
        return f"{prefix}、{self.name}"


@dataclass(frozen=True)
class Item:
    no: int
    category: str  # slug
    text: str


class Catalogue:
    def __init__(self, categories: Iterable[Category], items: Iterable[Item]) -> None:
        self.categories: dict[str, Category] = {c.slug: c for c in categories}
        self.items: dict[int, Item] = {i.no: i for i in items}

    def category(self, slug: str) -> Category:
        return self.categories[slug]

    def resolve_category(self, value: str) -> Category | None:
        """Accept the slug (zsks), the name (招生考试信息) or the label (二、招生考试信息)."""
        value = value.strip()
        if value in self.categories:
            return self.categories[value]
        for c in self.categories.values():
            if value in (c.name, c.label):
                return c
        return None

    def items_of(self, slug: str) -> list[Item]:
        return sorted((i for i in self.items.values() if i.category == slug), key=lambda i: i.no)

    def __len__(self) -> int:
        return len(self.items)

    def checklist(self) -> tuple[ChecklistItem, ...]:
        """Every item in catalogue order (category, then number), as channels see it."""
        return tuple(
            ChecklistItem(i.no, c.slug, c.label, i.text)
            for c in sorted(self.categories.values(), key=lambda c: c.order)
            for i in self.items_of(c.slug)
        )


def _parse_csv(text: str, source: str) -> tuple[list[Category], list[Item]]:
    reader = csv.DictReader(io.StringIO(text))
    needed = {"no", "category_slug", "category", "item"}
    if reader.fieldnames is None or not needed <= set(reader.fieldnames):
        raise CatalogueError(
            f"a catalogue CSV needs the columns {', '.join(sorted(needed))}",
            file=source,
            line=1,
        )
    categories: dict[str, Category] = {}
    items: list[Item] = []
    seen: set[int] = set()
    for row in reader:
        line = reader.line_num
        try:
            no = int(row["no"])
        except (TypeError, ValueError):
            raise CatalogueError(
                f"item number {row['no']!r} is not a whole number",
                file=source,
                line=line,
                field="no",
            ) from None
        if no in seen:
            raise CatalogueError(f"item {no} appears twice", file=source, line=line, field="no")
        seen.add(no)
        slug = (row["category_slug"] or "").strip()
        if not slug.isascii() or not slug.replace("-", "").isalnum():
            raise CatalogueError(
                f"category slug {slug!r} must be ASCII letters, digits or '-' (it becomes a URL)",
                file=source,
                line=line,
                field="category_slug",
            )
        if slug not in categories:
            categories[slug] = Category(slug, row["category"].strip(), len(categories) + 1)
        items.append(Item(no, slug, (row["item"] or "").strip()))
    return list(categories.values()), items


def default_catalogue() -> Catalogue:
    text = resources.files("publisher").joinpath("data/checklist.csv").read_text("utf-8")
    return Catalogue(*_parse_csv(text, "publisher/data/checklist.csv"))


def load_catalogue(
    file: Path | None = None, overrides: Iterable[Mapping[str, object]] = ()
) -> Catalogue:
    """The default catalogue, or ``file``'s, with single items overridden or added."""
    if file is None:
        cat = default_catalogue()
    else:
        try:
            text = file.read_text("utf-8-sig")
        except OSError as exc:
            raise CatalogueError(f"cannot read catalogue: {exc.strerror}", file=str(file)) from None
        cat = Catalogue(*_parse_csv(text, str(file)))
    items = dict(cat.items)
    categories = dict(cat.categories)
    for ov in overrides:
        no = int(str(ov["no"]))
        slug = str(ov.get("category") or (items[no].category if no in items else ""))
        if slug not in categories:
            name = str(ov.get("category_name") or "")
            if not name:
                raise CatalogueError(
                    f"override of item {no} names unknown category {slug!r} "
                    "(give category_name to add a new category)",
                    field="catalogue.items",
                )
            categories[slug] = Category(slug, name, len(categories) + 1)
        items[no] = Item(no, slug, str(ov.get("text") or (items[no].text if no in items else "")))
    return Catalogue(categories.values(), items.values())


# ---------------------------------------------------------------------------- duties


@dataclass(frozen=True)
class Rhythm:
    """How often a 清单 item must be published: ``once`` (at least one notice, ever),
    ``on change`` (whenever it changes: only the 20-working-day clock applies), ``each term``
    (at least one notice in every term) or ``yearly by MM-DD`` (one each school year, by that
    date)."""

    kind: str  # once | on change | each term | yearly
    month: int = 0
    day: int = 0

    def __str__(self) -> str:
        return f"yearly by {self.month:02d}-{self.day:02d}" if self.kind == "yearly" else self.kind

    @property
    def label(self) -> str:
        return {
            "once": "一次性公开",
            "on change": "变化时更新",
            "each term": "每学期",
            "yearly": f"每年 {self.month} 月 {self.day} 日前",
        }[self.kind]


_RHYTHM = re.compile(r"^(once|on change|each term|yearly by (\d{2})-(\d{2}))$")


def parse_rhythm(value: str) -> Rhythm:
    m = _RHYTHM.match(" ".join(value.split()))
    if not m:
        raise ValueError(
            f"rhythm {value!r} is not one of: once, on change, each term, yearly by MM-DD"
        )
    if m[2]:
        month, day = int(m[2]), int(m[3])
        try:
            date(2024, month, day)  # a leap year, so 02-29 is accepted
        except ValueError:
            raise ValueError(f"rhythm {value!r}: {m[2]}-{m[3]} is not a date") from None
        return Rhythm("yearly", month, day)
    return Rhythm(m[1])


@dataclass(frozen=True)
class Duty:
    """Who must publish a 清单 item, and how often."""

    item: int
    owner: str
    rhythm: Rhythm
    notify: str | None = None  # the robot that reminds the owner

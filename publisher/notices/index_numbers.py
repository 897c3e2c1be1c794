"""索引号: the catalogue number of a notice, as on government and university disclosure sites.

The pattern is a setting (``disclosure.index_pattern``), by default
``{org}-{category}-{year}-{serial:04d}`` (机构代码-类别码-年份-流水号), e.g. ``10520-02-2026-0007``.
Fields: ``org`` (``disclosure.org_code``), ``category`` (the 清单 category's number, two digits),
``category_slug``, ``item`` (the 清单 item, two digits), ``year`` (of the 生成日期 ``issued_on``,
else of ``publish_at``) and ``serial``. The serial counts within a *scope*, the pattern with
everything but the serial filled in, so a number is unique by construction; the store takes it
atomically at the first approval and never changes it afterwards.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from publisher.model import Notice
from publisher.notices.catalogue import Catalogue

DEFAULT_PATTERN = "{org}-{category}-{year}-{serial:04d}"
FIELDS = ("org", "category", "category_slug", "item", "year", "serial")


def check_pattern(pattern: str) -> str:
    """``pattern`` if it is usable; else ValueError saying why (for config checks)."""
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ValueError(f"index_pattern {pattern!r}: {exc}") from None
    names = [name for _, name, _, _ in parsed if name is not None]
    unknown = sorted(set(names) - set(FIELDS))
    if unknown:
        raise ValueError(
            f"index_pattern has unknown field(s) {', '.join(unknown)}; valid: {', '.join(FIELDS)}"
        )
    if names.count("serial") != 1:
        raise ValueError("index_pattern needs the field {serial} exactly once")
    sample = pattern.format(
        org="X", category="01", category_slug="x", item="01", year=2026, serial=1
    )
    if len(sample) > 80:
        raise ValueError("index_pattern makes numbers longer than 80 characters")
    return pattern


def _literal(value: str) -> str:
    return value.replace("{", "{{").replace("}", "}}")


@dataclass(frozen=True)
class IndexScheme:
    pattern: str
    org: str
    catalogue: Catalogue
    tz: ZoneInfo

    def for_notice(self, notice: Notice) -> tuple[str, Callable[[int], str]]:
        """(scope, serial → 索引号) for ``notice``."""
        cat = self.catalogue.categories.get(notice.category)
        year = (
            notice.issued_on.year
            if notice.issued_on
            else notice.publish_at.astimezone(self.tz).year
        )
        values = {
            "org": _literal(self.org),
            "category": f"{cat.order:02d}" if cat else _literal(notice.category),
            "category_slug": _literal(notice.category),
            "item": f"{notice.item:02d}",
            "year": str(year),
        }
        # everything but the serial filled in; the serial's own format spec is kept
        parts = []
        for text, name, spec, conv in string.Formatter().parse(self.pattern):
            parts.append(_literal(text))
            if name is None:
                continue
            if name == "serial":
                conversion = f"!{conv}" if conv else ""
                parts.append("{serial" + conversion + (f":{spec}" if spec else "") + "}")
            else:
                parts.append(format(values[name], spec or ""))
        template = "".join(parts)
        scope = template  # the serial counts within what the rest of the pattern says

        def render(serial: int) -> str:
            return template.format(serial=serial)

        return scope, render

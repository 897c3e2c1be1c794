"""The texts a review looks at, where each starts in its file, and how a finding is placed.

A notice is checked twice over: as written (the source of each field) and as shown (what the
renderer and readers' apps make of it: entities decoded, Markdown dropped, link text joined).
An attachment's decoded text is a third kind. Each is a ``Field_`` with its origin, so every
finding names file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources

from publisher.model import Finding, Notice, Severity
from publisher.review.visible import shown_body, shown_plain
from publisher.text import line_col


class Kind(StrEnum):
    SOURCE = "source"
    SHOWN = "shown"
    ATTACHMENT = "attachment"


@dataclass(frozen=True)
class Field_:
    """One piece of text to check, with where it starts in its file."""

    name: str
    text: str
    line: int | None
    file: str = ""
    kind: Kind = Kind.SOURCE

    @property
    def label(self) -> str:
        if self.file:
            return f"{self.name} ({self.file})"
        if self.kind == Kind.SHOWN:
            return f"{self.name} (as shown)"
        return self.name


def _shipped_titles() -> tuple[str, ...]:
    text = resources.files("publisher").joinpath("data/titles.txt").read_text("utf-8")
    return tuple(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


SHIPPED_TITLES = _shipped_titles()


@dataclass(frozen=True)
class LintConfig:
    school_name: str
    school_name_aliases: tuple[str, ...] = ()
    require_school_name: bool = False
    allowed_domains: tuple[str, ...] = ()  # ASCII (punycode) domains; empty: any host
    deny_list: tuple[str, ...] = ()
    student_id_pattern: str | None = None
    student_id_severity: Severity = Severity.WARN
    emoji: str = "warn"  # block | warn | off
    promotion: str = "block"  # block | warn | off
    scan_attachments: bool = True
    base_url: str = "http://127.0.0.1:8080/"  # relative links resolve against the site
    known_titles: tuple[str, ...] = field(default=SHIPPED_TITLES)


def fields_of(notice: Notice) -> list[Field_]:
    """Every text field of a notice as written, then as shown to readers."""
    ln = notice.lines
    plain = [
        ("title", notice.title),
        ("summary", notice.summary),
        ("department", notice.department),
        ("contact", notice.contact),
    ]
    plain += [(f"links.{i}", link.title) for i, link in enumerate(notice.links)]
    plain += [(f"attachments.{i}", a.title) for i, a in enumerate(notice.attachments)]
    out = [Field_(name, text, ln.get(name)) for name, text in plain if text]
    if notice.body:
        out.append(Field_("body", notice.body, ln.get("body")))
    for name, text in plain:
        seen = shown_plain(text)
        if seen != text:
            out.append(Field_(name, seen, ln.get(name), kind=Kind.SHOWN))
    shown = shown_body(notice.body).text
    if shown and shown != notice.body:
        out.append(Field_("body", shown, ln.get("body"), kind=Kind.SHOWN))
    return out


def make_finding(
    rule: str, sev: Severity, msg: str, fld: Field_, index: int, excerpt: str
) -> Finding:
    """A finding at ``index`` of ``fld.text``: line and column for multi-line texts."""
    line: int | None
    col: int | None
    if fld.line is None:
        line, col = None, None
    elif fld.kind == Kind.SHOWN and fld.name == "body":
        # shown text is per source line, but its columns are not the file's
        line, col = line_col(fld.text, index, fld.line)[0], None
    elif fld.name == "body" or fld.file:
        line, col = line_col(fld.text, index, fld.line)
    else:
        line, col = fld.line, None
    return Finding(rule, sev, msg, fld.label, line, col, excerpt)

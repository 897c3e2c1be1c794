"""Notices from files: Markdown with YAML front matter → validated ``Notice``; canonical form; hash.

The canonical form is the exact content that is reviewed, approved (its sha256 is pinned) and
published. It is stored with every version, and channels render from the stored form, never
from the file, so an edit after approval cannot reach a channel.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from publisher.errors import NoticeError
from publisher.model import Attachment, Link, Notice, PaperReview
from publisher.notices import yamlsrc
from publisher.notices.attachments import OutsideItems, read_inside
from publisher.notices.catalogue import Catalogue, Category

MIN_YEAR, MAX_YEAR = 1970, 2200  # dates outside are typos or attacks on readers' date parsers
# \Z, not $: "$" also matches before a final newline ("abc\n" is not an id)
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
_HEX = re.compile(r"^[0-9a-f]{8,64}$")
KNOWN_FIELDS = {
    "id",
    "title",
    "category",
    "item",
    "department",
    "summary",
    "publish_at",
    "expires_at",
    "contact",
    "url",
    "links",
    "attachments",
    "channels",
    "tags",
    "review",
    "issued_on",
    "doc_no",
    "screens_from",
    "screens_until",
    "screens_priority",
}
REVIEW_FIELDS = {"reviewer", "reviewers", "date", "opinion", "form_no", "version", "allow"}


# whatever str.splitlines() breaks a line at (what readers' apps may break at too)
LINE_BREAK = re.compile("[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def is_bad_char(ch: str) -> bool:
    """Characters no notice may carry: they break XML feeds or hide text from reviewers."""
    o = ord(ch)
    if ch in "\t\n\r":
        return False
    return (
        o < 0x20
        or 0x7F <= o <= 0x9F
        or o in (0xFFFE, 0xFFFF)
        or 0xD800 <= o <= 0xDFFF
        or unicodedata.category(ch) == "Co"  # private use: renders as tofu or a hidden glyph
    )


@dataclass
class LoadResult:
    notices: dict[str, Notice] = field(default_factory=dict)
    errors: list[NoticeError] = field(default_factory=list)


# ------------------------------------------------------------------------------ parsing


def split_front_matter(text: str, file: str) -> tuple[str, str, int]:
    """→ (front matter YAML, body, file line where the body starts)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise NoticeError(
            "a notice starts with a front matter block: a line '---', YAML fields, a line '---'",
            file=file,
            line=1,
        )
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1 :]), i + 2
    raise NoticeError("the front matter block is not closed by a line '---'", file=file, line=1)


def parse_notice(
    raw: bytes,
    *,
    file: str,
    catalogue: Catalogue,
    tz: ZoneInfo,
    base_dir: Path | None = None,
    max_bytes: int = 2_000_000,
    root: Path | None = None,
) -> Notice:
    """Parse one notice file's bytes; raise ``NoticeError`` naming file, line and field.

    Local attachments are read (once) relative to ``base_dir`` and must lie inside ``root``
    (the items folder; ``base_dir`` when not given)."""
    if len(raw) > max_bytes:
        raise NoticeError(
            f"file is {len(raw) / 1e6:.1f} MB, over the limit of {max_bytes / 1e6:.1f} MB",
            file=file,
            hint="put large tables in an attachment, or raise items.max_bytes",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise NoticeError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            file=file,
            line=line,
            hint="save the file as UTF-8",
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    fm_text, body, body_line = split_front_matter(text, file)
    _check_front_matter_chars(fm_text, file)
    data, lines = yamlsrc.load(fm_text, file=file, error=NoticeError, line_offset=1, aliases=False)
    if not isinstance(data, dict):
        raise NoticeError("front matter must be YAML fields (key: value)", file=file, line=2)
    return _build(
        data,
        lines,
        body,
        body_line,
        file=file,
        catalogue=catalogue,
        tz=tz,
        base_dir=base_dir,
        root=root or base_dir,
    )


def _filed_under(
    data: dict[str, Any], lines: yamlsrc.LineMap, catalogue: Catalogue, fail: Any
) -> tuple[Category, int]:
    """The 清单 category and item a notice is filed under, checked against each other."""
    raw_cat = data.get("category")
    if raw_cat is None:
        raise fail("this field is required", "category", line=lines.line(()) or 2)
    cat = catalogue.resolve_category(str(raw_cat))
    if cat is None:
        raise fail(
            f"unknown 清单 category {raw_cat!r}",
            "category",
            hint="valid: "
            + ", ".join(f"{c.slug} ({c.name})" for c in catalogue.categories.values()),
        )
    raw_item = data.get("item")
    if raw_item is None:
        raise fail(
            "this field is required (the 清单 item number)", "item", line=lines.line(()) or 2
        )
    if isinstance(raw_item, bool) or not isinstance(raw_item, int):
        raise fail(f"item must be a whole number, not {raw_item!r}", "item")
    entry = catalogue.items.get(raw_item)
    if entry is None:
        raise fail(
            f"unknown 清单 item {raw_item}", "item", hint=f"items run 1–{max(catalogue.items)}"
        )
    if entry.category != cat.slug:
        raise fail(
            f"item {raw_item} belongs to category {entry.category} "
            f"({catalogue.categories[entry.category].name}), not {cat.slug}",
            "item",
            hint=f"items of {cat.slug}: "
            + ", ".join(str(i.no) for i in catalogue.items_of(cat.slug)),
        )
    return cat, raw_item


def _build(
    data: dict[str, Any],
    lines: yamlsrc.LineMap,
    body: str,
    body_line: int,
    *,
    file: str,
    catalogue: Catalogue,
    tz: ZoneInfo,
    base_dir: Path | None,
    root: Path | None,
) -> Notice:
    def fail(msg: str, fld: str, hint: str | None = None, line: int | None = None) -> NoticeError:
        path = tuple(int(p) if p.isdigit() else p for p in fld.split("."))
        return NoticeError(msg, file=file, line=line or lines.line(path), field=fld, hint=hint)

    odd = [k for k in data if not isinstance(k, str)]
    if odd:
        raise NoticeError(f"field name {odd[0]!r} is not a word", file=file, line=2)
    unknown = sorted(set(data) - KNOWN_FIELDS)
    if unknown:
        raise fail(
            f"unknown field {unknown[0]!r}",
            unknown[0],
            hint=f"known fields: {', '.join(sorted(KNOWN_FIELDS))}",
        )

    def text_field(
        name: str, required: bool = False, max_len: int = 100_000, one_line: bool = False
    ) -> str:
        value = data.get(name)
        if value is None or value == "":
            if required:
                raise fail("this field is required", name, line=lines.line(()) or 2)
            return ""
        if isinstance(value, bool | dict | list):
            raise fail("must be text", name)
        s = str(value).strip()
        _check_chars(s, file, lines.line((name,)), name)
        if one_line and (broken := LINE_BREAK.search(s)):
            # a title is a heading in every robot's message: a break would end it midway
            raise fail(
                f"must be one line: a line break (U+{ord(broken[0]):04X}) at column "
                f"{broken.start() + 1}",
                name,
            )
        if len(s) > max_len:
            raise fail(f"is {len(s)} characters, longer than {max_len}", name)
        return s

    nid = text_field("id", required=True, one_line=True)
    if not ID_RE.match(nid):
        raise fail(
            f"id {nid!r} must be ASCII letters, digits, '.', '_' or '-' (it is used in "
            "URLs and must never change)",
            "id",
        )
    title = text_field("title", required=True, max_len=200, one_line=True)
    department = text_field("department", required=True, max_len=100, one_line=True)
    summary = text_field("summary", max_len=1000)
    contact = text_field("contact", max_len=500)
    url = text_field("url", max_len=2000)
    if url and not url.startswith(("http://", "https://")):
        raise fail("url must start with http:// or https://", "url")

    cat, raw_item = _filed_under(data, lines, catalogue, fail)

    publish_at = _datetime(data.get("publish_at"), "publish_at", fail, tz, required=True)
    assert publish_at is not None
    expires_at = _datetime(data.get("expires_at"), "expires_at", fail, tz)
    if expires_at is not None and expires_at <= publish_at:
        raise fail("expires_at must be after publish_at", "expires_at")

    body = body.strip("\n")
    _check_chars(body, file, body_line, "body")
    if not body.strip() and not summary:
        raise fail("the notice has neither a body nor a summary", "body", line=body_line)

    links = tuple(_links(data.get("links"), fail))
    attachments = tuple(_attachments(data.get("attachments"), fail, base_dir, root))
    channels = _str_list(data.get("channels"), "channels", fail) if "channels" in data else None
    tags = tuple(_str_list(data.get("tags"), "tags", fail) or ())
    review = _paper_review(data.get("review"), fail) if data.get("review") is not None else None
    doc_no = text_field("doc_no", max_len=100)
    issued_on = _issued_on(data.get("issued_on"), fail, publish_at)
    screens_from = _datetime(data.get("screens_from"), "screens_from", fail, tz)
    screens_until = _datetime(data.get("screens_until"), "screens_until", fail, tz)
    if screens_from and screens_until and screens_until <= screens_from:
        raise fail("screens_until must be after screens_from", "screens_until")
    if screens_until and screens_until <= publish_at:
        raise fail(
            "screens_until is before publish_at: the notice would never be on the screens",
            "screens_until",
        )
    if screens_from and expires_at and screens_from >= expires_at:
        raise fail(
            "screens_from is after expires_at: the notice would never be on the screens",
            "screens_from",
        )
    screens_priority = data.get("screens_priority") or ""
    if screens_priority not in ("", "pinned", "normal"):
        raise fail(
            f"screens_priority must be pinned or normal, not {screens_priority!r}",
            "screens_priority",
        )

    return Notice(
        id=nid,
        title=title,
        category=cat.slug,
        item=raw_item,
        department=department,
        summary=summary,
        body=body,
        publish_at=publish_at,
        expires_at=expires_at,
        contact=contact,
        url=url,
        links=links,
        attachments=attachments,
        channels=tuple(channels) if channels is not None else None,
        tags=tags,
        source=file,
        paper_review=review,
        issued_on=issued_on,
        doc_no=doc_no,
        screens_from=screens_from,
        screens_until=screens_until,
        screens_priority="pinned" if screens_priority == "pinned" else "",
        lines={**lines.as_dict(), "body": body_line},
    )


def _issued_on(value: Any, fail: Any, publish_at: datetime) -> date | None:
    """生成日期: a date (YAML ``2026-11-18``, or the same as a string), not after publishing."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        raise fail("issued_on is a date without a time, e.g. 2026-11-18", "issued_on")
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise fail(
                f"issued_on {value!r} is not a date", "issued_on", hint="write it as 2026-11-18"
            ) from None
    if not isinstance(value, date):
        raise fail(f"issued_on must be a date, not {value!r}", "issued_on")
    if value > publish_at.date():
        raise fail(
            f"issued_on {value.isoformat()} is after publish_at "
            f"{publish_at.date().isoformat()}: a document is produced before it is published",
            "issued_on",
        )
    return value


def _check_chars(s: str, file: str, first_line: int | None, fld: str) -> None:
    for i, ch in enumerate(s):
        if is_bad_char(ch):
            before = s[:i]
            line = (first_line or 1) + before.count("\n") if fld == "body" else first_line
            col = i - before.rfind("\n")
            raise NoticeError(
                f"control character U+{ord(ch):04X} at column {col}",
                file=file,
                line=line,
                field=fld,
                hint="remove it: it breaks feeds and can hide text from reviewers",
            )


def _check_front_matter_chars(fm: str, file: str) -> None:
    key = None
    for n, line in enumerate(fm.split("\n"), start=2):
        m = re.match(r"^([A-Za-z_][\w-]*)\s*:", line)
        if m:
            key = m[1]
        for col, ch in enumerate(line, start=1):
            if is_bad_char(ch):
                raise NoticeError(
                    f"control character U+{ord(ch):04X} at column {col}",
                    file=file,
                    line=n,
                    field=key,
                    hint="remove it: it breaks feeds and can hide text from reviewers",
                )


def _datetime(
    value: Any, fld: str, fail: Any, tz: ZoneInfo, required: bool = False
) -> datetime | None:
    if value is None or value == "":
        if required:
            raise fail("this field is required", fld)
        return None
    if isinstance(value, datetime | date):
        value = value.isoformat()
    text = str(value).strip()
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise fail(
            f"{text!r} is not a date and time", fld, hint="write it like 2025-04-10 09:00+08:00"
        ) from None
    if not MIN_YEAR <= dt.year <= MAX_YEAR:
        raise fail(
            f"{text!r} is outside the years {MIN_YEAR}–{MAX_YEAR}",
            fld,
            hint="a typo? (zones had odd local-mean-time offsets before 1901, and readers "
            "disagree on dates that far out)",
        )
    if dt.tzinfo is None:
        offset = dt.replace(tzinfo=tz).strftime("%z")  # the zone's offset on that date
        suggestion = f"{dt:%Y-%m-%d %H:%M}{offset[:3]}:{offset[3:]}"
        raise fail(
            f"{text!r} has no time zone, so it could be read as a different time",
            fld,
            hint=f"write {suggestion!r}",
        )
    return dt.astimezone(tz)


def _str_list(value: Any, fld: str, fail: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail("must be a list of names", fld)
    return [v.strip() for v in value]


def _links(value: Any, fail: Any) -> Iterable[Link]:
    if value is None:
        return
    if not isinstance(value, list):
        raise fail("must be a list of {title, url}", "links")
    for i, item in enumerate(value):
        if isinstance(item, str):
            item = {"title": item, "url": item}
        if not isinstance(item, dict) or "url" not in item:
            raise fail("each link needs url (and a title)", f"links.{i}")
        u = str(item["url"]).strip()
        if not u.startswith(("http://", "https://")):
            raise fail(f"link {u!r} must start with http:// or https://", f"links.{i}")
        yield Link(str(item.get("title") or u).strip(), u)


def _attachments(
    value: Any, fail: Any, base_dir: Path | None, root: Path | None
) -> Iterable[Attachment]:
    if value is None:
        return
    if not isinstance(value, list):
        raise fail("must be a list of {title, file or url}", "attachments")
    for i, item in enumerate(value):
        fld = f"attachments.{i}"
        if isinstance(item, str):
            item = {"file": item}
        if not isinstance(item, dict):
            raise fail("each attachment is {title, file} or {title, url}", fld)
        href = str(item.get("url") or item.get("file") or "").strip()
        if not href:
            raise fail("an attachment needs file: or url:", fld)
        title = str(item.get("title") or href.rsplit("/", 1)[-1]).strip()
        media_type = str(
            item.get("type") or mimetypes.guess_type(href)[0] or "application/octet-stream"
        )
        if href.startswith(("http://", "https://")):
            yield Attachment(title, href, media_type, None, "")
            continue
        if base_dir is None or root is None:
            raise fail("local attachment files need the notice's folder", fld)
        if "\\" in href or "\0" in href or Path(href).is_absolute():
            raise fail(
                f"attachment file {href!r} must be a relative path inside the items folder", fld
            )
        path = base_dir / href
        try:
            # one read: these bytes are hashed, scanned, stored and published
            data = read_inside(path, root)
        except OutsideItems:
            raise fail(
                f"attachment file {href!r} resolves outside the items folder ({root})",
                fld,
                hint="copy the file next to the notice; links and '..' out of items/ are refused",
            ) from None
        except IsADirectoryError:
            raise fail(f"attachment {href!r} is a folder, not a file", fld) from None
        except OSError:
            raise fail(f"attachment file {href!r} not found next to the notice", fld) from None
        digest = hashlib.sha256(data).hexdigest()
        yield Attachment(title, href, media_type, len(data), digest, data)


def _paper_review(value: Any, fail: Any) -> PaperReview:
    if not isinstance(value, dict):
        raise fail(
            "review must be a block with reviewer(s), date, opinion, form_no, version", "review"
        )
    if "allow" in value:
        raise fail(
            "a file cannot pass a blocking finding: allow: is refused in a notice's review record",
            "review.allow",
            hint="a rostered reviewer checks the finding and runs "
            "`publisher approve ID --allow RULE --reason '…'`",
        )
    unknown = sorted(set(value) - REVIEW_FIELDS)
    if unknown:
        raise fail(
            f"unknown field {unknown[0]!r}",
            f"review.{unknown[0]}",
            hint=f"known: {', '.join(sorted(REVIEW_FIELDS))}",
        )
    reviewers = value.get("reviewers") or value.get("reviewer")
    if isinstance(reviewers, str):
        reviewers = [r.strip() for r in re.split(r"[,，、]", reviewers) if r.strip()]
    if not reviewers or not all(isinstance(r, str) and r for r in reviewers):
        raise fail("a paper review names its reviewer(s)", "review.reviewer")
    version = str(value.get("version") or "").strip().lower()
    if not _HEX.match(version):
        raise fail(
            "review.version must be the version hash the form approved (at least 8 hex "
            "digits, as `publisher show ID` prints it)",
            "review.version",
        )
    raw_date = value.get("date")
    try:
        d = date.fromisoformat(str(raw_date))
    except ValueError:
        raise fail(f"{raw_date!r} is not a date (write 2025-04-08)", "review.date") from None
    return PaperReview(
        tuple(reviewers),
        d,
        str(value.get("opinion") or "同意公开"),
        str(value.get("form_no") or ""),
        version,
    )


# ------------------------------------------------------------------------------ folders


def load_file(
    path: Path,
    folder: Path,
    *,
    catalogue: Catalogue,
    tz: ZoneInfo,
    max_bytes: int = 2_000_000,
    root: Path | None = None,
) -> Notice:
    """One notice file of the items folder ``folder``, read once from inside it; every
    problem, expected or not, is a ``NoticeError`` naming the file."""
    shown = _shown(path, root)
    try:
        raw = read_inside(path, folder)
    except OutsideItems:
        raise NoticeError(
            "the file is a link to outside the items folder; it is not loaded",
            file=shown,
            hint="copy the notice into the items folder instead of linking to it",
        ) from None
    except OSError as exc:
        raise NoticeError(f"cannot read: {exc.strerror}", file=shown) from None
    try:
        return parse_notice(
            raw,
            file=shown,
            catalogue=catalogue,
            tz=tz,
            base_dir=path.parent,
            max_bytes=max_bytes,
            root=folder,
        )
    except NoticeError:
        raise
    except Exception as exc:  # one bad file never stops the others
        raise NoticeError(
            f"cannot be read ({type(exc).__name__}: {exc})"[:300],
            file=shown,
            hint="this file alone is skipped; please report the error",
        ) from None


def load_folder(
    folder: Path,
    *,
    catalogue: Catalogue,
    tz: ZoneInfo,
    pattern: str = "**/*.md",
    max_bytes: int = 2_000_000,
    root: Path | None = None,
) -> LoadResult:
    """Every notice under ``folder``. A bad file is reported and skipped; the others load."""
    result = LoadResult()
    if not folder.is_dir():
        result.errors.append(
            NoticeError(
                "items folder does not exist",
                file=str(folder),
                hint="create it or set items.folder in config.yaml",
            )
        )
        return result
    first_file: dict[str, str] = {}
    duplicates: set[str] = set()
    for path in sorted(folder.glob(pattern)):
        if not path.is_file() or path.name.startswith((".", "_")):
            continue
        if any(p.startswith(".") for p in path.relative_to(folder).parts):
            continue  # .withdrawn/ records, editors' and VCS folders: never notices
        try:
            notice = load_file(
                path, folder, catalogue=catalogue, tz=tz, max_bytes=max_bytes, root=root
            )
        except NoticeError as exc:
            result.errors.append(exc)
            continue
        shown = notice.source
        if notice.id in first_file:
            duplicates.add(notice.id)
            result.errors.append(
                NoticeError(
                    f"duplicate id {notice.id!r}: also used by {first_file[notice.id]}",
                    file=shown,
                    line=notice.lines.get("id"),
                    field="id",
                    hint="ids are permanent; give one of the notices a new id",
                )
            )
            continue
        first_file[notice.id] = shown
        result.notices[notice.id] = notice
    for nid in duplicates:
        # neither copy can be trusted to be "the" notice: hold both until a person decides
        notice = result.notices.pop(nid)
        result.errors.append(
            NoticeError(
                f"duplicate id {nid!r}: held back until only one file uses it",
                file=notice.source,
                line=notice.lines.get("id"),
                field="id",
            )
        )
    return result


def _shown(path: Path, root: Path | None) -> str:
    try:
        return str(path.relative_to(root)) if root else str(path)
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------ canonical


def _iso(dt: datetime | None) -> str | None:
    # UTC, so the hash of a notice does not depend on the site's configured time zone
    return None if dt is None else dt.astimezone(UTC).isoformat(timespec="seconds")


def canonical_dict(n: Notice) -> dict[str, Any]:
    return {
        "id": n.id,
        "title": n.title,
        "category": n.category,
        "item": n.item,
        "department": n.department,
        "summary": n.summary,
        "body": n.body,
        "publish_at": _iso(n.publish_at),
        "expires_at": _iso(n.expires_at),
        "contact": n.contact,
        "url": n.url,
        "links": [[link.title, link.url] for link in n.links],
        "attachments": [[a.title, a.href, a.media_type, a.size, a.sha256] for a in n.attachments],
        "channels": list(n.channels) if n.channels is not None else None,
        "tags": list(n.tags),
        # only when given, so the hash of every notice written before these fields is unchanged
        **({"issued_on": n.issued_on.isoformat()} if n.issued_on else {}),
        **({"doc_no": n.doc_no} if n.doc_no else {}),
        **({"screens_from": _iso(n.screens_from)} if n.screens_from else {}),
        **({"screens_until": _iso(n.screens_until)} if n.screens_until else {}),
        **({"screens_priority": n.screens_priority} if n.screens_priority else {}),
    }


def canonical(n: Notice) -> str:
    """The exact text that is hashed, approved, stored and published (JSON, sorted keys)."""
    return json.dumps(canonical_dict(n), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def content_hash(canonical_text: str) -> str:
    return hashlib.sha256(canonical_text.encode("utf-8")).hexdigest()


def from_canonical(text: str, tz: ZoneInfo) -> Notice:
    d = json.loads(text)
    return Notice(
        id=d["id"],
        title=d["title"],
        category=d["category"],
        item=d["item"],
        department=d["department"],
        summary=d["summary"],
        body=d["body"],
        publish_at=datetime.fromisoformat(d["publish_at"]).astimezone(tz),
        expires_at=(
            datetime.fromisoformat(d["expires_at"]).astimezone(tz) if d["expires_at"] else None
        ),
        contact=d["contact"],
        url=d["url"],
        links=tuple(Link(t, u) for t, u in d["links"]),
        attachments=tuple(Attachment(*a) for a in d["attachments"]),
        channels=tuple(d["channels"]) if d["channels"] is not None else None,
        tags=tuple(d["tags"]),
        issued_on=date.fromisoformat(d["issued_on"]) if d.get("issued_on") else None,
        doc_no=d.get("doc_no", ""),
        screens_from=(
            datetime.fromisoformat(d["screens_from"]).astimezone(tz)
            if d.get("screens_from")
            else None
        ),
        screens_until=(
            datetime.fromisoformat(d["screens_until"]).astimezone(tz)
            if d.get("screens_until")
            else None
        ),
        screens_priority=d.get("screens_priority", ""),
    )

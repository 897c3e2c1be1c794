"""Writing notice files the way a person would: the console's form becomes the same Markdown
file with YAML front matter in ``items/``, so files stay the source of truth (and can live in
git). What is written is parsed back before it is kept: the console can only save a notice
that ``publisher check`` accepts.

Also the 公示 period: N working days after publication on the Chinese calendar, with 调休
(``chinese-calendar``, which follows the State Council's holiday notices).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from publisher.errors import NoticeError, PublisherError
from publisher.model import Notice
from publisher.notices.catalogue import Catalogue
from publisher.notices.files import ID_RE, parse_notice
from publisher.output import durable_write


class EditConflict(PublisherError):
    """The file changed since the form was opened (on disk, or in another window)."""


@dataclass
class Draft:
    """What the form holds."""

    id: str
    title: str
    category: str
    item: int
    department: str
    publish_at: dt.datetime
    body: str
    summary: str = ""
    contact: str = ""
    expires_at: dt.datetime | None = None
    attachments: list[tuple[str, str]] = field(default_factory=list)  # (title, file)
    links: list[tuple[str, str]] = field(default_factory=list)  # (title, url)


def _q(value: str) -> str:
    # a JSON string is a valid YAML double-quoted scalar: any text, one line, no YAML surprises
    return json.dumps(value, ensure_ascii=False)


def _when(value: dt.datetime) -> str:
    return value.isoformat(sep=" ", timespec="minutes")


def compose(d: Draft) -> str:
    """The notice file's text."""
    lines = [
        "---",
        f"id: {d.id}",
        f"title: {_q(d.title)}",
        f"category: {d.category}",
        f"item: {d.item}",
        f"department: {_q(d.department)}",
    ]
    if d.summary:
        lines.append(f"summary: {_q(d.summary)}")
    lines.append(f"publish_at: {_when(d.publish_at)}")
    if d.expires_at is not None:
        lines.append(f"expires_at: {_when(d.expires_at)}")
    if d.contact:
        lines.append(f"contact: {_q(d.contact)}")
    if d.links:
        lines.append("links:")
        lines += [f"  - {{title: {_q(t)}, url: {_q(u)}}}" for t, u in d.links]
    if d.attachments:
        lines.append("attachments:")
        lines += [f"  - {{title: {_q(t)}, file: {_q(f)}}}" for t, f in d.attachments]
    body = d.body.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    return "\n".join([*lines, "---", body, ""])


def draft_of(n: Notice) -> Draft:
    """A form's starting point from a notice as parsed (to edit it)."""
    files = [(a.title, a.href) for a in n.attachments if a.is_local]
    return Draft(
        n.id,
        n.title,
        n.category,
        n.item,
        n.department,
        n.publish_at,
        n.body,
        n.summary,
        n.contact,
        n.expires_at,
        files,
        [(link.title, link.url) for link in n.links],
    )


def parse_links(text: str) -> list[tuple[str, str]]:
    """The form's links box: one a line, ``title | url`` or just the url."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        title, sep, url = line.rpartition("|")
        out.append((title.strip() or url.strip(), url.strip()) if sep else (line, line))
    return out


def file_hash(path: Path) -> str:
    """What the form remembers of the file it opened ("" when there was none)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""


_SAFE_NAME = re.compile(r"[^\w.\-\u3400-\u9fff（）()]+")


def safe_filename(name: str) -> str:
    """An uploaded file's name, kept readable (Chinese included) but never a path."""
    name = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).name).strip()
    name = _SAFE_NAME.sub("_", name).strip("._") or "file"
    return name[:120]


class NoticeWriter:
    """Writes notice files into the items folder, checked, atomically, never over a change."""

    def __init__(self, items: Path, root: Path, catalogue: Catalogue, tz: ZoneInfo) -> None:
        self.items = items
        self.root = root  # the config's folder: notices' `source` is relative to it
        self.catalogue = catalogue
        self.tz = tz

    def path_for(self, notice_id: str) -> Path:
        if not ID_RE.match(notice_id):
            raise NoticeError(
                "an id is letters, digits, '.', '_' or '-', starting with a letter or digit",
                field="id",
            )
        return self.items / f"{notice_id}.md"

    def save_upload(self, notice_id: str, filename: str, data: bytes) -> str:
        """Keep an uploaded attachment beside the notice; → the path the file names."""
        name = safe_filename(filename)
        folder = self.items / notice_id
        target = folder / name
        durable_write(target, data)
        return f"{notice_id}/{name}"

    def write(self, d: Draft, path: Path, opened: str) -> Notice:
        """Write ``d`` to ``path`` unless the file changed since it was opened (``opened`` is
        its hash then; "" for a new notice, which must not exist). → the notice as parsed."""
        now = file_hash(path)
        if now != opened:
            raise EditConflict(
                f"{path.name} was changed by someone else since you opened it"
                if opened
                else f"a notice {path.stem} exists already"
            )
        text = compose(d)
        notice = parse_notice(
            text.encode("utf-8"),
            file=str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path),
            catalogue=self.catalogue,
            tz=self.tz,
            base_dir=path.parent,
            root=self.items,
        )
        if notice.id != path.stem:
            raise NoticeError("the id and the file name must match", field="id")
        # a last look: the file may have changed while we parsed (another save, an editor)
        if file_hash(path) != opened:
            raise EditConflict(f"{path.name} changed while it was being saved; nothing written")
        durable_write(path, text.encode("utf-8"))
        return notice

"""What a published file is: its media type and how long readers may cache it, by its path
below the output folder. One table for the server, previews and anything else that names a
file's type. What only a channel knows (a JSON Feed is ``application/feed+json``; a signage
bundle, reached through a moving ``current/``, must be revalidated) the channel declares as
:class:`FileRule` s, which come before the general tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from typing import Any


@dataclass(frozen=True)
class FileRule:
    """How the site serves the files whose path below the output folder matches ``pattern``
    (``fnmatch``: ``*`` also crosses ``/``): a media type and/or a Cache-Control, each
    None to leave it to the general tables."""

    pattern: str
    content_type: str | None = None
    cache_control: str | None = None

    def matches(self, name: str) -> bool:
        return fnmatchcase(name, self.pattern)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


TYPES = {
    ".rss.xml": "application/rss+xml; charset=utf-8",
    ".atom.xml": "application/atom+xml; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".pdf": "application/pdf",
    ".opml": "text/x-opml; charset=utf-8",
    ".woff2": "font/woff2",
}
CACHE = {
    ".rss.xml": "public, max-age=900",
    ".atom.xml": "public, max-age=900",
    ".opml": "public, max-age=900",
    "manifest.json": "no-cache",
    ".html": "public, max-age=300",
}


def content_type(name: str, rules: Sequence[FileRule] = ()) -> str:
    """The Content-Type of a served file, by its path below the output folder: the first of
    the channels' ``rules`` that says one, else by the name's ending."""
    for rule in rules:
        if rule.content_type and rule.matches(name):
            return rule.content_type
    for suffix, ctype in TYPES.items():
        if name.lower().endswith(suffix):
            return ctype
    return "application/octet-stream"


IMMUTABLE = "public, max-age=31536000, immutable"  # for files named by their content


def cache_control(name: str, rules: Sequence[FileRule] = ()) -> str:
    """How long readers may keep a served file: the first of the channels' ``rules`` that
    says, else by the kind of file."""
    for rule in rules:
        if rule.cache_control and rule.matches(name):
            return rule.cache_control
    if name.startswith("files/"):
        return IMMUTABLE  # attachments, named by the hash of their bytes
    for suffix, value in CACHE.items():
        if name.endswith(suffix):
            return value
    return "public, max-age=3600"

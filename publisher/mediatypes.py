"""What a published file is: its media type and how long readers may cache it, by its path
below the output folder. One table for the server, previews and anything else that names a
file's type (a JSON Feed is ``application/feed+json`` wherever it is named)."""

from __future__ import annotations

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


def _in_feeds(name: str) -> bool:
    # the rss channel writes its documents under feeds/, below its own folder if it has one
    return name.startswith("feeds/") or "/feeds/" in name


def content_type(name: str) -> str:
    """The Content-Type of a served file, by its path below the output folder."""
    if name.endswith(".json") and _in_feeds(name):
        return "application/feed+json; charset=utf-8"
    for suffix, ctype in TYPES.items():
        if name.lower().endswith(suffix):
            return ctype
    return "application/octet-stream"


def cache_control(name: str) -> str:
    if name.endswith(".json") and _in_feeds(name):
        return "public, max-age=900"
    if name.startswith("files/"):
        return "public, max-age=31536000, immutable"  # named by the hash of their bytes
    if name.startswith("signage/"):
        if "/files/" in name:  # named by content: never changes
            return "public, max-age=31536000, immutable"
        # a bundle is reached through current/, which moves to each new version: revalidate
        return "no-cache"
    for suffix, value in CACHE.items():
        if name.endswith(suffix):
            return value
    return "public, max-age=3600"

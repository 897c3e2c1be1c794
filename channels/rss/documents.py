"""The feed documents: which entries go in which document, and assembling their bytes.

Every feed (all notices, each 清单 category, each configured department) has a *subscription
document* with its newest ``max_items`` entries and yearly *archive documents* with the rest,
linked per RFC 5005 (``prev-archive``/``next-archive``/``current``, ``fh:archive``), in RSS 2.0,
Atom 1.0 and JSON Feed 1.1. Headers are made by feedgen; entries come from the entry cache and
are joined in. Each document also has a key (a hash of everything its bytes depend on), so the
channel only assembles documents whose key changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from feedgen.feed import FeedGenerator

from publisher.model import PublishedNotice, SiteInfo
from publisher.text import xml_safe

from ..base import Doc
from .entries import FEEDGEN_LOCK, NS_ATOM, EntryCache, guid

FORMATS = ("rss", "atom", "json")
SUFFIX = {"rss": ".rss.xml", "atom": ".atom.xml", "json": ".json"}
MEDIA = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
NS_FH = "http://purl.org/syndication/history/1.0"
EPOCH = datetime.fromisoformat("2000-01-01T00:00:00+08:00")


@dataclass(frozen=True)
class FeedSpec:
    key: str  # ASCII, the file name: all, zsks, dept-yjsy
    title: str
    description: str
    select: Callable[[PublishedNotice], bool] = field(compare=False)


@dataclass
class FeedSettings:
    site: SiteInfo
    base: str  # URL prefix of the feeds folder, without a trailing slash
    max_items: int
    ttl: int
    hub: str | None
    formats: tuple[str, ...]
    archives: bool


def path_of(feed: str, fmt: str, year: int | None = None) -> str:
    return (
        f"feeds/{feed}{SUFFIX[fmt]}"
        if year is None
        else f"feeds/archive/{feed}-{year}{SUFFIX[fmt]}"
    )


class Documents:
    def __init__(self, settings: FeedSettings, entries: EntryCache, guid_seed: str) -> None:
        self.s = settings
        self.entries = entries
        self.seed = guid_seed

    def url(self, path: str) -> str:
        return f"{self.s.base}/{path}"

    # ---------------------------------------------------------------- planning

    def plan(self, feeds: Sequence[FeedSpec], live: Sequence[PublishedNotice]) -> dict[str, Doc]:
        ordered = sorted(live, key=lambda v: (v.notice.publish_at, v.id), reverse=True)
        docs: dict[str, Doc] = {}
        tz = self.s.site.timezone
        for spec in feeds:
            members = [v for v in ordered if spec.select(v)]
            current = members[: self.s.max_items]
            by_year: dict[int, list[PublishedNotice]] = {}
            if self.s.archives:
                for v in members[self.s.max_items :]:
                    by_year.setdefault(v.notice.publish_at.astimezone(tz).year, []).append(v)
            years = sorted(by_year)  # oldest first
            for fmt in self.s.formats:
                newest_archive = path_of(spec.key, fmt, years[-1]) if years else None
                docs[path_of(spec.key, fmt)] = self._doc(
                    spec,
                    fmt,
                    current,
                    path_of(spec.key, fmt),
                    links={"prev-archive": newest_archive},
                    archive=False,
                )
                for i, year in enumerate(years):
                    older = path_of(spec.key, fmt, years[i - 1]) if i > 0 else None
                    newer = path_of(spec.key, fmt, years[i + 1]) if i + 1 < len(years) else None
                    docs[path_of(spec.key, fmt, year)] = self._doc(
                        spec,
                        fmt,
                        by_year[year],
                        path_of(spec.key, fmt, year),
                        links={
                            "current": path_of(spec.key, fmt),
                            "prev-archive": older,
                            "next-archive": newer,
                        },
                        archive=True,
                        year=year,
                    )
        return docs

    def _doc(
        self,
        spec: FeedSpec,
        fmt: str,
        members: list[PublishedNotice],
        path: str,
        links: dict[str, str | None],
        archive: bool,
        year: int | None = None,
    ) -> Doc:
        link_urls = {rel: self.url(p) for rel, p in links.items() if p}
        h = hashlib.sha256()
        h.update(
            repr(
                (
                    fmt,
                    path,
                    spec.title,
                    spec.description,
                    sorted(link_urls.items()),
                    self.s.hub,
                    self.s.ttl,
                    self.s.site.base_url,
                    archive,
                )
            ).encode()
        )
        for v in members:
            h.update(f"{v.sha256}:{v.previous_sha256 or ''}\n".encode())

        def render() -> bytes:
            return self.render(spec, fmt, members, path, link_urls, archive, year)

        return Doc(h.hexdigest(), render)

    # ---------------------------------------------------------------- assembly

    def render(
        self,
        spec: FeedSpec,
        fmt: str,
        members: Sequence[PublishedNotice],
        path: str,
        links: dict[str, str],
        archive: bool,
        year: int | None,
    ) -> bytes:
        updated = max((v.updated_at for v in members), default=EPOCH)
        title = spec.title + (f"（{year}年归档）" if year else "")
        entries = [self.entries.get(v) for v in members]
        if fmt == "json":
            return self._json(spec, title, path, links, [e.json for e in entries])
        head = self._header(spec, fmt, title, path, updated)
        extra = self._links(fmt, links, archive)
        body = b"".join(e.rss if fmt == "rss" else e.atom for e in entries)
        close = b"</channel>" if fmt == "rss" else b"</feed>"
        cut = head.rindex(close)
        return head[:cut] + extra + body + head[cut:]

    def _header(self, spec: FeedSpec, fmt: str, title: str, path: str, updated: datetime) -> bytes:
        site = self.s.site
        fg = FeedGenerator()
        fg.id(guid(self.seed, f"feed:{path}"))
        fg.title(xml_safe(title))
        fg.subtitle(xml_safe(spec.description))
        fg.language(site.language)
        fg.generator("disclosure-publisher")
        fg.ttl(self.s.ttl)
        if fmt == "rss":
            fg.load_extension("dc", atom=False, rss=True)  # declares xmlns:dc on the root
        # the self link first; RSS takes the channel <link> from the last link given, which
        # must be the site (a channel link pointing at the feed itself confuses readers)
        fg.link(
            [
                {"href": self.url(path), "rel": "self", "type": MEDIA[fmt]},
                {"href": site.base_url + "/", "rel": "alternate"},
            ]
        )
        fg.updated(updated)
        with FEEDGEN_LOCK:
            data: bytes = fg.rss_str(pretty=True) if fmt == "rss" else fg.atom_str(pretty=True)
        return data

    def _links(self, fmt: str, links: dict[str, str], archive: bool) -> bytes:
        prefix = "atom:" if fmt == "rss" else ""
        parts = []
        if archive:
            parts.append(f'  <fh:archive xmlns:fh="{NS_FH}"/>\n')
        if self.s.hub:
            parts.append(f'  <{prefix}link rel="hub" href="{_attr(self.s.hub)}"/>\n')
        for rel in ("current", "prev-archive", "next-archive"):
            if rel in links:
                parts.append(f'  <{prefix}link rel="{rel}" href="{_attr(links[rel])}"/>\n')
        return "".join(parts).encode("utf-8")

    def _json(
        self, spec: FeedSpec, title: str, path: str, links: dict[str, str], items: list[str]
    ) -> bytes:
        site = self.s.site
        head: dict[str, object] = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": xml_safe(title),
            "home_page_url": site.base_url + "/",
            "feed_url": self.url(path),
            "description": xml_safe(spec.description),
            "language": site.language,
        }
        if "prev-archive" in links:
            head["next_url"] = links["prev-archive"]  # older items, as JSON Feed pages them
        if self.s.hub:
            head["hubs"] = [{"type": "WebSub", "url": self.s.hub}]
        text = json.dumps(head, ensure_ascii=False, sort_keys=True)
        return (text[:-1] + ', "items": [' + ", ".join(items) + "]}\n").encode("utf-8")


def _attr(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


__all__ = ["FORMATS", "MEDIA", "NS_ATOM", "Doc", "Documents", "FeedSettings", "FeedSpec", "path_of"]

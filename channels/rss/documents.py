"""The feed documents: which entries go in which document, and assembling their bytes.

Every feed (all notices, each 清单 category, each configured department) has a *subscription
document* with its newest ``max_items`` entries and yearly *archive documents* with the rest,
linked per RFC 5005 (``prev-archive``/``next-archive``/``current``, ``fh:archive``), in RSS 2.0,
Atom 1.0 and JSON Feed 1.1. Headers are made by feedgen (once per document: what changes
between builds, the date of the newest entry, is put in its place); entries come from the entry
cache and are joined in. Each document also has a key (a hash of everything its bytes depend
on), so the channel only assembles documents whose key changed, and a document whose entries
and links did not change since the last plan keeps its key without hashing them again.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator

from publisher.channel import Doc
from publisher.model import PublishedNotice, SiteInfo
from publisher.text import xml_safe

from .entries import FEEDGEN_LOCK, NS_ATOM, Entry, EntryCache, guid, rfc2822

FORMATS = ("rss", "atom", "json")
SUFFIX = {"rss": ".rss.xml", "atom": ".atom.xml", "json": ".json"}
MEDIA = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
NS_FH = "http://purl.org/syndication/history/1.0"
EPOCH = datetime.fromisoformat("2000-01-01T00:00:00+08:00")
# a feed's page as last planned: its feed's archive years, its members, its documents
_Page = tuple[list[int | None], list[PublishedNotice], dict[str, Doc]]
# the date a header is first made with, then replaced by the document's own
_STAND_IN = datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC)


@dataclass(frozen=True)
class FeedSpec:
    key: str  # ASCII, the file name: all, zsks, dept-yjsy
    title: str
    description: str
    field: str | None = None  # the Notice attribute that selects members (None: all)
    value: str = ""


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
        # each document's header around its date: (before, after), or None where the stand-in
        # date is not found exactly once (then feedgen makes that header every time)
        self._headers: dict[tuple[str, str, str, str], tuple[bytes, bytes] | None] = {}
        # the pages of each feed as last planned: year → (archive years, members, documents)
        self._pages: dict[str, dict[int | None, _Page]] = {}

    def url(self, path: str) -> str:
        return f"{self.s.base}/{path}"

    # ---------------------------------------------------------------- planning

    def plan(self, feeds: Sequence[FeedSpec], ordered: Sequence[PublishedNotice]) -> dict[str, Doc]:
        """Documents for ``ordered`` (newest first). One pass groups the notices by every field
        a feed selects on, so a site of 10,000 notices plans in milliseconds."""
        fields = {spec.field for spec in feeds if spec.field}
        groups: dict[tuple[str | None, str], list[PublishedNotice]] = {(None, ""): list(ordered)}
        tz = self.s.site.timezone
        year_of: dict[str, int] = {}
        for v in ordered:
            at = v.notice.publish_at
            year_of[v.sha256] = at.year if at.tzinfo is tz else at.astimezone(tz).year
            for f in fields:
                groups.setdefault((f, getattr(v.notice, f)), []).append(v)
        docs: dict[str, Doc] = {}
        for spec in feeds:
            members = groups.get((spec.field, spec.value), [])
            docs.update(self.feed_docs(spec, members, year_of))
        return docs

    def feed_docs(
        self,
        spec: FeedSpec,
        members: list[PublishedNotice],
        year_of: dict[str, int],
        newest_first: bool = False,
    ) -> dict[str, Doc]:
        """The documents of one feed. ``newest_first``: ``members`` are in publish order,
        newest first (the planner's are), so each year's archive is one run of them, found
        by bisection instead of visiting every member."""
        pages: list[tuple[int | None, list[PublishedNotice]]] = [
            (None, members[: self.s.max_items])
        ]
        if self.s.archives and newest_first:
            runs: list[tuple[int, list[PublishedNotice]]] = []
            i = self.s.max_items
            while i < len(members):
                run_year = year_of[members[i].sha256]
                end = bisect_right(members, -run_year, lo=i, key=lambda v: -year_of[v.sha256])
                runs.append((run_year, members[i:end]))
                i = end
            pages += reversed(runs)  # oldest archive first
        elif self.s.archives:
            by_year: dict[int, list[PublishedNotice]] = {}
            for v in members[self.s.max_items :]:
                by_year.setdefault(year_of[v.sha256], []).append(v)
            pages += sorted(by_year.items())  # oldest archive first
        years = [y for y, _ in pages[1:]]
        docs: dict[str, Doc] = {}
        before = self._pages.get(spec.key, {})
        kept: dict[int | None, _Page] = {}
        for year, group in pages:
            # the same members (the same objects, compared by identity first) and the same
            # archive years give the same documents: keep them
            last = before.get(year)
            if last is not None and last[0] == years and last[1] == group:
                docs.update(last[2])
                kept[year] = last
                continue
            page_docs: dict[str, Doc] = {}
            newest = _Newest(group)  # the page's date, found once for all its formats
            # what the entries contribute to the key, computed once for every format
            member_key = hashlib.sha256(
                (
                    "\n".join([v.sha256 for v in group])
                    + "|"
                    + ",".join([v.previous_sha256 for v in group if v.previous_sha256])
                ).encode()
            ).hexdigest()
            for fmt in self.s.formats:
                if year is None:
                    links = {"prev-archive": path_of(spec.key, fmt, years[-1]) if years else None}
                else:
                    i = years.index(year)
                    links = {
                        "current": path_of(spec.key, fmt),
                        "prev-archive": path_of(spec.key, fmt, years[i - 1]) if i else None,
                        "next-archive": path_of(spec.key, fmt, years[i + 1])
                        if i + 1 < len(years)
                        else None,
                    }
                path = path_of(spec.key, fmt, year)
                page_docs[path] = self._doc(spec, fmt, group, path, links, member_key, year, newest)
            docs.update(page_docs)
            kept[year] = (years, group, page_docs)
        self._pages[spec.key] = kept
        return docs

    def _doc(
        self,
        spec: FeedSpec,
        fmt: str,
        members: list[PublishedNotice],
        path: str,
        links: dict[str, str | None],
        member_key: str,
        year: int | None,
        newest: _Newest | None = None,
    ) -> Doc:
        link_urls = {rel: self.url(p) for rel, p in links.items() if p}
        key = hashlib.sha256(
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
                    member_key,
                )
            ).encode()
        ).hexdigest()
        archive = year is not None

        def render() -> bytes:
            updated = newest() if newest is not None else None
            return self.render(spec, fmt, members, path, link_urls, archive, year, updated)

        return Doc(key, render)

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
        updated: datetime | None = None,
    ) -> bytes:
        if updated is None:
            updated = max((v.updated_at for v in members), default=EPOCH)
        title = spec.title + (f"（{year}年归档）" if year else "")
        entries = self.entries.get_many(members)
        if fmt == "json":
            return self._json(spec, title, path, links, entries)
        head = self._header(spec, fmt, title, path, updated)
        extra = self._links(fmt, links, archive)
        close = b"</channel>" if fmt == "rss" else b"</feed>"
        cut = head.rindex(close)
        body = [e.rss for e in entries] if fmt == "rss" else [e.atom for e in entries]
        return b"".join([head[:cut], extra, *body, head[cut:]])  # one copy of the entries

    def _header(self, spec: FeedSpec, fmt: str, title: str, path: str, updated: datetime) -> bytes:
        """feedgen's header of the document, made once per document with a stand-in date
        and then given the document's date (``updated``) as feedgen writes it."""
        key = (fmt, path, title, spec.description)
        if key not in self._headers:
            made = self._feedgen_header(spec, fmt, title, path, _STAND_IN)
            mark = self._date(fmt, _STAND_IN)
            pieces = made.split(mark)
            self._headers[key] = (pieces[0], pieces[1]) if len(pieces) == 2 else None
        parts = self._headers[key]
        if parts is None:
            return self._feedgen_header(spec, fmt, title, path, updated)
        return parts[0] + self._date(fmt, updated) + parts[1]

    @staticmethod
    def _date(fmt: str, at: datetime) -> bytes:
        """The header's date as feedgen writes it: RSS lastBuildDate, Atom updated."""
        return (rfc2822(at) if fmt == "rss" else at.isoformat()).encode("ascii")

    def _feedgen_header(
        self, spec: FeedSpec, fmt: str, title: str, path: str, updated: datetime
    ) -> bytes:
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
        self, spec: FeedSpec, title: str, path: str, links: dict[str, str], items: list[Entry]
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
        utf8 = [e.json_utf8 for e in items if e.json_utf8 is not None]
        if len(utf8) == len(items):  # the entries as bytes, joined: what encoding it all gives
            head_utf8 = (text[:-1] + ', "items": [').encode("utf-8")
            return b"".join([head_utf8, b", ".join(utf8), b"]}\n"])
        return (text[:-1] + ', "items": [' + ", ".join(e.json for e in items) + "]}\n").encode(
            "utf-8"
        )


class _Newest:
    """The latest ``updated_at`` of a page's members, found at the first render that asks
    (the page's RSS, Atom and JSON documents share it)."""

    __slots__ = ("members", "value")

    def __init__(self, members: list[PublishedNotice]) -> None:
        self.members = members
        self.value: datetime | None = None

    def __call__(self) -> datetime:
        if self.value is None:
            self.value = max((v.updated_at for v in self.members), default=EPOCH)
        return self.value


def _attr(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


__all__ = ["FORMATS", "MEDIA", "NS_ATOM", "Doc", "Documents", "FeedSettings", "FeedSpec", "path_of"]

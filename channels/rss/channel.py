"""The rss channel class: options, the documents it owns, and the WebSub ping."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, NamedTuple

import httpx
import jinja2
import segno
from lxml import etree
from pydantic import Field, field_validator

from publisher.channel import ChannelOptions, Doc, FileRule, LiveSet, StateChannel
from publisher.model import ChecklistItem, PublishedNotice, Tombstone
from publisher.output import GONE
from publisher.secrets import redact

from .documents import FORMATS, MEDIA, Documents, FeedSettings, FeedSpec, path_of
from .entries import EntryCache, guid
from .planner import Planner, entry_key, insert_ordered

log = logging.getLogger("publisher.channels.rss")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class RssOptions(ChannelOptions):
    folder: str = ""
    title: str | None = None
    description: str = "信息公开"
    max_items: int = Field(100, ge=1, le=10_000)
    ttl: int = Field(60, ge=1)
    pages: bool = True
    categories: bool = True  # a feed per 清单 category
    departments: dict[str, str] = Field(default_factory=dict)  # slug → department name
    formats: list[str] = Field(default_factory=lambda: list(FORMATS))
    archives: bool = True
    websub_hub: str | None = None
    guid_seed: str | None = None  # defaults to the official school name; never change it

    @field_validator("departments")
    @classmethod
    def _slugs(cls, v: dict[str, str]) -> dict[str, str]:
        for slug in v:
            if not _SLUG.match(slug):
                raise ValueError(
                    f"department slug {slug!r} must be lower-case ASCII "
                    "letters, digits or '-' (it becomes a URL)"
                )
        return v

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        bad = [f for f in v if f not in FORMATS]
        if bad or not v:
            raise ValueError(f"formats are some of {', '.join(FORMATS)}")
        return v


class RssChannel(StateChannel[RssOptions]):
    type_name = "rss"
    outlet_label = "门户网站信息公开专栏及订阅源（RSS/Atom/JSON Feed）"
    Options: ClassVar[type[ChannelOptions]] = RssOptions

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.folder = self.options.folder
        site = self.ctx.site
        seed = self.options.guid_seed or site.school_name
        prefix = self.folder.strip("/")
        self.base_url = f"{site.base_url}/{prefix}" if prefix else site.base_url
        self.entries = EntryCache(site, seed, tuple(self.options.formats))
        self._listing_cache: list[dict[str, object]] | None = None
        self._qr_cache: list[dict[str, object]] | None = None  # the listing with QR codes
        self._pages: dict[str, Doc] = {}
        # the notices of each 清单 item (newest first), kept between builds like the pages
        self._items: dict[int, _Item] | None = None
        self._kept_at = -1  # the planner's plan() the pages and items above follow
        self._build_templates: dict[str, jinja2.Template] = {}  # see find_template
        self._pages_env: jinja2.Environment | None = None
        self.documents = Documents(
            FeedSettings(
                site,
                self.base_url,
                self.options.max_items,
                self.options.ttl,
                self.options.websub_hub,
                tuple(self.options.formats),
                self.options.archives,
            ),
            self.entries,
            seed,
        )
        self.planner = Planner(self.documents, self.feeds())

    # ---------------------------------------------------------------- what feeds exist

    def feeds(self) -> list[FeedSpec]:
        site = self.ctx.site
        title = self.options.title or site.name
        specs = [FeedSpec("all", title, self.options.description)]
        if self.options.categories:
            for slug, name in self.ctx.categories.items():
                specs.append(
                    FeedSpec(
                        slug, f"{title} · {name}", f"{name}（信息公开事项清单）", "category", slug
                    )
                )
        for slug, dept in self.options.departments.items():
            specs.append(
                FeedSpec(
                    f"dept-{slug}", f"{title} · {dept}", f"{dept}发布的公开事项", "department", dept
                )
            )
        return specs

    def guid(self, notice_id: str) -> str:
        return guid(self.entries.seed, notice_id)

    def feed_url(self, name: str) -> str:
        """URL of a subscription document, e.g. ``feed_url('all.rss.xml')``."""
        return f"{self.base_url}/feeds/{name}"

    # ---------------------------------------------------------------- documents

    def tombstone_page(self, t: Tombstone) -> Doc:
        """The page a withdrawn notice's address leads to (the server answers it with 410
        Gone): 已撤回, when and why; never the withdrawn text."""
        key = hashlib.sha256(
            f"{t.notice_id}|{t.withdrawn_at.isoformat()}|{t.reason}".encode()
        ).hexdigest()
        return Doc(
            key,
            lambda: self.render_template(
                "rss/gone.html", tombstone=t, home=f"{self.base_url}/", root="../"
            ).encode("utf-8"),
        )

    def site_template(self, page: str) -> str | None:
        """The search page looks like the rest of the site this channel writes."""
        return {"search": "rss/search.html"}.get(page) if self.options.pages else None

    def file_rules(self) -> list[FileRule]:
        """JSON Feeds are ``application/feed+json``, polled like the other feeds."""
        feeds = f"{self.folder}/feeds/" if self.folder else "feeds/"
        return [
            FileRule(
                f"{feeds}*.json",
                content_type="application/feed+json; charset=utf-8",
                cache_control="public, max-age=900",
            )
        ]

    def render_documents(self, live: LiveSet) -> Mapping[str, bytes | Doc]:
        self._build_templates = {}  # templates are looked up again for each build
        env = self._pages_env
        if env is None or env.cache is None or not all(t.is_up_to_date for t in env.cache.values()):
            # the page templates in an environment of their own that does not check their
            # files at each lookup (an ``extends`` looks its parent up at every render); this
            # checks them once a build instead, and starts afresh when one changed
            env = self.templates.overlay(auto_reload=False, cache_size=64)
            self._pages_env = env
        docs: dict[str, bytes | Doc] = dict(self.planner.plan(live))
        if self.options.pages and live.tombstones:
            live_ids = {v.id for v in live}
            for t in live.tombstones:  # a notice published again has its page back
                if t.notice_id not in live_ids:
                    docs[f"{GONE}/notices/{t.notice_id}.html"] = self.tombstone_page(t)
        ordered = self.planner.ordered
        if self._listing_cache is None:  # the set of feeds only changes with the config
            self._listing_cache = [self._listing(spec) for spec in self.planner.feeds]
        listing = self._listing_cache
        docs["feeds/feeds.opml"] = Doc("opml", lambda: self._opml(listing))
        if self.options.pages:
            # pages are lazy too, and kept between builds: only changed notices get new ones
            added, removed = self.planner.last_added, self.planner.last_removed
            if added is None or removed is None or self._kept_at != self.planner.plans - 1:
                self._pages = {f"notices/{v.id}.html": self._page(v) for v in ordered}
            else:
                for v in removed:
                    self._pages.pop(f"notices/{v.id}.html", None)
                for v in added:
                    self._pages[f"notices/{v.id}.html"] = self._page(v)
            docs.update(self._pages)
            docs.update(self._catalogue(ordered))
            self._kept_at = self.planner.plans
            docs["site.css"] = Doc(
                "css", lambda: self.render_template("rss/site.css").encode("utf-8")
            )
            docs["subscribe.html"] = Doc(
                "subscribe",
                lambda: self.render_template(
                    "rss/subscribe.html",
                    feeds=self._with_qr(listing),
                    opml=self.documents.url("feeds/feeds.opml"),
                ).encode("utf-8"),
            )
        return docs

    def _catalogue(self, ordered: Sequence[PublishedNotice]) -> dict[str, bytes | Doc]:
        """The home page as the 信息公开目录 (every 清单 item, its newest notices, when it was
        last published or updated) and a page per item listing all of its notices."""
        items = self._items_of(ordered)
        checklist = list(self.ctx.checklist)
        sections: list[dict[str, Any]] = []
        docs: dict[str, bytes | Doc] = {}
        none = _Item([], "", None)
        for entry in checklist:
            members, digest, updated = items.get(entry.no, none)
            url = f"{self.base_url}/catalogue/{entry.no:02d}.html"
            if not sections or sections[-1]["slug"] != entry.category:
                sections.append({"slug": entry.category, "label": entry.category_label, "rows": []})
            sections[-1]["rows"].append(
                {
                    "no": entry.no,
                    "text": entry.text,
                    "url": url,
                    "notices": members[:3],
                    "count": len(members),
                    "updated": updated,
                }
            )
            docs[f"catalogue/{entry.no:02d}.html"] = Doc(
                hashlib.sha256(f"{digest}|{entry.text}".encode()).hexdigest(),
                self._item_page(entry, members, updated),
            )
        feeds = {
            "RSS": self.feed_url("all.rss.xml"),
            "Atom": self.feed_url("all.atom.xml"),
            "JSON Feed": self.feed_url("all.json"),
        }
        latest = list(ordered[:10])
        # every notice is in one item's group: the groups' digests cover all of them
        home_key = hashlib.sha256(
            (
                "\n".join(f"{no}:{items[no].digest}" for no in sorted(items)) + repr(checklist)
            ).encode()
        ).hexdigest()
        docs["index.html"] = Doc(
            home_key,
            lambda: self.render_template(
                "rss/index.html",
                sections=sections,
                latest=latest,
                checklist_size=len(checklist),
                feeds=feeds,
            ).encode("utf-8"),
        )
        return docs

    def _items_of(self, ordered: Sequence[PublishedNotice]) -> dict[int, _Item]:
        """The notices of each 清单 item, newest first, with what their pages' keys need:
        made again only for the items of notices the last plan added or removed (a 10,000
        notice site otherwise groups and hashes every notice for one new one)."""
        added, removed = self.planner.last_added, self.planner.last_removed
        items = self._items
        if (
            items is None
            or added is None
            or removed is None
            or self._kept_at != self.planner.plans - 1
        ):
            groups: dict[int, list[PublishedNotice]] = {}
            for v in ordered:  # newest first
                groups.setdefault(v.notice.item, []).append(v)
            items = {no: _Item.of(members) for no, members in groups.items()}
        elif added or removed:
            gone = {entry_key(v) for v in removed}
            items = dict(items)
            for no in {v.notice.item for v in (*added, *removed)}:
                old = items[no].members if no in items else []
                members = [v for v in old if entry_key(v) not in gone]  # a new list
                for v in added:
                    if v.notice.item == no:
                        insert_ordered(members, v)
                if members:
                    items[no] = _Item.of(members)
                else:
                    items.pop(no, None)
        self._items = items
        return items

    def _item_page(
        self, entry: ChecklistItem, members: list[PublishedNotice], updated: datetime | None
    ) -> Callable[[], bytes]:
        feed = self.feed_url(
            f"{entry.category}.rss.xml" if self.options.categories else "all.rss.xml"
        )

        def render() -> bytes:
            return self.render_template(
                "rss/item.html",
                root="../",
                item=entry,
                notices=members,
                updated=updated,
                feed=feed,
                category_name=self.ctx.categories.get(entry.category, entry.category),
            ).encode("utf-8")

        return render

    def _page(self, v: PublishedNotice) -> Doc:
        def render() -> bytes:
            return self.render_template(
                "rss/notice.html",
                n=v,
                notice=v.notice,
                body=_demote_headings(v.html),
                root="../",  # the stylesheet relative to the page: any host, any port
            ).encode("utf-8")

        return Doc(f"{v.sha256}:{v.previous_sha256}:{v.index_no}", render)

    def find_template(self, template: str) -> jinja2.Template:
        """Each template looked up once per build, not once per page (jinja2 checks a
        template file's mtime at each lookup, its parent's at each render: 20,000 ``stat``
        calls for a cold build of a 10,000 notice site). Each build checks the files once
        (``render_documents``), so an edited template is used from the next build on."""
        tpl = self._build_templates.get(template)
        if tpl is None:
            tpl = (self._pages_env or self.templates).get_template(template)
            self._build_templates[template] = tpl
        return tpl

    def _listing(self, spec: FeedSpec) -> dict[str, object]:
        urls = {fmt: self.documents.url(path_of(spec.key, fmt)) for fmt in self.options.formats}
        return {
            "key": spec.key,
            "title": spec.title,
            "description": spec.description,
            "urls": urls,
        }

    def _with_qr(self, listing: list[dict[str, object]]) -> list[dict[str, object]]:
        """The listing with each feed's QR code, for the subscribe page only (the OPML has
        none, and drawing them was a tenth of a cold rebuild of the RSS documents)."""
        if self._qr_cache is None:
            out = []
            for feed in listing:
                urls: dict[str, str] = feed["urls"]  # type: ignore[assignment]
                main = urls.get("rss") or next(iter(urls.values()))
                title = str(feed["title"])
                qr = segno.make(main, error="m").svg_inline(scale=3, border=2, title=title)
                out.append({**feed, "qr": qr})
            self._qr_cache = out
        return self._qr_cache

    def _opml(self, listing: list[dict[str, object]]) -> bytes:
        root = etree.Element("opml", version="2.0")
        head = etree.SubElement(root, "head")
        etree.SubElement(head, "title").text = self.options.title or self.ctx.site.name
        body = etree.SubElement(root, "body")
        for feed in listing:
            urls: dict[str, str] = feed["urls"]  # type: ignore[assignment]
            fmt = "rss" if "rss" in urls else next(iter(urls))
            etree.SubElement(
                body,
                "outline",
                type="rss",
                text=str(feed["title"]),
                title=str(feed["title"]),
                xmlUrl=urls[fmt],
                htmlUrl=self.ctx.site.base_url + "/",
            )
        data: bytes = etree.tostring(
            root, encoding="utf-8", xml_declaration=True, pretty_print=True
        )
        return data

    # ---------------------------------------------------------------- after a build

    def build(self, live: Sequence[PublishedNotice]) -> list[str]:
        changed = super().build(live)
        if self.options.websub_hub:
            self._ping(
                [
                    p
                    for p in changed
                    if p.startswith("feeds/")
                    and "/archive/" not in p
                    and p.endswith(tuple(f".{x}" for x in ("xml", "json")))
                ]
            )
        return changed

    def _ping(self, paths: list[str]) -> None:
        """Tell the WebSub hub which subscription documents changed (best effort)."""
        if not paths or not self.options.websub_hub:
            return
        try:
            with httpx.Client(transport=self.ctx.transport, timeout=10) as client:
                for p in paths:
                    resp = client.post(
                        self.options.websub_hub,
                        data={"hub.mode": "publish", "hub.url": self.documents.url(p)},
                    )
                    if resp.status_code >= 300:
                        log.warning("WebSub hub answered %s for %s", resp.status_code, p)
        except httpx.HTTPError as exc:
            log.warning("WebSub ping failed: %s", redact(str(exc)))


class _Item(NamedTuple):
    """One 清单 item's notices, newest first; a digest of their versions and 索引号; the
    latest time one of them was published or updated."""

    members: list[PublishedNotice]
    digest: str
    updated: datetime | None

    @classmethod
    def of(cls, members: list[PublishedNotice]) -> _Item:
        digest = hashlib.sha256(
            "|".join([f"{v.sha256[:16]}{v.index_no}" for v in members]).encode()
        ).hexdigest()
        return cls(members, digest, max((v.updated_at for v in members), default=None))


_HEADING = re.compile(r"<(/?)h([1-6])>")


def _demote_headings(html: str) -> str:
    """The page's title is its one <h1>: the body's headings start at <h2> (markdown-it
    writes plain tags and escapes raw HTML, so the pattern only meets its own tags)."""
    return _HEADING.sub(lambda m: f"<{m[1]}h{min(int(m[2]) + 1, 6)}>", html)


__all__ = ["MEDIA", "RssChannel", "RssOptions"]

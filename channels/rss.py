"""RSS 2.0 and Atom feeds of the live notices, plus one HTML page per notice.

feedgen's traps (see REFERENCE.md §3) and how each is met here: entries are added with
``order='append'``; every date is zone-aware; ``lastBuildDate``/``updated`` are pinned to the
data, so an unchanged rebuild is byte-identical; the channel ``<link>`` is the site (set last),
never the feed; content goes in as ``type='html'``; XML-invalid characters are stripped first.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from feedgen.feed import FeedGenerator
from pydantic import Field

from publisher.model import PublishedNotice
from publisher.text import xml_safe

from .base import ChannelOptions, StateChannel

EPOCH = datetime.fromisoformat("2000-01-01T00:00:00+08:00")
GUID_NAMESPACE = uuid.UUID("6b1c3f52-2f0e-4d8e-9a57-6f1f3c1b8d10")


class RssOptions(ChannelOptions):
    folder: str = ""
    title: str | None = None
    description: str = "信息公开"
    max_items: int = Field(100, ge=1, le=10_000)
    ttl: int = Field(60, ge=1)
    pages: bool = True
    guid_seed: str | None = None  # defaults to the official school name; never change it


class RssChannel(StateChannel):
    type_name = "rss"
    Options: ClassVar[type[ChannelOptions]] = RssOptions

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.opts: RssOptions = self.options  # type: ignore[assignment]
        self.folder = self.opts.folder

    def guid(self, notice_id: str) -> str:
        seed = self.opts.guid_seed or self.ctx.site.school_name
        return f"urn:uuid:{uuid.uuid5(GUID_NAMESPACE, f'{seed}/{notice_id}')}"

    def feed_url(self, name: str) -> str:
        prefix = f"{self.folder.strip('/')}/" if self.folder.strip("/") else ""
        return f"{self.ctx.site.base_url}/{prefix}feeds/{name}"

    def render_documents(self, live: Sequence[PublishedNotice]) -> dict[str, bytes]:
        ordered = sorted(live, key=lambda v: (v.notice.publish_at, v.id), reverse=True)
        feed_items = ordered[: self.opts.max_items]
        rss, atom = self._feeds(feed_items)
        docs = {"feeds/all.rss.xml": rss, "feeds/all.atom.xml": atom}
        if self.opts.pages:
            for v in ordered:
                docs[f"notices/{v.id}.html"] = self.render_template(
                    "rss/notice.html", n=v, notice=v.notice
                ).encode("utf-8")
            docs["index.html"] = self.render_template(
                "rss/index.html",
                notices=ordered,
                feeds={
                    "RSS 2.0": self.feed_url("all.rss.xml"),
                    "Atom": self.feed_url("all.atom.xml"),
                },
            ).encode("utf-8")
        return docs

    def _feeds(self, items: Sequence[PublishedNotice]) -> tuple[bytes, bytes]:
        site = self.ctx.site
        fg = FeedGenerator()
        # RSS <author> must be an e-mail address; the department goes in dc:creator instead
        fg.load_extension("dc", atom=False, rss=True)
        fg.id(self.guid("feed:all"))
        fg.title(xml_safe(self.opts.title or site.name))
        fg.subtitle(xml_safe(self.opts.description))
        fg.language(site.language)
        fg.generator("disclosure-publisher")
        fg.ttl(self.opts.ttl)
        newest = max((v.updated_at for v in items), default=EPOCH)
        fg.updated(newest)
        fg.lastBuildDate(newest)
        for v in items:
            n = v.notice
            fe = fg.add_entry(order="append")
            guid = self.guid(n.id)
            fe.id(guid)
            fe.guid(guid, permalink=False)
            prefix = "【更正】" if v.is_revision else ""
            fe.title(xml_safe(prefix + n.title))
            fe.link(href=v.url, rel="alternate")
            fe.published(n.publish_at)
            fe.updated(v.updated_at)
            fe.author(name=xml_safe(n.department))
            fe.dc.dc_creator(xml_safe(n.department))
            fe.category(term=n.category, label=xml_safe(v.category_name))
            if n.summary:
                fe.summary(xml_safe(n.summary))
            fe.content(xml_safe(v.html), type="html")
        rss: bytes = self._with_self(fg, "all.rss.xml", "application/rss+xml").rss_str(pretty=True)
        atom: bytes = self._with_self(fg, "all.atom.xml", "application/atom+xml").atom_str(
            pretty=True
        )
        return rss, atom

    def _with_self(self, fg: FeedGenerator, name: str, media_type: str) -> FeedGenerator:
        # each document names itself as rel=self; RSS takes the channel <link> from the last
        # link given, so the site's page comes last (a <link> to the feed itself confuses readers)
        fg.link(
            [
                {"href": self.feed_url(name), "rel": "self", "type": media_type},
                {"href": self.ctx.site.base_url + "/", "rel": "alternate"},
            ],
            replace=True,
        )
        return fg

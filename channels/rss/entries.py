"""One feed entry per approved version, built once (with feedgen) and reused by every document.

A notice appears in several documents (all notices, its category, its department, an archive),
in three formats. Each entry is built and serialised once per version and kept, so a rebuild
costs one serialisation per *changed* notice plus joining bytes.

feedgen traps met here (REFERENCE.md §3): dates are zone-aware and written without
``locale.setlocale`` (RSS ``pubDate`` is formatted here, not by feedgen); Atom links are added
here because feedgen drops their ``rel``/``type``/``length`` (enclosures would become duplicate
alternate links); every text goes through :func:`xml_safe` before it reaches lxml.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from html import escape as html_escape
from urllib.parse import quote

from feedgen.entry import FeedEntry
from lxml import etree

from publisher.model import Attachment, PublishedNotice, SiteInfo
from publisher.text import plain_text, xml_safe

# feedgen formats RSS dates under locale.setlocale, which is process-wide: one at a time
FEEDGEN_LOCK = threading.Lock()
GUID_NAMESPACE = uuid.UUID("6b1c3f52-2f0e-4d8e-9a57-6f1f3c1b8d10")
NS_CONTENT = "http://purl.org/rss/1.0/modules/content/"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_ATOM = "http://www.w3.org/2005/Atom"
# declared once on each document's root; dropped from the entry fragments
_REDUNDANT = (f' xmlns:content="{NS_CONTENT}"'.encode(), f' xmlns:dc="{NS_DC}"'.encode())


def guid(seed: str, notice_id: str) -> str:
    """Opaque and permanent: derived from the notice id only, never title, URL or date."""
    return f"urn:uuid:{uuid.uuid5(GUID_NAMESPACE, f'{seed}/{notice_id}')}"


def excerpt(body: str, length: int = 120) -> str:
    text = " ".join(xml_safe(plain_text(body)).split())
    return text if len(text) <= length else text[:length] + "…"


def attachment_href(site: SiteInfo, a: Attachment) -> str:
    if not a.is_local:
        return a.href
    # percent-encoded: "名单 2026#1.csv" is a path, not a path and a fragment
    return f"{site.base_url}/files/{a.sha256[:16]}/{quote(a.filename)}"


@dataclass(frozen=True)
class Entry:
    key: str  # what the bytes depend on: version and the version it revises
    rss: bytes = b""  # each format only when the channel publishes it
    atom: bytes = b""
    json: str = ""


class EntryCache:
    """Serialised entries by version, least recently used dropped beyond ``size``."""

    def __init__(
        self,
        site: SiteInfo,
        guid_seed: str,
        formats: tuple[str, ...] = ("rss", "atom", "json"),
        size: int = 50_000,
    ) -> None:
        self.site = site
        self.seed = guid_seed
        self.formats = formats
        self.size = size
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, v: PublishedNotice) -> Entry:
        key = f"{v.sha256}:{v.previous_sha256 or ''}"
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit
        entry = self._build(v, key)
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return entry

    def _build(self, v: PublishedNotice, key: str) -> Entry:
        n = v.notice
        gid = guid(self.seed, n.id)
        # every text goes through xml_safe; a field left empty by it still gets a value, since
        # readers (and feedgen) need a title and RSS puts content:encoded only beside a summary
        title = xml_safe(("【更正】" if v.is_revision else "") + n.title).strip() or n.id
        html = xml_safe(v.html)
        summary = xml_safe(n.summary).strip() or excerpt(n.body) or title
        department = xml_safe(n.department).strip() or "-"
        fe = FeedEntry()
        fe.id(gid)
        fe.guid(gid, permalink=False)
        fe.title(title)
        fe.link(href=v.url, rel="alternate")
        fe.published(n.publish_at)
        fe.updated(v.updated_at)
        fe.author(name=department)
        fe.category(term=n.category, label=xml_safe(v.category_name))
        fe.summary(summary)
        fe.content(html, type="html")
        if n.attachments:
            # RSS carries one enclosure per item: the first attachment; Atom carries all
            first = n.attachments[0]
            fe.enclosure(
                attachment_href(self.site, first),
                str(first.size or 0),
                first.media_type or "application/octet-stream",
            )

        rss = atom = b""
        item_json: dict[str, object] = {}
        if "rss" in self.formats:
            with FEEDGEN_LOCK:  # feedgen formats pubDate under locale.setlocale (process-wide)
                item = fe.rss_entry(extensions=False)
            # feedgen's content:encoded carries an anonymous ns0 prefix once serialised on its own
            encoded = item.find(f"{{{NS_CONTENT}}}encoded")
            if encoded is not None:
                own = etree.Element(f"{{{NS_CONTENT}}}encoded", nsmap={"content": NS_CONTENT})
                own.text = encoded.text
                item.replace(encoded, own)
            # RSS readers render <description> as HTML: the plain summary is escaped for it, so
            # '"><svg onload=…>' stays text and a literal "&amp;" still reads "&amp;"
            description = item.find("description")
            if description is not None:
                description.text = html_escape(summary, quote=False)
            creator = etree.SubElement(item, f"{{{NS_DC}}}creator", nsmap={"dc": NS_DC})
            creator.text = department
            rss = etree.tostring(item, encoding="utf-8", pretty_print=True)
            for decl in _REDUNDANT:
                rss = rss.replace(decl, b"")
        if "atom" in self.formats:
            atom_el = fe.atom_entry(extensions=False)
            for link in atom_el.findall("link"):
                atom_el.remove(link)
            self._atom_link(atom_el, href=v.url, rel="alternate", type="text/html")
            for a in n.attachments:
                self._atom_link(
                    atom_el,
                    href=attachment_href(self.site, a),
                    rel="enclosure",
                    type=a.media_type or "application/octet-stream",
                    length=str(a.size) if a.size else None,
                    title=xml_safe(a.title),
                )
            atom = etree.tostring(atom_el, encoding="utf-8", pretty_print=True)
        if "json" in self.formats:
            item_json = {
                "id": gid,
                "url": v.url,
                "title": title,
                "content_html": html,
                "date_published": n.publish_at.isoformat(),
                "date_modified": v.updated_at.isoformat(),
                "authors": [{"name": department}],
                "tags": [xml_safe(v.category_name)],
                "summary": summary,
            }
            if n.attachments:
                item_json["attachments"] = [
                    {
                        "url": attachment_href(self.site, a),
                        "mime_type": a.media_type or "application/octet-stream",
                        "title": xml_safe(a.title),
                        **({"size_in_bytes": a.size} if a.size else {}),
                    }
                    for a in n.attachments
                ]
        text = json.dumps(item_json, ensure_ascii=False, sort_keys=True) if item_json else ""
        return Entry(key, rss, atom, text)

    @staticmethod
    def _atom_link(parent: etree._Element, **attrs: str | None) -> None:
        el = etree.SubElement(parent, "link")
        for k in ("href", "rel", "type", "length", "title"):
            if attrs.get(k):
                el.set(k, attrs[k] or "")

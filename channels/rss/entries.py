"""One feed entry per approved version, built once and reused by every document.

A notice appears in several documents (all notices, its category, its department, an archive),
in three formats. Each entry is built and serialised once per version and kept, so a rebuild
costs one serialisation per *changed* notice plus joining bytes.

The RSS item and the Atom entry are written as strings, byte for byte what feedgen's elements
serialised by lxml were (building the trees was most of a cold rebuild); an entry with a
character that lxml would escape otherwise or refuse (a carriage return, a control character,
a tab or newline in an attribute) is still made with feedgen and lxml (``_build_feedgen``), so
the two can never differ.

feedgen traps met here (REFERENCE.md §3): dates are zone-aware and written without
``locale.setlocale`` (RSS ``pubDate`` is formatted here, not by feedgen); Atom links are added
here because feedgen drops their ``rel``/``type``/``length`` (enclosures would become duplicate
alternate links); every text goes through :func:`xml_safe` before it reaches lxml.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape as html_escape
from json.encoder import encode_basestring
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


# what the string writer handles exactly as lxml does: text with tabs and newlines, attributes
# without them (lxml writes those as character references), and never a carriage return
_TEXT_UNSAFE = re.compile("[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTR_UNSAFE = re.compile("[^\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _text(s: str) -> str:
    """Element text escaped as libxml2 escapes it (no carriage returns: see _TEXT_UNSAFE)."""
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    return s


def _attr(s: str) -> str:
    """An attribute value escaped as libxml2 escapes it (no tabs or newlines)."""
    return _text(s).replace('"', "&quot;")


def rfc2822(at: datetime) -> str:
    """feedgen's RSS date (``strftime('%a, %d %b %Y %H:%M:%S %z')`` in the C locale), with the
    English names written here instead of switching the process's locale."""
    return f"{_DAYS[at.weekday()]}, " + at.strftime(f"%d {_MONTHS[at.month - 1]} %Y %H:%M:%S %z")


_GUID_PREFIX = GUID_NAMESPACE.bytes


def guid(seed: str, notice_id: str) -> str:
    """Opaque and permanent: derived from the notice id only, never title, URL or date.
    ``uuid.uuid5(GUID_NAMESPACE, f"{seed}/{notice_id}")`` as a URN, computed without the
    ``UUID`` object (a cold rebuild makes one per notice)."""
    h = bytearray(hashlib.sha1(_GUID_PREFIX + f"{seed}/{notice_id}".encode()).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50  # version 5
    h[8] = (h[8] & 0x3F) | 0x80  # the RFC 4122 variant
    x = h.hex()
    return f"urn:uuid:{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


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
    # ``json`` in UTF-8, for documents joined as bytes (None: it cannot be encoded, and the
    # document that holds it fails as it always did)
    json_utf8: bytes | None = None

    @classmethod
    def of(cls, key: str, rss: bytes, atom: bytes, text: str) -> Entry:
        try:
            utf8: bytes | None = text.encode("utf-8")
        except UnicodeEncodeError:
            utf8 = None
        return cls(key, rss, atom, text, utf8)


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

    def get_many(self, members: Sequence[PublishedNotice]) -> list[Entry]:
        """``get`` for each of ``members``, the cache locked once for those already built."""
        keys = [f"{v.sha256}:{v.previous_sha256 or ''}" for v in members]
        with self._lock:
            found = [self._entries.get(k) for k in keys]
            for k, e in zip(keys, found, strict=True):
                if e is not None:
                    self._entries.move_to_end(k)
        return [e if e is not None else self.get(v) for v, e in zip(members, found, strict=True)]

    def _build(self, v: PublishedNotice, key: str) -> Entry:
        n = v.notice
        # text the string writer takes as it is: then ``xml_safe`` would leave every field
        # unchanged, and is not run (one scan of the body instead of three)
        if _TEXT_UNSAFE.search(
            "\t".join((n.id, n.title, n.summary, n.department, v.html, v.category_name, v.url))
        ):
            return self._build_feedgen(v, key)
        gid = guid(self.seed, n.id)
        title = (("【更正】" if v.is_revision else "") + n.title).strip() or n.id
        html = v.html
        summary = n.summary.strip() or excerpt(n.body) or title
        department = n.department.strip() or "-"
        label = v.category_name
        try:
            hrefs = [(a, attachment_href(self.site, a)) for a in n.attachments]
        except ValueError:  # (UnicodeError) feedgen's way fails as it always did
            return self._build_feedgen(v, key)
        attrs = [v.url, n.category, label]
        for a, href in hrefs:
            attrs += [href, a.media_type, xml_safe(a.title)]
        if not title or _TEXT_UNSAFE.search(summary) or _ATTR_UNSAFE.search("".join(attrs)):
            return self._build_feedgen(v, key)
        escaped = _text(html)  # the body, for RSS and Atom alike
        rss = atom = b""
        if "rss" in self.formats:
            parts = [f"<item>\n  <title>{_text(title)}</title>\n"]
            if v.url:
                parts.append(f"  <link>{_text(v.url)}</link>\n")
            parts.append(
                f"  <description>{_text(html_escape(summary, quote=False))}</description>\n"
                f"  <content:encoded>{escaped}</content:encoded>\n"
                f'  <guid isPermaLink="false">{_text(gid)}</guid>\n'
                f"  <category>{_text(label)}</category>\n"
            )
            if hrefs:
                first, href = hrefs[0]
                parts.append(
                    f'  <enclosure url="{_attr(href)}" length="{first.size or 0}" '
                    f'type="{_attr(first.media_type or "application/octet-stream")}"/>\n'
                )
            parts.append(
                f"  <pubDate>{rfc2822(n.publish_at)}</pubDate>\n"
                f"  <dc:creator>{_text(department)}</dc:creator>\n</item>\n"
            )
            rss = "".join(parts).encode("utf-8")
            for decl in _REDUNDANT:  # as the lxml path does (a title may quote them)
                if decl in rss:
                    rss = rss.replace(decl, b"")
        if "atom" in self.formats:
            content = (
                f'  <content type="html">{escaped}</content>\n'
                if html
                else '  <content type="html"/>\n'
            )
            category = f'  <category term="{_attr(n.category)}"' + (
                f' label="{_attr(label)}"/>\n' if label else "/>\n"
            )
            parts = [
                f"<entry>\n  <id>{_text(gid)}</id>\n  <title>{_text(title)}</title>\n"
                f"  <updated>{v.updated_at.isoformat()}</updated>\n"
                f"  <author>\n    <name>{_text(department)}</name>\n  </author>\n",
                content,
                f"  <summary>{_text(summary)}</summary>\n",
                category,
                f"  <published>{n.publish_at.isoformat()}</published>\n",
                _link(href=v.url, rel="alternate", type="text/html"),
            ]
            for a, href in hrefs:
                parts.append(
                    _link(
                        href=href,
                        rel="enclosure",
                        type=a.media_type or "application/octet-stream",
                        length=str(a.size) if a.size else None,
                        title=xml_safe(a.title),
                    )
                )
            parts.append("</entry>\n")
            atom = "".join(parts).encode("utf-8")
        text = (
            self._json(v, gid, title, html, summary, department) if "json" in self.formats else ""
        )
        return Entry.of(key, rss, atom, text)

    def _json(
        self, v: PublishedNotice, gid: str, title: str, html: str, summary: str, department: str
    ) -> str:
        """The JSON Feed item: what ``_json_dumps`` gives, its keys in their sorted order and
        each string encoded by json's own encoder (a third of the time of ``json.dumps``)."""
        n = v.notice
        if n.attachments:
            return self._json_dumps(v, gid, title, html, summary, department)
        e = encode_basestring
        return (
            f'{{"authors": [{{"name": {e(department)}}}], "content_html": {e(html)}, '
            f'"date_modified": {e(v.updated_at.isoformat())}, '
            f'"date_published": {e(n.publish_at.isoformat())}, "id": {e(gid)}, '
            f'"summary": {e(summary)}, "tags": [{e(xml_safe(v.category_name))}], '
            f'"title": {e(title)}, "url": {e(v.url)}}}'
        )

    def _json_dumps(
        self, v: PublishedNotice, gid: str, title: str, html: str, summary: str, department: str
    ) -> str:
        n = v.notice
        item_json: dict[str, object] = {
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
        return json.dumps(item_json, ensure_ascii=False, sort_keys=True)

    def _build_feedgen(self, v: PublishedNotice, key: str) -> Entry:
        """The same entry made with feedgen and lxml: for text the string writer does not
        take, and what tests compare the string writer with."""
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
        text = (
            self._json(v, gid, title, html, summary, department) if "json" in self.formats else ""
        )
        return Entry.of(key, rss, atom, text)

    @staticmethod
    def _atom_link(parent: etree._Element, **attrs: str | None) -> None:
        el = etree.SubElement(parent, "link")
        for k in ("href", "rel", "type", "length", "title"):
            if attrs.get(k):
                el.set(k, attrs[k] or "")


def _link(**attrs: str | None) -> str:
    """An Atom link as ``EntryCache._atom_link`` makes it: the attributes that have a value,
    in this order."""
    out = "".join(
        f' {k}="{_attr(attrs[k] or "")}"'
        for k in ("href", "rel", "type", "length", "title")
        if attrs.get(k)
    )
    return f"  <link{out}/>\n"

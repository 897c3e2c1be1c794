"""From a stored, approved version to what channels see (``PublishedNotice``).

Everything a channel renders derives from the stored canonical text whose sha256 was pinned at
approval. The hash is checked again here, so a corrupted or edited row can never go out.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from threading import Lock

from publisher.errors import NotApproved
from publisher.model import Notice, PublishedNotice, SiteInfo
from publisher.notices.catalogue import Catalogue
from publisher.notices.files import content_hash, from_canonical
from publisher.store import VersionRow
from publisher.text import parse_markdown, render_tokens


def notice_url(site: SiteInfo, notice_id: str, own_url: str = "") -> str:
    return own_url or f"{site.base_url}/notices/{notice_id}.html"


class PublishedViews:
    """Builds (and caches, by version hash) the view of approved versions."""

    def __init__(self, site: SiteInfo, catalogue: Catalogue, cache_size: int = 50_000) -> None:
        self.site = site
        self.catalogue = catalogue
        self._cache: OrderedDict[tuple[str, str | None, str], PublishedNotice] = OrderedDict()
        self._size = cache_size
        self._lock = Lock()

    def published(self, v: VersionRow, previous_sha: str | None = None) -> PublishedNotice:
        key = (v.sha256, previous_sha, v.index_no)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        if v.approved_at is None or v.revision is None:
            raise NotApproved(f"version {v.sha256[:12]} of {v.notice_id!r} is not approved")
        if content_hash(v.canonical) != v.sha256:
            raise NotApproved(
                f"stored text of {v.notice_id!r} does not match its approved hash "
                f"{v.sha256[:12]}; refusing to publish it"
            )
        notice = from_canonical(v.canonical, self.site.timezone)
        cat = self.catalogue.categories.get(notice.category)
        item = self.catalogue.items.get(notice.item)
        tokens = tuple(parse_markdown(notice.body))  # once, for the page and every channel
        view = PublishedNotice(
            notice=notice,
            sha256=v.sha256,
            url=notice_url(self.site, notice.id, notice.url),
            html=render_tokens(tokens),
            tokens=tokens,
            approved_at=v.approved_at.astimezone(self.site.timezone),
            revision=v.revision,
            category_name=cat.name if cat else notice.category,
            item_text=item.text if item else "",
            previous_sha256=previous_sha,
            index_no=v.index_no,
        )
        with self._lock:
            self._cache[key] = view
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return view

    def proposed(self, notice: Notice, sha256: str, now: datetime) -> PublishedNotice:
        """A view of a version nobody approved yet, for previews only: the engine builds what
        goes out from approved rows alone (``published``), never from this."""
        cat = self.catalogue.categories.get(notice.category)
        item = self.catalogue.items.get(notice.item)
        return PublishedNotice(
            notice=notice,
            sha256=sha256,
            url=notice_url(self.site, notice.id, notice.url),
            html=render_tokens(tokens := tuple(parse_markdown(notice.body))),
            tokens=tokens,
            approved_at=now.astimezone(self.site.timezone),
            revision=0,
            category_name=cat.name if cat else notice.category,
            item_text=item.text if item else "",
        )

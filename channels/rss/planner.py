"""Keeping the feed plan between builds, so publishing one notice into a large site touches
only what that notice changes.

A full plan sorts every live notice, groups them by feed and hashes every group: for 10,000
notices that is tens of milliseconds of Python before a single byte is written. Between two
builds usually one or two notices change, so the planner keeps the ordered live set, its groups
and each feed's documents, and redoes only the feeds whose groups changed. It falls back to the
full plan when much changed; a test checks both paths give the same documents.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from publisher.channel import Doc
from publisher.model import PublishedNotice

from .documents import Documents, FeedSpec

GroupKey = tuple[str | None, str]


def entry_key(v: PublishedNotice) -> str:
    """A version as a member of a feed: its hash, and the version it revises if any (the
    hash alone for most: making 10,000 strings was most of a plan's time)."""
    return f"{v.sha256}:{v.previous_sha256}" if v.previous_sha256 else v.sha256


def order_key(v: PublishedNotice) -> tuple[datetime, str]:
    return (v.notice.publish_at, v.notice.id)


class Planner:
    def __init__(
        self, documents: Documents, feeds: Sequence[FeedSpec], incremental_limit: float = 0.05
    ) -> None:
        self.documents = documents
        self.feeds = list(feeds)
        self.fields = sorted({f.field for f in self.feeds if f.field})
        self.limit = incremental_limit
        self.index: dict[str, PublishedNotice] = {}
        self.ordered: list[PublishedNotice] = []  # newest first
        self.groups: dict[GroupKey, list[PublishedNotice]] = {}
        self.year_of: dict[str, int] = {}
        self.feed_docs: dict[str, dict[str, Doc]] = {}
        self.full_plans = 0  # how often the full plan ran (tests and benchmarks look)
        self.plans = 0  # how often plan() ran (what keeps its own state beside it checks)
        # what the last plan() changed: None after a full plan (everything may have)
        self.last_added: list[PublishedNotice] | None = None
        self.last_removed: list[PublishedNotice] | None = None

    # ---------------------------------------------------------------- public

    def plan(self, live: Sequence[PublishedNotice]) -> dict[str, Doc]:
        """The feed documents for ``live`` (any order)."""
        self.plans += 1
        index = {
            (f"{v.sha256}:{v.previous_sha256}" if v.previous_sha256 else v.sha256): v for v in live
        }  # entry_key, inline
        added = [v for k, v in index.items() if k not in self.index]
        removed = [v for k, v in self.index.items() if k not in index]
        if not self.feed_docs or len(added) + len(removed) > max(20, self.limit * len(index)):
            self._full(index)
            self.last_added = self.last_removed = None
        else:
            if added or removed:
                self._update(index, added, removed)
            self.last_added, self.last_removed = added, removed
        docs: dict[str, Doc] = {}
        for feed_docs in self.feed_docs.values():
            docs.update(feed_docs)
        return docs

    # ---------------------------------------------------------------- the two ways

    def _full(self, index: dict[str, PublishedNotice]) -> None:
        self.full_plans += 1
        self.index = index
        self.ordered = sorted(index.values(), key=order_key, reverse=True)
        self.year_of = {}
        self.groups = {(None, ""): list(self.ordered)}
        for v in self.ordered:
            self._note_year(v)
            for f in self.fields:
                self.groups.setdefault((f, getattr(v.notice, f)), []).append(v)
        self.feed_docs = {spec.key: self._docs_for(spec) for spec in self.feeds}

    def _update(
        self,
        index: dict[str, PublishedNotice],
        added: list[PublishedNotice],
        removed: list[PublishedNotice],
    ) -> None:
        self.index = index
        touched: set[GroupKey] = {(None, "")}
        for v in (*added, *removed):
            for f in self.fields:
                touched.add((f, getattr(v.notice, f)))
        gone = {entry_key(v) for v in removed}
        if gone:
            self.ordered = [v for v in self.ordered if entry_key(v) not in gone]
        for v in added:
            self._note_year(v)
            _insert(self.ordered, v)
        for key in touched:
            if key == (None, ""):
                self.groups[key] = self.ordered
                continue
            field, value = key
            group = self.groups.get(key, [])
            if gone:
                group = [v for v in group if entry_key(v) not in gone]
            for v in added:
                if getattr(v.notice, str(field)) == value:
                    _insert(group, v)
            self.groups[key] = group
        for spec in self.feeds:
            if (spec.field, spec.value) in touched:
                self.feed_docs[spec.key] = self._docs_for(spec)

    # ---------------------------------------------------------------- helpers

    def _note_year(self, v: PublishedNotice) -> None:
        tz = self.documents.s.site.timezone
        at = v.notice.publish_at
        self.year_of[v.sha256] = at.year if at.tzinfo is tz else at.astimezone(tz).year

    def _docs_for(self, spec: FeedSpec) -> dict[str, Doc]:
        members = self.groups.get((spec.field, spec.value), [])
        return self.documents.feed_docs(spec, members, self.year_of, newest_first=True)


def _insert(
    ordered: list[PublishedNotice],
    v: PublishedNotice,
    key: Callable[[PublishedNotice], tuple[datetime, str]] = order_key,
) -> None:
    """Insert into a newest-first list, keeping its order."""
    k = key(v)
    lo, hi = 0, len(ordered)
    while lo < hi:
        mid = (lo + hi) // 2
        if key(ordered[mid]) > k:
            lo = mid + 1
        else:
            hi = mid
    ordered.insert(lo, v)


insert_ordered = _insert  # for the channel's own newest-first lists

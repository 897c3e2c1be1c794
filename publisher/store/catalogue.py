"""Queries of the 信息公开目录: 索引号 and the full-text search index.

Taking a serial is one upsert on ``index_counters`` (``INSERT … ON CONFLICT DO UPDATE …
RETURNING``): on PostgreSQL the counter row stays locked until the approval commits, so two
approvals at once get consecutive numbers, never the same one; on SQLite every write transaction
holds the write lock (``BEGIN IMMEDIATE``).

Search: SQLite matches an FTS5 table (``search_fts``, created by migration 0008) ranked by
bm25; PostgreSQL matches ``array_to_tsvector`` of the stored words (GIN index) ranked by
``ts_rank``. Words are cut by the caller (``publisher/search.py``); both databases see only
whole words separated by spaces, so CJK text needs no database-side parser or locale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    cast,
    column,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    table,
    text,
    union,
)
from sqlalchemy.dialects import postgresql, sqlite

from publisher.errors import StoreError
from publisher.model import Action, DeliveryState
from publisher.store.base import StoreBase
from publisher.store.rows import VersionRow, _version
from publisher.store.schema import (
    UTCDateTime,
    approvals,
    deliveries,
    index_counters,
    index_numbers,
    notices,
    search_docs,
    versions,
)

search_fts = table("search_fts", column("rowid"), column("tokens"))


_NOW = bindparam("now", type_=UTCDateTime)
# what readers of the site can see now (the index may be a pass behind a withdrawal)
_VISIBLE = and_(
    notices.c.withdrawn_at.is_(None),
    search_docs.c.publish_at <= _NOW,
    or_(search_docs.c.expires_at.is_(None), search_docs.c.expires_at > _NOW),
)


def assign_index(
    conn: Connection, notice_id: str, scope: str, render: Callable[[int], str], now: datetime
) -> str:
    """The notice's 索引号, taking the next serial of ``scope`` if it has none yet."""
    have = conn.execute(
        select(index_numbers.c.index_no).where(index_numbers.c.notice_id == notice_id)
    ).scalar()
    if have is not None:
        return str(have)
    ins: Any = (sqlite if conn.dialect.name == "sqlite" else postgresql).insert
    for _ in range(1000):
        stmt = (
            ins(index_counters)
            .values(scope=scope, last=1)
            .on_conflict_do_update(
                index_elements=[index_counters.c.scope],
                set_={"last": index_counters.c.last + 1},
            )
            .returning(index_counters.c.last)
        )
        serial = int(conn.execute(stmt).scalar_one())
        number = render(serial)
        # a number another scope already made (the pattern was changed) is skipped, not reused
        taken = conn.execute(
            select(index_numbers.c.notice_id).where(index_numbers.c.index_no == number)
        ).first()
        if taken is None:
            conn.execute(
                insert(index_numbers).values(
                    notice_id=notice_id,
                    index_no=number,
                    scope=scope,
                    serial=serial,
                    assigned_at=now,
                )
            )
            return number
    raise StoreError(
        f"no free 索引号 in scope {scope!r} after 1000 serials: every number the pattern made "
        "is held by another notice; give disclosure.index_pattern a wider {serial}"
    )


@dataclass(frozen=True)
class SearchDocRow:
    notice_id: str
    sha256: str
    title: str
    department: str
    category: str
    item: int
    publish_at: datetime
    expires_at: datetime | None
    url: str
    text: str
    tokens: str


@dataclass(frozen=True)
class SearchHit:
    notice_id: str
    title: str
    department: str
    category: str
    item: int
    publish_at: datetime
    url: str
    text: str


class CatalogueQueries(StoreBase):
    # ---------------------------------------------------------------- 索引号

    def index_numbers(self) -> dict[str, str]:
        with self.tx() as conn:
            return {
                r.notice_id: r.index_no
                for r in conn.execute(select(index_numbers.c.notice_id, index_numbers.c.index_no))
            }

    def unnumbered(self) -> list[VersionRow]:
        """The first approved version of each approved notice that has no 索引号 (notices
        approved before numbers existed), oldest approval first."""
        stmt = (
            select(versions)
            .where(
                versions.c.revision == 1,
                versions.c.approved_at.is_not(None),
                versions.c.notice_id.not_in(select(index_numbers.c.notice_id)),
            )
            .order_by(versions.c.approved_at, versions.c.notice_id)
        )
        with self.tx() as conn:
            return [_version(r) for r in conn.execute(stmt)]

    def number(
        self, notice_id: str, scope: str, render: Callable[[int], str], now: datetime
    ) -> str:
        with self.tx() as conn:
            return assign_index(conn, notice_id, scope, render, now)

    # ---------------------------------------------------------------- the publication record

    def approved_history(self) -> list[dict[str, Any]]:
        """Every approved version with its notice's withdrawal and 索引号, oldest approval
        first: the record the coverage clocks and the annual report are computed from."""
        stmt = (
            select(
                versions.c.notice_id,
                versions.c.sha256,
                versions.c.canonical,
                versions.c.revision,
                versions.c.approved_at,
                versions.c.publish_at,
                versions.c.expires_at,
                notices.c.withdrawn_at,
                notices.c.withdraw_reason,
                index_numbers.c.index_no,
            )
            .join(notices, notices.c.id == versions.c.notice_id)
            .outerjoin(index_numbers, index_numbers.c.notice_id == versions.c.notice_id)
            .where(versions.c.approved_at.is_not(None))
            .order_by(versions.c.approved_at, versions.c.notice_id, versions.c.revision)
        )
        with self.tx() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def settled_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Deliveries settled in [start, end), counted by channel, action and state (a sent
        one by when it was sent, any other by its last change)."""
        when = func.coalesce(deliveries.c.sent_at, deliveries.c.updated_at)
        stmt = (
            select(
                deliveries.c.channel,
                deliveries.c.action,
                deliveries.c.state,
                func.count().label("n"),
                func.count(func.distinct(deliveries.c.notice_id)).label("notices"),
            )
            .where(when >= start, when < end)
            .group_by(deliveries.c.channel, deliveries.c.action, deliveries.c.state)
            .order_by(deliveries.c.channel, deliveries.c.action, deliveries.c.state)
        )
        with self.tx() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def sent_versions_between(self, start: datetime, end: datetime) -> list[tuple[str, str]]:
        """(channel, version) of every publish delivery sent in [start, end)."""
        stmt = (
            select(deliveries.c.channel, deliveries.c.sha256)
            .where(
                deliveries.c.state == DeliveryState.SENT,
                deliveries.c.action == Action.PUBLISH,
                deliveries.c.sent_at >= start,
                deliveries.c.sent_at < end,
            )
            .order_by(deliveries.c.channel, deliveries.c.sha256)
        )
        with self.tx() as conn:
            return [(r[0], r[1]) for r in conn.execute(stmt)]

    def signoffs_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Every sign-off made in [start, end) with its version's title and 索引号: the
        保密审查 register."""
        stmt = (
            select(
                approvals.c.notice_id,
                approvals.c.sha256,
                approvals.c.reviewer,
                approvals.c.opinion,
                approvals.c.form_no,
                approvals.c.reviewed_on,
                approvals.c.source,
                approvals.c.allowances,
                approvals.c.approved_at,
                approvals.c.ran_by,
                versions.c.title,
                versions.c.revision,
                versions.c.approved_at.label("version_approved_at"),
                index_numbers.c.index_no,
            )
            .join(versions, versions.c.sha256 == approvals.c.sha256)
            .outerjoin(index_numbers, index_numbers.c.notice_id == approvals.c.notice_id)
            .where(approvals.c.approved_at >= start, approvals.c.approved_at < end)
            .order_by(approvals.c.approved_at, approvals.c.id)
        )
        with self.tx() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    # ---------------------------------------------------------------- search index

    def search_stale(self) -> tuple[list[VersionRow], list[str]]:
        """(newest approved versions the index does not hold yet, ids to drop: withdrawn or
        no longer approved)."""
        latest = (
            select(versions.c.notice_id, func.max(versions.c.revision).label("rev"))
            .where(versions.c.approved_at.is_not(None))
            .group_by(versions.c.notice_id)
            .subquery()
        )
        stmt = (
            select(versions)
            .join(
                latest,
                and_(
                    latest.c.notice_id == versions.c.notice_id, latest.c.rev == versions.c.revision
                ),
            )
            .join(notices, notices.c.id == versions.c.notice_id)
            .outerjoin(search_docs, search_docs.c.notice_id == versions.c.notice_id)
            .where(
                notices.c.withdrawn_at.is_(None),
                or_(search_docs.c.sha256.is_(None), search_docs.c.sha256 != versions.c.sha256),
            )
        )
        drop = (
            select(search_docs.c.notice_id)
            .join(notices, notices.c.id == search_docs.c.notice_id)
            .where(notices.c.withdrawn_at.is_not(None))
        )
        with self.tx() as conn:
            stale = [_version(r) for r in conn.execute(stmt)]
            gone = [r[0] for r in conn.execute(drop)]
        return stale, gone

    def search_put(self, docs: Sequence[SearchDocRow], drop: Sequence[str] = ()) -> None:
        ids = [d.notice_id for d in docs] + list(drop)
        if not ids:
            return
        fts = self.dialect == "sqlite"
        with self.tx() as conn:
            for chunk in _chunks(ids, 500):
                if fts:
                    old = select(search_docs.c.doc_id).where(search_docs.c.notice_id.in_(chunk))
                    conn.execute(delete(search_fts).where(search_fts.c.rowid.in_(old)))
                conn.execute(delete(search_docs).where(search_docs.c.notice_id.in_(chunk)))
            if docs:
                rows = [dict(d.__dict__, doc_id=None) for d in docs]
                if fts:
                    # the FTS rowid; taken under the write lock (BEGIN IMMEDIATE), so two
                    # processes never pick the same one
                    last = conn.execute(select(func.max(search_docs.c.doc_id))).scalar() or 0
                    for n, row in enumerate(rows, start=last + 1):
                        row["doc_id"] = n
                conn.execute(insert(search_docs), rows)
                if fts:
                    conn.execute(
                        insert(search_fts),
                        [{"rowid": r["doc_id"], "tokens": r["tokens"]} for r in rows],
                    )

    def search(
        self,
        terms: Sequence[tuple[str, Sequence[str]]],
        now: datetime,
        limit: int = 20,
        offset: int = 0,
    ) -> tuple[int, list[SearchHit]]:
        """(number of matches, one page of them, best first): every term must match, itself
        or all of its alternatives (``publisher/search.py`` cuts the query into terms)."""
        if self.dialect == "sqlite":
            query = _fts_query(terms)
            find = self._rank_sqlite
        else:
            query = _ts_query(terms)
            find = self._rank_postgresql
        params = {"q": query, "now": now}
        with self.read() as conn:
            total, order = find(conn, params, limit, offset)
            rows = {
                r.notice_id: r
                for r in conn.execute(select(search_docs).where(search_docs.c.notice_id.in_(order)))
            }
        return total, [
            SearchHit(
                r.notice_id, r.title, r.department, r.category, r.item, r.publish_at, r.url, r.text
            )
            for r in (rows[nid] for nid in order)
        ]

    # A common word matches most of the store. Both rankers therefore read narrow rows only
    # (the FTS rowid and rank, covering indexes for the visibility test) and leave the wide
    # rows (text for snippets) to the one page that is shown.

    def _rank_sqlite(
        self, conn: Connection, params: dict[str, Any], limit: int, offset: int
    ) -> tuple[int, list[str]]:
        want = offset + limit
        match = text("search_fts MATCH :q")
        # the count: FTS5 counts its matches from the index alone; the few that readers
        # cannot see (not yet published, expired, withdrawn) are found by index and taken off
        invisible = union(
            select(search_docs.c.doc_id).where(search_docs.c.publish_at > _NOW),
            select(search_docs.c.doc_id).where(search_docs.c.expires_at <= _NOW),
            select(search_docs.c.doc_id)
            .join(notices, notices.c.id == search_docs.c.notice_id)
            .where(notices.c.withdrawn_at.is_not(None)),
        )
        counted = select(func.count()).select_from(search_fts)
        matched = int(conn.execute(counted.where(match), params).scalar_one())
        hidden = int(
            conn.execute(
                counted.where(match, search_fts.c.rowid.in_(invisible)), params
            ).scalar_one()
        )

        def best(cap: int | None) -> list[str]:
            # bm25 (FTS5's rank) is worked out inside the full-text scan; with a cap, FTS5
            # keeps only the best ``cap`` as it goes
            m = select(search_fts.c.rowid.label("doc"), literal_column("rank").label("rank"))
            m = m.where(match).order_by(literal_column("rank"))
            sub = (m.limit(cap) if cap else m).subquery("m")
            stmt = (
                select(search_docs.c.notice_id)
                .select_from(sub)
                .join(search_docs, search_docs.c.doc_id == sub.c.doc)
                .join(notices, notices.c.id == search_docs.c.notice_id)
                .where(_VISIBLE)
                .order_by(sub.c.rank, search_docs.c.publish_at.desc(), search_docs.c.notice_id)
                .limit(want)
            )
            return [r[0] for r in conn.execute(stmt, params)]

        # enough candidates for the page even if some cannot be seen; all of them otherwise
        cap = max(100, 2 * want)
        ids = best(cap)
        if len(ids) < want and matched > cap:
            ids = best(None)
        return matched - hidden, ids[offset:want]

    def _rank_postgresql(
        self, conn: Connection, params: dict[str, Any], limit: int, offset: int
    ) -> tuple[int, list[str]]:
        tsv = func.array_to_tsvector(func.string_to_array(search_docs.c.tokens, " "))
        tsq = cast(bindparam("q"), postgresql.TSQUERY)
        found = (
            select(search_docs.c.notice_id)
            .join(notices, notices.c.id == search_docs.c.notice_id)
            .where(tsv.op("@@")(tsq), _VISIBLE)
        )
        ranked = found.order_by(
            func.ts_rank(tsv, tsq).desc(), search_docs.c.publish_at.desc(), search_docs.c.notice_id
        )
        ids = [r[0] for r in conn.execute(ranked.limit(limit).offset(offset), params)]
        total = conn.execute(
            found.with_only_columns(func.count(), maintain_column_froms=True), params
        ).scalar_one()
        return int(total), ids

    def search_scan(self, needle: str, now: datetime, limit: int = 20) -> tuple[int, list[str]]:
        """(how many, the newest ``limit``) visible notices whose title or text contains
        ``needle``: what a search page needs, by a ``LIKE`` scan, the baseline the benchmark
        measures the index against."""
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        found = (
            select(search_docs.c.notice_id)
            .join(notices, notices.c.id == search_docs.c.notice_id)
            .where(
                notices.c.withdrawn_at.is_(None),
                search_docs.c.publish_at <= now,
                or_(search_docs.c.expires_at.is_(None), search_docs.c.expires_at > now),
                or_(
                    search_docs.c.title.like(pattern, escape="\\"),
                    search_docs.c.text.like(pattern, escape="\\"),
                ),
            )
        )
        with self.read() as conn:
            total = conn.execute(
                found.with_only_columns(func.count(), maintain_column_froms=True)
            ).scalar_one()
            ids = conn.execute(found.order_by(search_docs.c.publish_at.desc()).limit(limit))
            return int(total), [r[0] for r in ids]


def _fts_quote(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _ts_quote(word: str) -> str:
    # a tsquery lexeme in single quotes: quotes doubled, backslashes escaped
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def _boolean_query(
    terms: Sequence[tuple[str, Sequence[str]]],
    quote: Callable[[str], str],
    and_op: str,
    or_op: str,
) -> str:
    """Every term (itself, or all of its alternatives) required; every word quoted, so
    nothing a reader types is an operator."""
    parts = []
    for word, alternatives in terms:
        q = quote(word)
        if alternatives:
            q = f"({q} {or_op} ({f' {and_op} '.join(quote(a) for a in alternatives)}))"
        parts.append(q)
    return f" {and_op} ".join(parts)


def _fts_query(terms: Sequence[tuple[str, Sequence[str]]]) -> str:
    return _boolean_query(terms, _fts_quote, "AND", "OR")  # FTS5 query syntax


def _ts_query(terms: Sequence[tuple[str, Sequence[str]]]) -> str:
    return _boolean_query(terms, _ts_quote, "&", "|")  # tsquery syntax


def _chunks(seq: Sequence[str], n: int) -> list[Sequence[str]]:
    return [seq[i : i + n] for i in range(0, len(seq), n)]

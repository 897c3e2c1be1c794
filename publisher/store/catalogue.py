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
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from .base import StoreBase
from .rows import VersionRow, _version
from .schema import (
    UTCDateTime,
    approvals,
    deliveries,
    index_counters,
    index_numbers,
    notices,
    search_docs,
    versions,
)

search_fts = table("search_fts", column("notice_id"), column("tokens"))


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
    raise IntegrityError("no free 索引号 after 1000 serials", None, Exception())


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
                deliveries.c.state == "sent",
                deliveries.c.action == "publish",
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
                conn.execute(delete(search_docs).where(search_docs.c.notice_id.in_(chunk)))
                if fts:
                    conn.execute(delete(search_fts).where(search_fts.c.notice_id.in_(chunk)))
            if docs:
                conn.execute(insert(search_docs), [d.__dict__ for d in docs])
                if fts:
                    conn.execute(
                        insert(search_fts),
                        [{"notice_id": d.notice_id, "tokens": d.tokens} for d in docs],
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
        cols = [
            search_docs.c.notice_id,
            search_docs.c.title,
            search_docs.c.department,
            search_docs.c.category,
            search_docs.c.item,
            search_docs.c.publish_at,
            search_docs.c.url,
            search_docs.c.text,
        ]
        visible = and_(
            notices.c.withdrawn_at.is_(None),
            search_docs.c.publish_at <= bindparam("now", type_=UTCDateTime),
            or_(
                search_docs.c.expires_at.is_(None),
                search_docs.c.expires_at > bindparam("now", type_=UTCDateTime),
            ),
        )
        if self.dialect == "sqlite":
            rank = func.bm25(literal_column("search_fts"))
            base = (
                select(*cols, rank.label("rank"))
                .select_from(search_fts)
                .join(search_docs, search_docs.c.notice_id == search_fts.c.notice_id)
                .join(notices, notices.c.id == search_docs.c.notice_id)
                .where(text("search_fts MATCH :q"), visible)
            )
            order = [literal_column("rank"), search_docs.c.publish_at.desc()]
        else:
            tsv = func.array_to_tsvector(func.string_to_array(search_docs.c.tokens, " "))
            tsq = cast(bindparam("q"), postgresql.TSQUERY)
            base = (
                select(*cols, func.ts_rank(tsv, tsq).label("rank"))
                .join(notices, notices.c.id == search_docs.c.notice_id)
                .where(tsv.op("@@")(tsq), visible)
            )
            order = [literal_column("rank").desc(), search_docs.c.publish_at.desc()]
        query = _fts_query(terms) if self.dialect == "sqlite" else _ts_query(terms)
        params = {"q": query, "now": now}
        with self.tx() as conn:
            total = conn.execute(
                select(func.count()).select_from(base.subquery()), params
            ).scalar_one()
            rows = conn.execute(
                base.order_by(*order, search_docs.c.notice_id).limit(limit).offset(offset),
                params,
            ).all()
        return int(total), [
            SearchHit(
                r.notice_id, r.title, r.department, r.category, r.item, r.publish_at, r.url, r.text
            )
            for r in rows
        ]

    def search_scan(self, needle: str, now: datetime, limit: int = 20) -> list[str]:
        """Ids of visible notices whose text contains ``needle``: a ``LIKE`` scan, the
        baseline the benchmark measures the index against."""
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = (
            select(search_docs.c.notice_id)
            .join(notices, notices.c.id == search_docs.c.notice_id)
            .where(
                notices.c.withdrawn_at.is_(None),
                search_docs.c.publish_at <= now,
                or_(
                    search_docs.c.title.like(pattern, escape="\\"),
                    search_docs.c.text.like(pattern, escape="\\"),
                ),
            )
            .order_by(search_docs.c.publish_at.desc())
            .limit(limit)
        )
        with self.tx() as conn:
            return [r[0] for r in conn.execute(stmt)]


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

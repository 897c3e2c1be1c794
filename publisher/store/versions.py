"""Queries about notices, their versions, reviews, sign-offs and withdrawals."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from publisher.errors import BlobMismatch, NotFound, ReviewError
from publisher.model import Action, DeliveryState, Tombstone
from publisher.store.base import StoreBase
from publisher.store.catalogue import assign_index
from publisher.store.outbox import outbox_row
from publisher.store.rows import (
    OPEN_STATES,
    ApprovalResult,
    ApprovalRow,
    NoticeRow,
    VersionRow,
    _version,
)
from publisher.store.schema import (
    approvals,
    blobs,
    deliveries,
    index_numbers,
    notices,
    paper_records,
    reviews,
    versions,
)


def check_blob(sha256: str, data: bytes, where: str) -> bytes:
    """``data`` if it hashes to ``sha256``; else ``BlobMismatch`` (bytes cross a boundary)."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise BlobMismatch(sha256, actual, where)
    return data


def with_index() -> Select[Any]:
    """Versions with their notice's 索引号 (empty before its first approval)."""
    return select(versions, index_numbers.c.index_no).outerjoin(
        index_numbers, index_numbers.c.notice_id == versions.c.notice_id
    )


class VersionQueries(StoreBase):
    # ---------------------------------------------------------------- notices and versions

    def save_version(
        self,
        *,
        notice_id: str,
        source: str,
        sha256: str,
        canonical: str,
        title: str,
        category: str,
        item: int,
        publish_at: datetime,
        expires_at: datetime | None,
        now: datetime,
        files: dict[str, bytes] | None = None,
    ) -> bool:
        """Record the file's current version. True when this version is new to the store."""
        with self.tx() as conn:
            row = conn.execute(select(notices).where(notices.c.id == notice_id)).first()
            if row is None:
                conn.execute(
                    insert(notices).values(
                        id=notice_id, source=source, current_sha=sha256, first_seen_at=now
                    )
                )
            elif row.current_sha != sha256 or row.source != source:
                conn.execute(
                    update(notices)
                    .where(notices.c.id == notice_id)
                    .values(current_sha=sha256, source=source)
                )
            exists = conn.execute(
                select(versions.c.sha256).where(versions.c.sha256 == sha256)
            ).first()
            if exists:
                return False
            conn.execute(
                insert(versions).values(
                    sha256=sha256,
                    notice_id=notice_id,
                    canonical=canonical,
                    title=title,
                    category=category,
                    item=item,
                    publish_at=publish_at,
                    expires_at=expires_at,
                    seen_at=now,
                )
            )
            for blob_sha, data in (files or {}).items():
                check_blob(blob_sha, data, "given to the store")
                if not conn.execute(
                    select(blobs.c.sha256).where(blobs.c.sha256 == blob_sha)
                ).first():
                    conn.execute(insert(blobs).values(sha256=blob_sha, data=data, size=len(data)))
            self._audit(
                conn, now, "version.seen", notice_id=notice_id, sha256=sha256, source=source
            )
            return True

    def notice(self, notice_id: str) -> NoticeRow:
        with self.tx() as conn:
            row = conn.execute(select(notices).where(notices.c.id == notice_id)).first()
        if row is None:
            raise NotFound(f"no notice with id {notice_id!r} (run `publisher items` to list)")
        return NoticeRow(
            row.id,
            row.source,
            row.current_sha,
            row.first_seen_at,
            row.withdrawn_at,
            row.withdraw_reason,
        )

    def notices(self) -> list[NoticeRow]:
        with self.tx() as conn:
            rows = conn.execute(select(notices).order_by(notices.c.id)).all()
        return [
            NoticeRow(
                r.id, r.source, r.current_sha, r.first_seen_at, r.withdrawn_at, r.withdraw_reason
            )
            for r in rows
        ]

    def summaries(self) -> list[dict[str, Any]]:
        """Every notice with its current version's title and time and its newest approved
        version, in three queries whatever the number of notices (lists of 10,000)."""
        current = versions.alias("cur")
        latest = (
            select(versions.c.notice_id, func.max(versions.c.revision).label("rev"))
            .where(versions.c.approved_at.is_not(None))
            .group_by(versions.c.notice_id)
            .subquery()
        )
        approved = versions.alias("appr")
        stmt = (
            select(
                notices.c.id,
                notices.c.current_sha,
                notices.c.withdrawn_at,
                current.c.title,
                current.c.publish_at,
                current.c.category,
                current.c.item,
                approved.c.sha256.label("approved_sha"),
                approved.c.revision,
                approved.c.publish_at.label("approved_publish_at"),
                approved.c.expires_at.label("approved_expires_at"),
            )
            .select_from(notices)
            .outerjoin(current, current.c.sha256 == notices.c.current_sha)
            .outerjoin(latest, latest.c.notice_id == notices.c.id)
            .outerjoin(
                approved,
                (approved.c.notice_id == notices.c.id) & (approved.c.revision == latest.c.rev),
            )
            .order_by(notices.c.id)
        )
        with self.tx() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
            papers = {r[0] for r in conn.execute(select(paper_records.c.sha256).distinct())}
        for r in rows:
            r["paper_record"] = r["current_sha"] in papers
        return rows

    def version(self, sha256: str) -> VersionRow:
        with self.tx() as conn:
            row = conn.execute(with_index().where(versions.c.sha256 == sha256)).first()
        if row is None:
            raise NotFound(f"no version {sha256[:12]}")
        return _version(row)

    def versions_of(self, notice_id: str) -> list[VersionRow]:
        with self.tx() as conn:
            rows = conn.execute(
                with_index()
                .where(versions.c.notice_id == notice_id)
                .order_by(versions.c.seen_at, versions.c.sha256)
            ).all()
        return [_version(r) for r in rows]

    def latest_approved(self, notice_id: str) -> VersionRow | None:
        with self.tx() as conn:
            row = conn.execute(
                with_index()
                .where(versions.c.notice_id == notice_id, versions.c.approved_at.is_not(None))
                .order_by(versions.c.revision.desc())
                .limit(1)
            ).first()
        return _version(row) if row else None

    def blob(self, sha256: str) -> bytes | None:
        """The stored bytes of an attachment, verified against their hash on the way out."""
        with self.tx() as conn:
            row = conn.execute(select(blobs.c.data).where(blobs.c.sha256 == sha256)).first()
        return check_blob(sha256, bytes(row.data), "in the store") if row else None

    # ---------------------------------------------------------------- paper records

    def record_paper(
        self,
        *,
        notice_id: str,
        sha256: str,
        reviewers: Sequence[str],
        reviewed_on: str,
        opinion: str,
        form_no: str,
        source: str,
        now: datetime,
    ) -> bool:
        """Keep a paper review record with the version it names (once). True if new."""
        with self.tx() as conn:
            exists = conn.execute(
                select(paper_records.c.id).where(
                    paper_records.c.sha256 == sha256,
                    paper_records.c.form_no == form_no,
                    paper_records.c.reviewed_on == reviewed_on,
                )
            ).first()
            if exists:
                return False
            conn.execute(
                insert(paper_records).values(
                    notice_id=notice_id,
                    sha256=sha256,
                    reviewers=json.dumps(list(reviewers), ensure_ascii=False),
                    reviewed_on=reviewed_on,
                    opinion=opinion,
                    form_no=form_no,
                    source=source,
                    recorded_at=now,
                )
            )
            self._audit(
                conn,
                now,
                "paper.recorded",
                notice_id=notice_id,
                sha256=sha256,
                reviewers=list(reviewers),
                form_no=form_no,
                reviewed_on=reviewed_on,
            )
            return True

    def paper_records_of(self, sha256: str) -> list[dict[str, Any]]:
        with self.tx() as conn:
            rows = conn.execute(
                select(paper_records)
                .where(paper_records.c.sha256 == sha256)
                .order_by(paper_records.c.id)
            ).all()
        return [
            {
                "reviewers": json.loads(r.reviewers),
                "reviewed_on": r.reviewed_on,
                "opinion": r.opinion,
                "form_no": r.form_no,
                "source": r.source,
            }
            for r in rows
        ]

    # ---------------------------------------------------------------- review and approval

    def record_review(
        self,
        notice_id: str,
        sha256: str,
        findings: list[dict[str, Any]],
        blocking: int,
        now: datetime,
    ) -> None:
        with self.tx() as conn:
            conn.execute(
                insert(reviews).values(
                    notice_id=notice_id,
                    sha256=sha256,
                    reviewed_at=now,
                    findings=json.dumps(findings, ensure_ascii=False),
                    blocking=blocking,
                )
            )
            self._audit(
                conn,
                now,
                "review",
                notice_id=notice_id,
                sha256=sha256,
                blocking=blocking,
                findings=len(findings),
            )

    def last_review(self, notice_id: str) -> tuple[str, datetime] | None:
        with self.tx() as conn:
            row = conn.execute(
                select(reviews.c.sha256, reviews.c.reviewed_at)
                .where(reviews.c.notice_id == notice_id)
                .order_by(reviews.c.id.desc())
                .limit(1)
            ).first()
        return (row.sha256, row.reviewed_at) if row else None

    def approvals_of(self, sha256: str) -> list[ApprovalRow]:
        with self.tx() as conn:
            rows = conn.execute(
                select(approvals).where(approvals.c.sha256 == sha256).order_by(approvals.c.id)
            ).all()
        return [
            ApprovalRow(
                r.reviewer,
                r.opinion,
                r.form_no,
                r.reviewed_on,
                r.source,
                json.loads(r.allowances),
                r.approved_at,
                r.ran_by,
            )
            for r in rows
        ]

    def approve(
        self,
        *,
        notice_id: str,
        sha256: str,
        reviewers: Sequence[str],
        opinion: str,
        form_no: str,
        source: str,
        allowances: list[dict[str, str]],
        required: int,
        channels: Sequence[str],
        now: datetime,
        reviewed_on: str | None = None,
        ran_by: str = "",
        index: tuple[str, Callable[[int], str]] | None = None,
    ) -> ApprovalResult:
        """Record sign-offs; when they reach ``required``, approve the version and write one
        delivery per channel, all in this one transaction (the outbox pattern). A notice's
        first approval also gives it its 索引号 (``index``: scope and serial → number)."""
        with self.tx() as conn:
            v = conn.execute(select(versions).where(versions.c.sha256 == sha256)).first()
            if v is None or v.notice_id != notice_id:
                raise NotFound(f"no version {sha256[:12]} of notice {notice_id!r}")
            have = {
                r.reviewer
                for r in conn.execute(
                    select(approvals.c.reviewer).where(approvals.c.sha256 == sha256)
                )
            }
            new = [r for r in dict.fromkeys(reviewers) if r not in have]
            if not new and v.approved_at is None:
                raise ReviewError(
                    f"{', '.join(reviewers)} already signed off version "
                    f"{sha256[:12]}; another reviewer must sign"
                )
            for reviewer in new:
                try:
                    conn.execute(
                        insert(approvals).values(
                            notice_id=notice_id,
                            sha256=sha256,
                            reviewer=reviewer,
                            opinion=opinion,
                            form_no=form_no,
                            reviewed_on=reviewed_on,
                            source=source,
                            allowances=json.dumps(allowances, ensure_ascii=False),
                            approved_at=now,
                            ran_by=ran_by,
                        )
                    )
                except IntegrityError:
                    raise ReviewError(f"{reviewer} already signed off {sha256[:12]}") from None
                self._audit(
                    conn,
                    now,
                    "signoff",
                    notice_id=notice_id,
                    sha256=sha256,
                    actor=reviewer,
                    ran_by=ran_by,
                    source=source,
                    opinion=opinion,
                    form_no=form_no,
                    reviewed_on=reviewed_on,
                    allowances=allowances,
                )
            count = len(have) + len(new)
            if v.approved_at is not None or count < required:
                return ApprovalResult(count, required, False, [])
            revision = (
                conn.execute(
                    select(func.max(versions.c.revision)).where(versions.c.notice_id == notice_id)
                ).scalar()
                or 0
            )
            conn.execute(
                update(versions)
                .where(versions.c.sha256 == sha256)
                .values(approved_at=now, revision=revision + 1)
            )
            # a version nobody has seen yet is replaced, not sent as well
            older = select(versions.c.sha256).where(
                versions.c.notice_id == notice_id, versions.c.sha256 != sha256
            )
            conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.sha256.in_(older),
                    deliveries.c.action == Action.PUBLISH,
                    deliveries.c.state == DeliveryState.PENDING,
                )
                .values(
                    state=DeliveryState.SUPERSEDED,
                    updated_at=now,
                    last_error=f"superseded by {sha256[:12]}",
                )
            )
            if index is not None:
                assign_index(conn, notice_id, index[0], index[1], now)
            ids = []
            for ch in channels:
                ids.append(
                    outbox_row(conn, notice_id, sha256, ch, Action.PUBLISH, v.publish_at, now)
                )
            self._audit(
                conn,
                now,
                "approved",
                notice_id=notice_id,
                sha256=sha256,
                revision=revision + 1,
                channels=list(channels),
                signoffs=count,
            )
            self.notify(conn)
            return ApprovalResult(count, required, True, ids)

    def withdraw(
        self, notice_id: str, reason: str, actor: str, now: datetime, announce: Sequence[str]
    ) -> list[int]:
        """Take a notice down: cancel what has not gone out, and queue a withdrawal message
        on each channel in ``announce`` that already carried it."""
        with self.tx() as conn:
            row = conn.execute(select(notices).where(notices.c.id == notice_id)).first()
            if row is None:
                raise NotFound(f"no notice with id {notice_id!r}")
            if row.withdrawn_at is not None:
                raise ReviewError(
                    f"notice {notice_id!r} was already withdrawn at {row.withdrawn_at.isoformat()}"
                )
            conn.execute(
                update(notices)
                .where(notices.c.id == notice_id)
                .values(withdrawn_at=now, withdraw_reason=reason)
            )
            conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.notice_id == notice_id,
                    deliveries.c.state.in_(OPEN_STATES),
                    deliveries.c.action == Action.PUBLISH,
                )
                .values(
                    state=DeliveryState.CANCELLED,
                    updated_at=now,
                    lease_until=None,
                    last_error=f"withdrawn: {reason}",
                )
            )
            ids = []
            # carried: sent, or accepted by a target that had not finished with it (a 公众号
            # publish under way goes on without us: its withdrawal must take it back)
            sent = conn.execute(
                select(deliveries.c.sha256, deliveries.c.channel)
                .where(
                    deliveries.c.notice_id == notice_id,
                    or_(
                        deliveries.c.state == DeliveryState.SENT,
                        deliveries.c.pending_ref != "",
                    ),
                    deliveries.c.action == Action.PUBLISH,
                    deliveries.c.channel.in_(announce),
                )
                .order_by(deliveries.c.id)
            ).all()
            last_sent = {r.channel: r.sha256 for r in sent}
            for ch, sha in last_sent.items():
                ids.append(outbox_row(conn, notice_id, sha, ch, Action.WITHDRAW, now, now))
            self._audit(
                conn,
                now,
                "withdrawn",
                notice_id=notice_id,
                actor=actor,
                reason=reason,
                announced=list(last_sent),
            )
            self.notify(conn)
            return ids

    def tombstones(self) -> list[Tombstone]:
        """Notices withdrawn after their approved version was published, newest first (one
        withdrawn before publication never had a page, and its title was never public)."""
        with self.read() as conn:
            rows = conn.execute(
                select(
                    notices.c.id,
                    notices.c.withdrawn_at,
                    notices.c.withdraw_reason,
                    versions.c.publish_at,
                    versions.c.revision,
                )
                .join(versions, versions.c.notice_id == notices.c.id)
                .where(notices.c.withdrawn_at.is_not(None), versions.c.approved_at.is_not(None))
                .order_by(notices.c.id, versions.c.revision)
            ).all()
        latest: dict[str, Any] = {}
        for r in rows:  # the newest approved version of each
            latest[r.id] = r
        out = [
            Tombstone(r.id, r.withdrawn_at, r.withdraw_reason or "")
            for r in latest.values()
            if r.publish_at <= r.withdrawn_at
        ]
        return sorted(out, key=lambda t: (t.withdrawn_at, t.notice_id), reverse=True)

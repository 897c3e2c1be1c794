"""The store: every query the program makes, in one place (no SQL strings elsewhere).

SQLite (one machine, WAL, ``BEGIN IMMEDIATE``) and PostgreSQL (several instances,
``FOR UPDATE SKIP LOCKED``) differ only in how deliveries are claimed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from ..errors import NotFound, ReviewError, SchemaError, StoreError
from ..model import Action, Delivery, DeliveryState, redact
from . import db
from .schema import (
    approvals,
    audit,
    blobs,
    channel_state,
    deliveries,
    notices,
    reviews,
    ticks,
    versions,
)

OPEN_STATES = (DeliveryState.PENDING, DeliveryState.CLAIMED)


@dataclass(frozen=True)
class NoticeRow:
    id: str
    source: str
    current_sha: str | None
    first_seen_at: datetime
    withdrawn_at: datetime | None
    withdraw_reason: str | None


@dataclass(frozen=True)
class VersionRow:
    sha256: str
    notice_id: str
    canonical: str
    title: str
    publish_at: datetime
    expires_at: datetime | None
    seen_at: datetime
    approved_at: datetime | None
    revision: int | None


@dataclass(frozen=True)
class ApprovalRow:
    reviewer: str
    opinion: str
    form_no: str
    source: str
    allowances: list[dict[str, str]]
    approved_at: datetime


@dataclass(frozen=True)
class ApprovalResult:
    signoffs: int
    required: int
    approved_now: bool  # this sign-off completed the approval
    deliveries: list[int]


@dataclass(frozen=True)
class ChannelStateRow:
    channel: str
    paused_at: datetime | None
    paused_until: datetime | None
    pause_reason: str
    build_fingerprint: str | None
    built_at: datetime | None

    def paused(self, now: datetime) -> bool:
        return self.paused_at is not None and (self.paused_until is None or self.paused_until > now)


@dataclass(frozen=True)
class LiveVersion:
    version: VersionRow
    previous_sha: str | None


def _delivery(row: Any) -> Delivery:
    return Delivery(
        row.id,
        row.notice_id,
        row.sha256,
        row.channel,
        Action(row.action),
        DeliveryState(row.state),
        row.due_at,
        row.attempts,
        row.next_attempt_at,
        row.last_error,
        row.parts_sent,
        row.unknowns,
    )


def _version(row: Any) -> VersionRow:
    return VersionRow(
        row.sha256,
        row.notice_id,
        row.canonical,
        row.title,
        row.publish_at,
        row.expires_at,
        row.seen_at,
        row.approved_at,
        row.revision,
    )


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = db.make_engine(url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # ---------------------------------------------------------------- schema

    def upgrade(self) -> None:
        db.upgrade(self.engine)

    def ensure_schema(self, upgrade: bool = True) -> None:
        problem = db.check_schema(self.engine)
        if problem is None:
            return
        if not upgrade:
            raise SchemaError(problem)
        self.upgrade()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreError(f"store error: {redact(str(exc.orig))}") from None

    def _audit(
        self,
        conn: Connection,
        at: datetime,
        event: str,
        *,
        notice_id: str | None = None,
        sha256: str | None = None,
        channel: str | None = None,
        delivery_id: int | None = None,
        actor: str = "",
        **detail: Any,
    ) -> None:
        conn.execute(
            insert(audit).values(
                at=at,
                event=event,
                notice_id=notice_id,
                sha256=sha256,
                channel=channel,
                delivery_id=delivery_id,
                actor=actor,
                detail=redact(json.dumps(detail, ensure_ascii=False, default=str)),
            )
        )

    def audit(self, at: datetime, event: str, **kw: Any) -> None:
        with self.tx() as conn:
            self._audit(conn, at, event, **kw)

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

    def version(self, sha256: str) -> VersionRow:
        with self.tx() as conn:
            row = conn.execute(select(versions).where(versions.c.sha256 == sha256)).first()
        if row is None:
            raise NotFound(f"no version {sha256[:12]}")
        return _version(row)

    def versions_of(self, notice_id: str) -> list[VersionRow]:
        with self.tx() as conn:
            rows = conn.execute(
                select(versions)
                .where(versions.c.notice_id == notice_id)
                .order_by(versions.c.seen_at, versions.c.sha256)
            ).all()
        return [_version(r) for r in rows]

    def latest_approved(self, notice_id: str) -> VersionRow | None:
        with self.tx() as conn:
            row = conn.execute(
                select(versions)
                .where(versions.c.notice_id == notice_id, versions.c.approved_at.is_not(None))
                .order_by(versions.c.revision.desc())
                .limit(1)
            ).first()
        return _version(row) if row else None

    def blob(self, sha256: str) -> bytes | None:
        with self.tx() as conn:
            row = conn.execute(select(blobs.c.data).where(blobs.c.sha256 == sha256)).first()
        return bytes(row.data) if row else None

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
                r.reviewer, r.opinion, r.form_no, r.source, json.loads(r.allowances), r.approved_at
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
    ) -> ApprovalResult:
        """Record sign-offs; when they reach ``required``, approve the version and write one
        delivery per channel, all in this one transaction (the outbox pattern)."""
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
                            source=source,
                            allowances=json.dumps(allowances, ensure_ascii=False),
                            approved_at=now,
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
                    source=source,
                    opinion=opinion,
                    form_no=form_no,
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
            ids = []
            for ch in channels:
                res = conn.execute(
                    insert(deliveries).values(
                        notice_id=notice_id,
                        sha256=sha256,
                        channel=ch,
                        action=Action.PUBLISH,
                        state=DeliveryState.PENDING,
                        due_at=v.publish_at,
                        next_attempt_at=v.publish_at,
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
                assert res.inserted_primary_key is not None
                ids.append(int(res.inserted_primary_key[0]))
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
            sent = conn.execute(
                select(deliveries.c.sha256, deliveries.c.channel)
                .where(
                    deliveries.c.notice_id == notice_id,
                    deliveries.c.state == DeliveryState.SENT,
                    deliveries.c.action == Action.PUBLISH,
                    deliveries.c.channel.in_(announce),
                )
                .order_by(deliveries.c.id)
            ).all()
            last_sent = {r.channel: r.sha256 for r in sent}
            for ch, sha in last_sent.items():
                res = conn.execute(
                    insert(deliveries).values(
                        notice_id=notice_id,
                        sha256=sha,
                        channel=ch,
                        action=Action.WITHDRAW,
                        state=DeliveryState.PENDING,
                        due_at=now,
                        next_attempt_at=now,
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
                assert res.inserted_primary_key is not None
                ids.append(int(res.inserted_primary_key[0]))
            self._audit(
                conn,
                now,
                "withdrawn",
                notice_id=notice_id,
                actor=actor,
                reason=reason,
                announced=list(last_sent),
            )
            return ids

    # ---------------------------------------------------------------- the outbox

    def claim(
        self, channel: str, now: datetime, lease: float, limit: int, worker: str
    ) -> list[Delivery]:
        """Take up to ``limit`` due deliveries of ``channel`` for ``lease`` seconds.

        A claim whose lease ran out (its worker died) is due again.
        """
        due = and_(
            deliveries.c.channel == channel,
            deliveries.c.due_at <= now,
            or_(
                and_(
                    deliveries.c.state == DeliveryState.PENDING, deliveries.c.next_attempt_at <= now
                ),
                and_(deliveries.c.state == DeliveryState.CLAIMED, deliveries.c.lease_until < now),
            ),
        )
        pick = (
            select(deliveries.c.id)
            .where(due)
            .order_by(deliveries.c.due_at, deliveries.c.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        stmt = (
            update(deliveries)
            .where(deliveries.c.id.in_(pick.scalar_subquery()))
            .values(
                state=DeliveryState.CLAIMED,
                claimed_by=worker,
                lease_until=now + timedelta(seconds=lease),
                updated_at=now,
            )
            .returning(*deliveries.c)
        )
        with self.tx() as conn:
            rows = conn.execute(stmt).all()
        return sorted((_delivery(r) for r in rows), key=lambda d: (d.due_at, d.id))

    def finish(
        self,
        delivery: Delivery,
        *,
        state: DeliveryState,
        now: datetime,
        attempts: int,
        next_attempt_at: datetime | None = None,
        error: str = "",
        event: str,
        parts_sent: int | None = None,
        unknowns: int | None = None,
        **detail: Any,
    ) -> None:
        """Record one attempt's result and its audit event in one transaction."""
        values: dict[str, Any] = dict(
            state=state,
            attempts=attempts,
            updated_at=now,
            lease_until=None,
            claimed_by=None,
            last_error=redact(error)[:2000],
        )
        if unknowns is not None:
            values["unknowns"] = unknowns
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        if state == DeliveryState.SENT:
            values["sent_at"] = now
        if parts_sent is not None:
            values["parts_sent"] = parts_sent
        with self.tx() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == delivery.id).values(**values))
            self._audit(
                conn,
                now,
                event,
                notice_id=delivery.notice_id,
                sha256=delivery.sha256,
                channel=delivery.channel,
                delivery_id=delivery.id,
                state=str(state),
                attempts=attempts,
                error=redact(error),
                **detail,
            )

    def release(self, ids: Iterable[int], now: datetime) -> None:
        """Give claims back unchanged (a paused channel, a shutdown)."""
        ids = list(ids)
        if not ids:
            return
        with self.tx() as conn:
            conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.id.in_(ids),
                    deliveries.c.state == DeliveryState.CLAIMED,
                )
                .values(
                    state=DeliveryState.PENDING, lease_until=None, claimed_by=None, updated_at=now
                )
            )

    def parts_sent(self, delivery_id: int) -> int:
        with self.tx() as conn:
            return int(
                conn.execute(
                    select(deliveries.c.parts_sent).where(deliveries.c.id == delivery_id)
                ).scalar()
                or 0
            )

    def set_parts_sent(self, delivery_id: int, parts: int, now: datetime) -> None:
        with self.tx() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(parts_sent=parts, updated_at=now)
            )

    def next_due(self, channels: Sequence[str], now: datetime) -> datetime | None:
        """The earliest time a pending delivery of these channels becomes due."""
        with self.tx() as conn:
            return conn.execute(
                select(func.min(deliveries.c.next_attempt_at)).where(
                    deliveries.c.channel.in_(channels), deliveries.c.state == DeliveryState.PENDING
                )
            ).scalar()

    def deliveries_of(self, notice_id: str) -> list[Delivery]:
        with self.tx() as conn:
            rows = conn.execute(
                select(deliveries)
                .where(deliveries.c.notice_id == notice_id)
                .order_by(deliveries.c.id)
            ).all()
        return [_delivery(r) for r in rows]

    def delivery_counts(self) -> dict[str, dict[str, int]]:
        with self.tx() as conn:
            rows = conn.execute(
                select(deliveries.c.channel, deliveries.c.state, func.count()).group_by(
                    deliveries.c.channel, deliveries.c.state
                )
            ).all()
        out: dict[str, dict[str, int]] = defaultdict(dict)
        for ch, state, n in rows:
            out[ch][state] = n
        return dict(out)

    def sent_before(self, notice_id: str, channel: str, sha256: str) -> str | None:
        """The sha of the version this channel carried before ``sha256``, if any."""
        with self.tx() as conn:
            row = conn.execute(
                select(deliveries.c.sha256)
                .where(
                    deliveries.c.notice_id == notice_id,
                    deliveries.c.channel == channel,
                    deliveries.c.action == Action.PUBLISH,
                    deliveries.c.state == DeliveryState.SENT,
                    deliveries.c.sha256 != sha256,
                )
                .order_by(deliveries.c.sent_at.desc())
                .limit(1)
            ).first()
        return row.sha256 if row else None

    def requeue(
        self,
        now: datetime,
        *,
        channel: str | None = None,
        notice_id: str | None = None,
        states: Sequence[DeliveryState] = (
            DeliveryState.DEAD,
            DeliveryState.FAILED,
            DeliveryState.UNKNOWN,
        ),
    ) -> int:
        cond: list[ColumnElement[bool]] = [deliveries.c.state.in_(states)]
        if channel:
            cond.append(deliveries.c.channel == channel)
        if notice_id:
            cond.append(deliveries.c.notice_id == notice_id)
        with self.tx() as conn:
            ids = [r.id for r in conn.execute(select(deliveries.c.id).where(*cond))]
            if ids:
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(ids))
                    .values(
                        state=DeliveryState.PENDING, attempts=0, next_attempt_at=now, updated_at=now
                    )
                )
                self._audit(
                    conn, now, "requeued", channel=channel, notice_id=notice_id, deliveries=ids
                )
            return len(ids)

    def make_due(self, ids: Sequence[int], now: datetime) -> None:
        """Bring pending deliveries forward to now (the manual push)."""
        with self.tx() as conn:
            conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.id.in_(list(ids)),
                    deliveries.c.state == DeliveryState.PENDING,
                )
                .values(next_attempt_at=now, updated_at=now)
            )

    # ---------------------------------------------------------------- state channels

    def live_versions(self, channel: str, now: datetime) -> list[LiveVersion]:
        """For each notice routed to ``channel``: its newest approved version, when it is live
        now (published, not expired, not withdrawn)."""
        latest = (
            select(versions.c.notice_id, func.max(versions.c.revision).label("rev"))
            .where(versions.c.approved_at.is_not(None))
            .group_by(versions.c.notice_id)
            .subquery()
        )
        routed = select(deliveries.c.sha256).where(
            deliveries.c.channel == channel,
            deliveries.c.action == Action.PUBLISH,
            deliveries.c.state.not_in([DeliveryState.CANCELLED]),
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
            .where(
                notices.c.withdrawn_at.is_(None),
                versions.c.publish_at <= now,
                or_(versions.c.expires_at.is_(None), versions.c.expires_at > now),
                versions.c.sha256.in_(routed),
            )
            .order_by(versions.c.publish_at.desc(), versions.c.notice_id)
        )
        with self.tx() as conn:
            rows = conn.execute(stmt).all()
            prev: dict[str, str] = {}
            if rows:
                older = conn.execute(
                    select(versions.c.notice_id, versions.c.sha256, versions.c.revision)
                    .where(
                        versions.c.notice_id.in_([r.notice_id for r in rows]),
                        versions.c.approved_at.is_not(None),
                    )
                    .order_by(versions.c.revision)
                ).all()
                current = {r.notice_id: r.revision for r in rows}
                for o in older:
                    if o.revision < current[o.notice_id]:
                        prev[o.notice_id] = o.sha256
        return [LiveVersion(_version(r), prev.get(r.notice_id)) for r in rows]

    def channel_state(self, channel: str) -> ChannelStateRow:
        with self.tx() as conn:
            row = conn.execute(
                select(channel_state).where(channel_state.c.channel == channel)
            ).first()
        if row is None:
            return ChannelStateRow(channel, None, None, "", None, None)
        return ChannelStateRow(
            row.channel,
            row.paused_at,
            row.paused_until,
            row.pause_reason,
            row.build_fingerprint,
            row.built_at,
        )

    def _upsert_channel(self, conn: Connection, channel: str, **values: Any) -> None:
        res = conn.execute(
            update(channel_state).where(channel_state.c.channel == channel).values(**values)
        )
        if res.rowcount == 0:
            conn.execute(insert(channel_state).values(channel=channel, **values))

    def pause_channel(
        self, channel: str, reason: str, now: datetime, until: datetime | None = None
    ) -> None:
        with self.tx() as conn:
            self._upsert_channel(
                conn, channel, paused_at=now, paused_until=until, pause_reason=redact(reason)
            )
            self._audit(
                conn,
                now,
                "channel.paused",
                channel=channel,
                reason=redact(reason),
                until=until.isoformat() if until else None,
            )

    def resume_channel(self, channel: str, now: datetime, actor: str = "") -> bool:
        with self.tx() as conn:
            row = conn.execute(
                select(channel_state.c.paused_at).where(channel_state.c.channel == channel)
            ).first()
            if row is None or row.paused_at is None:
                return False
            self._upsert_channel(conn, channel, paused_at=None, paused_until=None, pause_reason="")
            self._audit(conn, now, "channel.resumed", channel=channel, actor=actor)
            return True

    def set_build(
        self, channel: str, fingerprint: str, now: datetime, changed: Sequence[str]
    ) -> None:
        with self.tx() as conn:
            self._upsert_channel(conn, channel, build_fingerprint=fingerprint, built_at=now)
            if changed:
                self._audit(
                    conn,
                    now,
                    "build",
                    channel=channel,
                    fingerprint=fingerprint[:16],
                    files=len(changed),
                )

    # ---------------------------------------------------------------- ticks and audit

    def claim_tick(self, schedule: str, fire_time: datetime, instance: str, now: datetime) -> bool:
        """True for exactly one caller per (schedule, fire time), across all instances."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(ticks).values(
                        schedule=schedule, fire_time=fire_time, instance=instance, started_at=now
                    )
                )
            return True
        except IntegrityError:
            return False

    def audit_events(self, notice_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        stmt = select(audit).order_by(audit.c.id.desc()).limit(limit)
        if notice_id:
            stmt = stmt.where(audit.c.notice_id == notice_id)
        with self.tx() as conn:
            rows = conn.execute(stmt).all()
        return [
            {
                "at": r.at,
                "event": r.event,
                "notice_id": r.notice_id,
                "sha256": r.sha256,
                "channel": r.channel,
                "delivery_id": r.delivery_id,
                "actor": r.actor,
                "detail": json.loads(r.detail),
            }
            for r in reversed(rows)
        ]

"""Queries of the outbox: deliveries written with their approval, claims and leases, outcomes,
requeues, and sends adopted from the output's ledger."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, insert, or_, select, update

from publisher.model import Action, Delivery, DeliveryState, SentRef
from publisher.secrets import redact
from publisher.store.base import StoreBase
from publisher.store.rows import (
    _delivery,
)
from publisher.store.schema import (
    deliveries,
    delivery_key,
    delivery_row,
    versions,
)


def outbox_row(
    conn: Connection,
    notice_id: str,
    sha256: str,
    channel: str,
    action: Action,
    due: datetime,
    now: datetime,
) -> int:
    """One delivery, written in the caller's transaction (the outbox pattern). A row
    already there (a send adopted from the output's ledger) is kept as it is."""
    existing = conn.execute(
        select(deliveries.c.id).where(delivery_key(sha256, channel, action))
    ).scalar()
    if existing is not None:
        return int(existing)
    res = conn.execute(
        insert(deliveries).values(delivery_row(notice_id, sha256, channel, action, due, now))
    )
    assert res.inserted_primary_key is not None
    return int(res.inserted_primary_key[0])


class OutboxQueries(StoreBase):
    def claim(
        self,
        channel: str,
        now: datetime,
        lease: float,
        limit: int,
        worker: str,
        ids: Sequence[int] | None = None,
    ) -> list[Delivery]:
        """Take up to ``limit`` due deliveries of ``channel`` (of ``ids`` only, if given) for
        ``lease`` seconds. A claim whose lease ran out (its worker died) is due again.
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
        if ids is not None:
            due = and_(due, deliveries.c.id.in_(list(ids)))
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
            # a send that began under an earlier claim and was never recorded: its worker
            # died in between, and the message may have arrived. Count it, say so, send again.
            broken = [r for r in rows if r.send_started_at is not None]
            if broken:
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_([r.id for r in broken]))
                    .values(interrupted=deliveries.c.interrupted + 1, send_started_at=None)
                )
                for r in broken:
                    self._audit(
                        conn,
                        now,
                        "delivery.interrupted",
                        notice_id=r.notice_id,
                        sha256=r.sha256,
                        channel=r.channel,
                        delivery_id=r.id,
                        send_started_at=r.send_started_at.isoformat(),
                    )
        return sorted((_delivery(r) for r in rows), key=lambda d: (d.due_at, d.id))

    def hold(self, ids: Sequence[int], worker: str, now: datetime, lease: float) -> set[int]:
        """Of ``ids``, those this worker still holds (its claim has not run out and been
        taken by another instance), their lease renewed: a send must never go out on a
        claim that expired while the worker was busy (another instance may be sending it)."""
        if not ids:
            return set()
        with self.tx() as conn:
            rows = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.id.in_(list(ids)),
                    deliveries.c.state == DeliveryState.CLAIMED,
                    deliveries.c.claimed_by == worker,
                    deliveries.c.lease_until >= now,
                )
                .values(lease_until=now + timedelta(seconds=lease))
                .returning(deliveries.c.id)
            ).all()
        return {r.id for r in rows}

    def mark_sending(self, delivery_id: int, now: datetime) -> None:
        """Note that a send begins (kept as short as one UPDATE before the request)."""
        with self.tx() as conn:
            conn.execute(
                update(deliveries).where(deliveries.c.id == delivery_id).values(send_started_at=now)
            )

    def next_due(self, channel: str, now: datetime) -> datetime | None:
        """When the next pending delivery of ``channel`` becomes due (after now)."""
        with self.tx() as conn:
            return conn.execute(
                select(func.min(deliveries.c.next_attempt_at)).where(
                    deliveries.c.channel == channel,
                    deliveries.c.state == DeliveryState.PENDING,
                    deliveries.c.next_attempt_at > now,
                )
            ).scalar()

    def finish(
        self,
        delivery: Delivery,
        *,
        state: DeliveryState,
        now: datetime,
        attempts: int,
        event: str,
        next_attempt_at: datetime | None = None,
        error: str = "",
        parts_sent: int | None = None,
        unknowns: int | None = None,
        detail: dict[str, Any] | None = None,
        ref: str | None = None,
        pending_ref: str | None = None,
    ) -> None:
        """Record one attempt's result and its audit event in one transaction."""
        values: dict[str, Any] = dict(
            state=state,
            attempts=attempts,
            updated_at=now,
            lease_until=None,
            claimed_by=None,
            send_started_at=None,
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
        if ref is not None:
            values["ref"] = ref
        if pending_ref is not None:
            values["pending_ref"] = pending_ref
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
                **(detail or {}),
            )

    def sent_keys(self) -> set[tuple[str, str, str]]:
        """(version, channel, action) of every delivery that went out."""
        with self.tx() as conn:
            rows = conn.execute(
                select(deliveries.c.sha256, deliveries.c.channel, deliveries.c.action).where(
                    deliveries.c.state == DeliveryState.SENT
                )
            ).all()
        return {(r.sha256, r.channel, r.action) for r in rows}

    def adopt_sent(
        self,
        *,
        channel: str,
        notice_id: str,
        sha256: str,
        action: str,
        sent_at: datetime,
        now: datetime,
    ) -> bool:
        """Record a send that the output's ledger proves happened and this store does not
        know of (it was restored from an older backup, or rebuilt): it is then never sent
        again. True when the store changed."""
        why = "sent before this store was restored or rebuilt (output ledger)"
        with self.tx() as conn:
            if (
                conn.execute(
                    select(versions.c.notice_id).where(versions.c.sha256 == sha256)
                ).first()
                is None
            ):
                return False  # a version neither the store nor the items folder still has
            row = conn.execute(
                select(deliveries.c.id, deliveries.c.state).where(
                    delivery_key(sha256, channel, action)
                )
            ).first()
            if row is not None and row.state == DeliveryState.SENT:
                return False
            values: dict[str, Any] = dict(
                state=DeliveryState.SENT,
                updated_at=now,
                sent_at=sent_at,
                lease_until=None,
                claimed_by=None,
                send_started_at=None,
                last_error=why,
            )
            if row is not None:
                conn.execute(update(deliveries).where(deliveries.c.id == row.id).values(**values))
                delivery_id = row.id
            else:
                # approved after the backup: the approval is gone, the send is not; a new
                # approval of this version finds the row and leaves it sent
                row_values = delivery_row(notice_id, sha256, channel, action, sent_at, now)
                res = conn.execute(
                    insert(deliveries).values({**row_values, **values, "attempts": 1})
                )
                assert res.inserted_primary_key is not None
                delivery_id = res.inserted_primary_key[0]
            self._audit(
                conn,
                now,
                "delivery.ledger",
                notice_id=notice_id,
                sha256=sha256,
                channel=channel,
                delivery_id=delivery_id,
                sent_at=sent_at.isoformat(),
            )
        return True

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
                    state=DeliveryState.PENDING,
                    lease_until=None,
                    claimed_by=None,
                    updated_at=now,
                    send_started_at=None,  # given back before it was sent
                )
            )

    def set_parts_sent(
        self, delivery_id: int, parts: int, now: datetime, ref: str | None = None
    ) -> None:
        values: dict[str, Any] = dict(parts_sent=parts, updated_at=now, send_started_at=None)
        if ref is not None:
            values["ref"] = ref
        with self.tx() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))

    def sent_refs(self, notice_id: str, channel: str) -> list[SentRef]:
        """What ``channel``'s target answered for each version of the notice it took (oldest
        first), and publishes it had accepted but not finished when they were cancelled (a
        withdrawal must still take those back)."""
        with self.tx() as conn:
            rows = conn.execute(
                select(
                    deliveries.c.ref,
                    deliveries.c.pending_ref,
                    deliveries.c.state,
                    deliveries.c.sent_at,
                    deliveries.c.updated_at,
                )
                .where(
                    deliveries.c.notice_id == notice_id,
                    deliveries.c.channel == channel,
                    deliveries.c.action == Action.PUBLISH,
                    or_(deliveries.c.ref != "", deliveries.c.pending_ref != ""),
                )
                .order_by(deliveries.c.id)
            ).all()
        out: list[SentRef] = []
        for r in rows:
            at = r.sent_at or r.updated_at
            out.extend(SentRef(line, at) for line in r.ref.splitlines() if line)
            if r.pending_ref and r.state != DeliveryState.SENT:
                out.append(SentRef(r.pending_ref, r.updated_at, pending=True))
        return out

    def nudge(self, channel: str, pending_ref_part: str, now: datetime) -> int:
        """Make the pending deliveries of ``channel`` whose accepted message contains
        ``pending_ref_part`` due now (the target said it finished); how many there were."""
        with self.tx() as conn:
            res = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.channel == channel,
                    deliveries.c.state == DeliveryState.PENDING,
                    deliveries.c.pending_ref.contains(pending_ref_part, autoescape=True),
                )
                .values(next_attempt_at=now, updated_at=now)
            )
            return int(res.rowcount or 0)

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

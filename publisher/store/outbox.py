"""Queries of the outbox: deliveries written with their approval, claims and leases, outcomes,
requeues, and sends adopted from the output's ledger."""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)

from publisher.model import Action, Delivery, DeliveryState, SentRef
from publisher.secrets import redact
from publisher.store.ratelimits import RateLimitQueries, Taken
from publisher.store.rows import (
    NoticeRow,
    VersionRow,
    _delivery,
    _version,
)
from publisher.store.schema import (
    audit,
    deliveries,
    delivery_key,
    delivery_row,
    index_numbers,
    notices,
    versions,
)

# a send's stamp in a robot's window, to move to the time the send ended (``used``) in the
# transaction that records its outcome: (robot key, stamp, the window's time or None for the
# database's clock)
Used = tuple[str, float, datetime | None]


@dataclass(frozen=True)
class SendContext:
    """What sending a claimed batch reads from the store, read once for the batch: each
    notice (withdrawn or not), each version, and for each delivery the version its channel
    carried before (deliveries not in ``previous`` ask ``sent_before`` at their turn: a
    batch holding two of one notice, whose first may go out before the second is sent)."""

    notices: dict[str, NoticeRow] = field(default_factory=dict)
    versions: dict[str, VersionRow] = field(default_factory=dict)
    previous: dict[int, str | None] = field(default_factory=dict)


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


T = TypeVar("T")

# the statements of every send, built once: executed with their parameters, SQLAlchemy finds
# them compiled in its cache without building and hashing them again
_UPDATE_BY_ID = update(deliveries).where(deliveries.c.id == bindparam("b_id"))
_HOLD_AND_MARK = (
    update(deliveries)
    .where(
        deliveries.c.id == bindparam("b_id"),
        deliveries.c.state == DeliveryState.CLAIMED,
        deliveries.c.claimed_by == bindparam("b_worker"),
        deliveries.c.lease_until >= bindparam("b_now"),
    )
    .values(lease_until=bindparam("b_lease"), send_started_at=bindparam("b_now"))
    .returning(deliveries.c.id)
)
_INSERT_AUDIT = insert(audit)


class _Op:
    __slots__ = ("done", "error", "fn", "result")

    def __init__(self, fn: Callable[[Connection], Any]) -> None:
        self.fn = fn
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    """The outbox's write transactions of one process's sending threads, run together: a
    thread that finds none running commits every one queued so far (its own among them) in
    one transaction, the others wait for it and then find theirs done.

    On SQLite all writers take one lock. Sixteen threads that each begin their own
    ``BEGIN IMMEDIATE`` meet its busy handler, which sleeps 1, 2, 5, 10 … ms before trying
    again while the lock sits free, and each holds the lock across a dozen hand-overs of the
    GIL; the fan-out spent most of its time there. Each queued write keeps its own meaning
    (the transaction holds all of it or none); if the shared transaction fails, each write
    is tried again alone, so an error reaches only the caller whose write caused it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[_Op] = []
        self._leading = False
        self.transactions = 0  # how many it committed (benchmarks look)
        self.writes = 0

    def run(self, tx: Callable[[], Any], fn: Callable[[Connection], T]) -> T:
        op = _Op(fn)
        with self._cond:
            self._queue.append(op)
            while not op.done:
                if self._leading:
                    self._cond.wait()
                    continue
                self._leading = True
                ops, self._queue = self._queue, []
                self._cond.release()
                try:
                    self._commit(tx, ops)
                finally:
                    self._cond.acquire()
                    for o in ops:  # interrupted (KeyboardInterrupt): nobody waits forever
                        if not o.done:
                            o.error = RuntimeError("the shared store transaction was interrupted")
                            o.done = True
                    self._leading = False
                    self._cond.notify_all()
        if op.error is not None:
            raise op.error
        result: T = op.result
        return result

    def _commit(self, tx: Callable[[], Any], ops: list[_Op]) -> None:
        try:
            with tx() as conn:
                results = [o.fn(conn) for o in ops]
        except Exception as exc:
            if len(ops) == 1:
                ops[0].error = exc
                ops[0].done = True
                return
            for o in ops:  # one of them failed: each alone, so the error finds its caller
                try:
                    with tx() as conn:
                        o.result = o.fn(conn)
                except Exception as one:
                    o.error = one
                o.done = True
                self.transactions += 1
            return
        for o, r in zip(ops, results, strict=True):
            o.result = r
            o.done = True
        self.transactions += 1
        self.writes += len(ops)


class SendingQueries(RateLimitQueries):
    """What a send writes: its claim held and marked, its robot's token, its outcome; run
    together with the other sending threads' writes on SQLite (``GroupCommit``)."""

    @property
    def group_commit(self) -> GroupCommit:
        group: GroupCommit = self.__dict__.setdefault("_group_commit", GroupCommit())
        return group

    def _write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a write transaction: on SQLite together with the other sending
        threads' (``GroupCommit``); on PostgreSQL, whose row locks let writers run side by
        side, in one of its own."""
        if self.dialect == "sqlite":
            return self.group_commit.run(self.tx, fn)
        with self.tx() as conn:
            return fn(conn)

    def hold(self, ids: Sequence[int], worker: str, now: datetime, lease: float) -> set[int]:
        """Of ``ids``, those this worker still holds (its claim has not run out and been
        taken by another instance), their lease renewed: a send must never go out on a
        claim that expired while the worker was busy (another instance may be sending it)."""
        if not ids:
            return set()

        def write(conn: Connection) -> set[int]:
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

        return self._write(write)

    def begin_send(
        self,
        delivery_id: int,
        worker: str,
        now: datetime,
        lease: float,
        robot: str = "",
        limits: Sequence[tuple[int, float]] = (),
        window_now: datetime | None = None,
    ) -> Taken | None:
        """``hold``, a send taken from ``robot``'s window (when it has ``limits``) and
        ``mark_sending``, in one transaction. None when this worker no longer holds the
        delivery (nothing taken); a ``Taken`` with ``free_at`` when the window is full (the
        delivery is then given back, as ``release`` does); else the send may go (``stamp``:
        its place in the window, 0.0 without limits)."""
        if limits:
            self._ensure_row(robot)

        hold = {
            "b_id": delivery_id,
            "b_worker": worker,
            "b_now": now,
            "b_lease": now + timedelta(seconds=lease),
        }

        def write(conn: Connection) -> Taken | None:
            if conn.execute(_HOLD_AND_MARK, hold).first() is None:
                return None
            taken = self.take_in(conn, robot, limits, window_now) if limits else Taken(0.0, None)
            if taken.free_at is not None:
                conn.execute(
                    _UPDATE_BY_ID,
                    dict(
                        b_id=delivery_id,
                        state=DeliveryState.PENDING,
                        lease_until=None,
                        claimed_by=None,
                        updated_at=now,
                        send_started_at=None,  # given back before it was sent
                    ),
                )
            return taken

        return self._write(write)

    def send_context(self, channel: str, batch: Sequence[Delivery]) -> SendContext:
        """The notices, versions and previously carried versions of a claimed batch, in one
        read (see ``SendContext``)."""
        if not batch:
            return SendContext()
        ids = sorted({d.notice_id for d in batch})
        shas = sorted({d.sha256 for d in batch})
        with self.read() as conn:
            notice_rows = conn.execute(select(notices).where(notices.c.id.in_(ids))).all()
            version_rows = conn.execute(
                select(versions, index_numbers.c.index_no)
                .outerjoin(index_numbers, index_numbers.c.notice_id == versions.c.notice_id)
                .where(versions.c.sha256.in_(shas))
            ).all()
            sent = conn.execute(
                select(deliveries.c.notice_id, deliveries.c.sha256)
                .where(
                    deliveries.c.notice_id.in_(ids),
                    deliveries.c.channel == channel,
                    deliveries.c.action == Action.PUBLISH,
                    deliveries.c.state == DeliveryState.SENT,
                )
                .order_by(deliveries.c.sent_at.desc())
            ).all()
        ctx = SendContext(
            {
                r.id: NoticeRow(
                    r.id,
                    r.source,
                    r.current_sha,
                    r.first_seen_at,
                    r.withdrawn_at,
                    r.withdraw_reason,
                )
                for r in notice_rows
            },
            {r.sha256: _version(r) for r in version_rows},
        )
        once = Counter(d.notice_id for d in batch)
        for d in batch:
            if once[d.notice_id] == 1:
                ctx.previous[d.id] = next(
                    (r.sha256 for r in sent if r.notice_id == d.notice_id and r.sha256 != d.sha256),
                    None,
                )
        return ctx

    def mark_sending(self, delivery_id: int, now: datetime) -> None:
        """Note that a send begins (kept as short as one UPDATE before the request)."""
        self._write(
            lambda conn: conn.execute(
                update(deliveries).where(deliveries.c.id == delivery_id).values(send_started_at=now)
            )
        )

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
        used: Used | None = None,
    ) -> None:
        """Record one attempt's result and its audit event in one transaction (with
        ``used``: the send's stamp moved in its robot's window, in the same one)."""
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

        values["b_id"] = delivery.id
        # the audit event as ``_audit`` writes it, with statements built once (building and
        # hashing a statement per call was most of a delivery's store work)
        event_row = dict(
            at=now,
            event=event,
            notice_id=delivery.notice_id,
            sha256=delivery.sha256,
            channel=delivery.channel,
            delivery_id=delivery.id,
            actor="",
            detail=redact(
                json.dumps(
                    {
                        "state": str(state),
                        "attempts": attempts,
                        "error": redact(error),
                        **(detail or {}),
                    },
                    ensure_ascii=False,
                    default=str,
                )
            ),
        )

        def write(conn: Connection) -> None:
            conn.execute(_UPDATE_BY_ID, values)
            conn.execute(_INSERT_AUDIT, event_row)
            if used is not None:
                self.used_in(conn, *used)

        self._write(write)

    def set_parts_sent(
        self,
        delivery_id: int,
        parts: int,
        now: datetime,
        ref: str | None = None,
        used: Used | None = None,
    ) -> None:
        values: dict[str, Any] = dict(parts_sent=parts, updated_at=now, send_started_at=None)
        if ref is not None:
            values["ref"] = ref

        def write(conn: Connection) -> None:
            conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))
            if used is not None:
                self.used_in(conn, *used)

        self._write(write)


class OutboxQueries(SendingQueries):
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

        def write(conn: Connection) -> list[Any]:
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
            return list(rows)

        rows = self._write(write)
        return sorted((_delivery(r) for r in rows), key=lambda d: (d.due_at, d.id))

    def next_due(self, channel: str, now: datetime) -> datetime | None:
        """When the next pending delivery of ``channel`` becomes due (after now)."""
        with self.read() as conn:
            return conn.execute(
                select(func.min(deliveries.c.next_attempt_at)).where(
                    deliveries.c.channel == channel,
                    deliveries.c.state == DeliveryState.PENDING,
                    deliveries.c.next_attempt_at > now,
                )
            ).scalar()

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
        self._write(
            lambda conn: conn.execute(
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
        )

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
        with self.read() as conn:
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

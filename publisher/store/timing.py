"""Queries about time: robots' rate windows, when things fall due, signage alerts, and the
figures behind /metrics."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..model import Action, Alert, DeliveryState
from .base import StoreBase
from .schema import (
    deliveries,
    rate_windows,
    signage_alerts,
    versions,
)


class TimingQueries(StoreBase):
    # ---------------------------------------------------------------- rate limits

    def _window(self, conn: Connection, robot: str, horizon: float, ts: float) -> list[float]:
        stmt = select(rate_windows.c.sends).where(rate_windows.c.robot == robot)
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).first()
        if row is None:
            return []
        return sorted(t for t in json.loads(row.sends) if t > ts - horizon)

    def take_token(
        self, robot: str, limits: Sequence[tuple[int, float]], now: datetime
    ) -> datetime | None:
        """Count a send to ``robot`` if every limit (sends per seconds) allows one now.

        None when the send may go; otherwise the time the next one may. The window lives in
        the store, so every instance sharing it keeps one robot within its limits together.
        """
        if not limits:
            return None
        ts = now.timestamp()
        horizon = max(seconds for _, seconds in limits)
        if self.dialect == "postgresql":  # make sure a row exists to lock
            with contextlib.suppress(IntegrityError), self.tx() as conn:
                if (
                    conn.execute(
                        select(rate_windows.c.robot).where(rate_windows.c.robot == robot)
                    ).first()
                    is None
                ):
                    conn.execute(insert(rate_windows).values(robot=robot, sends="[]"))
        with self.tx() as conn:
            sends = self._window(conn, robot, horizon, ts)
            free_at: float | None = None
            for count, seconds in limits:
                recent = [t for t in sends if t > ts - seconds]
                if len(recent) >= count:
                    # the next send may go when the count-th latest leaves the window
                    at = recent[-count] + seconds
                    free_at = at if free_at is None else max(free_at, at)
            if free_at is not None:
                return datetime.fromtimestamp(free_at, UTC)
            sends.append(ts)
            data = json.dumps([round(t, 6) for t in sends])
            res = conn.execute(
                update(rate_windows).where(rate_windows.c.robot == robot).values(sends=data)
            )
            if res.rowcount == 0:
                conn.execute(insert(rate_windows).values(robot=robot, sends=data))
            return None

    def rate_budget(self, robot: str, limits: Sequence[tuple[int, float]], now: datetime) -> int:
        """How many sends ``robot`` may take right now (without taking them)."""
        if not limits:
            return 1_000_000
        ts = now.timestamp()
        with self.tx() as conn:
            sends = self._window(conn, robot, max(s for _, s in limits), ts)
        return max(
            0, min(count - sum(1 for t in sends if t > ts - seconds) for count, seconds in limits)
        )

    # ---------------------------------------------------------------- exact times

    def next_change(self, channel: str, now: datetime) -> datetime | None:
        """The next moment the live set of ``channel`` changes by itself: an approved version
        reaching its publish time, a live one expiring, a signage alert starting or ending."""
        routed = select(deliveries.c.sha256).where(
            deliveries.c.channel == channel,
            deliveries.c.action == Action.PUBLISH,
            deliveries.c.state.not_in([DeliveryState.CANCELLED, DeliveryState.SUPERSEDED]),
        )
        with self.tx() as conn:
            publish = conn.execute(
                select(func.min(versions.c.publish_at)).where(
                    versions.c.sha256.in_(routed),
                    versions.c.approved_at.is_not(None),
                    versions.c.publish_at > now,
                )
            ).scalar()
            expire = conn.execute(
                select(func.min(versions.c.expires_at)).where(
                    versions.c.sha256.in_(routed),
                    versions.c.approved_at.is_not(None),
                    versions.c.expires_at > now,
                )
            ).scalar()
            alert = conn.execute(
                select(func.min(signage_alerts.c.until)).where(
                    signage_alerts.c.cleared_at.is_(None), signage_alerts.c.until > now
                )
            ).scalar()
            start = conn.execute(
                select(func.min(signage_alerts.c.starts)).where(
                    signage_alerts.c.cleared_at.is_(None), signage_alerts.c.starts > now
                )
            ).scalar()
        times = [t for t in (publish, expire, alert, start) if t is not None]
        return min(times) if times else None

    # ---------------------------------------------------------------- signage alerts

    def add_alert(
        self,
        text: str,
        starts: datetime,
        until: datetime,
        profiles: Sequence[str],
        actor: str,
        now: datetime,
    ) -> int:
        with self.tx() as conn:
            res = conn.execute(
                insert(signage_alerts).values(
                    text=text,
                    starts=starts,
                    until=until,
                    profiles=json.dumps(list(profiles)),
                    created_at=now,
                    created_by=actor,
                )
            )
            assert res.inserted_primary_key is not None
            alert_id = int(res.inserted_primary_key[0])
            self._audit(
                conn,
                now,
                "alert.signage",
                actor=actor,
                id=alert_id,
                text=text,
                until=until.isoformat(),
                profiles=list(profiles),
            )
            return alert_id

    def clear_alerts(self, ids: Sequence[int] | None, actor: str, now: datetime) -> int:
        cond = [signage_alerts.c.cleared_at.is_(None)]
        if ids is not None:
            cond.append(signage_alerts.c.id.in_(list(ids)))
        with self.tx() as conn:
            res = conn.execute(
                update(signage_alerts).where(*cond).values(cleared_at=now, cleared_by=actor)
            )
            if res.rowcount:
                self._audit(conn, now, "alert.cleared", actor=actor, ids=list(ids or []))
            return int(res.rowcount)

    def alerts(self, now: datetime, active_only: bool = True) -> list[Alert]:
        stmt = select(signage_alerts).order_by(signage_alerts.c.id)
        if active_only:
            stmt = stmt.where(
                signage_alerts.c.cleared_at.is_(None),
                signage_alerts.c.starts <= now,
                signage_alerts.c.until > now,
            )
        with self.tx() as conn:
            rows = conn.execute(stmt).all()
        return [Alert(r.id, r.text, r.starts, r.until, tuple(json.loads(r.profiles))) for r in rows]

    # ---------------------------------------------------------------- figures for /metrics

    def queue_depth(self, now: datetime) -> dict[str, int]:
        """Deliveries due now and not yet done, per channel."""
        with self.tx() as conn:
            rows = conn.execute(
                select(deliveries.c.channel, func.count())
                .where(
                    deliveries.c.state.in_([DeliveryState.PENDING, DeliveryState.CLAIMED]),
                    deliveries.c.due_at <= now,
                )
                .group_by(deliveries.c.channel)
            ).all()
        return {ch: int(n) for ch, n in rows}

    def publish_lags(self, since: datetime) -> dict[str, list[float]]:
        """Seconds from due to sent, per channel, for deliveries sent since ``since``."""
        with self.tx() as conn:
            rows = conn.execute(
                select(deliveries.c.channel, deliveries.c.due_at, deliveries.c.sent_at).where(
                    deliveries.c.state == DeliveryState.SENT,
                    deliveries.c.sent_at >= since,
                    deliveries.c.action == Action.PUBLISH,
                )
            ).all()
        out: dict[str, list[float]] = {}
        for ch, due, sent in rows:
            out.setdefault(ch, []).append(max(0.0, (sent - due).total_seconds()))
        return out

"""Signage alerts: the emergency slides in front of everything on the screens."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select, update

from publisher.model import Alert
from publisher.store.base import StoreBase
from publisher.store.schema import (
    signage_alerts,
)


class SignageAlertQueries(StoreBase):
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

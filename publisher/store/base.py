"""The store's foundation: the engine, schema checks, transactions, audit events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from ..errors import SchemaError, StoreError
from ..model import redact
from . import db
from .rows import *  # noqa: F403
from .schema import (
    audit,
    ticks,
)


class StoreBase:
    """Connection, schema, transactions and the audit log; the query mixins build on it."""

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

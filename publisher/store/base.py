"""The store's foundation: the engine, schema checks, transactions, audit events."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from publisher.errors import SchemaError, StoreError
from publisher.secrets import redact
from publisher.store import db
from publisher.store.schema import (
    audit,
    notices,
    store_meta,
    ticks,
)

log = logging.getLogger("publisher.store")


class StoreBase:
    """Connection, schema, transactions and the audit log; the query mixins build on it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = db.make_engine(url)
        self.path = db.sqlite_path(url)  # None for PostgreSQL and in-memory SQLite
        self._file_id: tuple[int, int] | None = None  # taken once the schema is there

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # ---------------------------------------------------------------- schema

    def upgrade(self) -> None:
        db.upgrade(self.engine)

    def ensure_schema(self, create_empty: bool = True) -> None:
        """Refuse to run on a schema this code does not match, with the command that fixes it.

        An empty database is created when ``create_empty`` (one machine, SQLite); an older
        schema is never upgraded implicitly: with several instances, upgrading is a deliberate
        step (`publisher db upgrade`), and a newer one means this program is out of date."""
        problem = db.check_schema(self.engine)
        if problem is not None:
            if not (create_empty and db.current_revision(self.engine) is None):
                raise SchemaError(problem)
            self.upgrade()
        self.check_file()  # notes which file this store is, to notice it being deleted

    def close(self) -> None:
        self.engine.dispose()

    # ---------------------------------------------------------------- identity

    def store_id(self) -> str:
        """The random id this database was given when it was created (kept by backups)."""
        with self.tx() as conn:
            value = conn.execute(
                select(store_meta.c.value).where(store_meta.c.key == "store_id")
            ).scalar()
        if value is None:  # created by hand without the migration's row: name it now
            raise StoreError("the store has no store_id (run `publisher db upgrade`)")
        return str(value)

    def meta(self, key: str, make: Callable[[], str]) -> str:
        """A value kept with the database (the console's session key), made once, the same
        for every instance."""
        with self.tx() as conn:
            value = conn.execute(select(store_meta.c.value).where(store_meta.c.key == key)).scalar()
            if value is None:
                value = make()
                conn.execute(insert(store_meta).values(key=key, value=value))
        return str(value)

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as conn:
            done = conn.execute(
                update(store_meta).where(store_meta.c.key == key).values(value=value)
            ).rowcount
            if not done:
                conn.execute(insert(store_meta).values(key=key, value=value))

    def metas(self, prefix: str) -> dict[str, str]:
        with self.tx() as conn:
            rows = conn.execute(
                select(store_meta.c.key, store_meta.c.value).where(
                    store_meta.c.key.startswith(prefix)
                )
            ).all()
        return {r[0][len(prefix) :]: r[1] for r in rows}

    def is_empty(self) -> bool:
        """True when the store has never seen a notice."""
        with self.tx() as conn:
            return conn.execute(select(notices.c.id).limit(1)).first() is None

    def check_file(self) -> None:
        """Raise when the SQLite file was deleted or replaced since this store opened it:
        the open connections would go on writing to a file nobody will ever read again, and
        new ones would start an empty database that republishes from nothing."""
        if self.path is None:
            return
        now = db.file_identity(self.path)
        if self._file_id is None:
            self._file_id = now
            return
        if now != self._file_id:
            what = "deleted" if now is None else "replaced"
            raise StoreError(
                f"the database file {self.path} was {what} while the bot was running; "
                "nothing more is published from it. Stop the bot, then restore a backup "
                "(`publisher db restore FILE`, see docs/OPERATIONS.md)"
            )

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreError(f"store error: {redact(str(exc.orig))}") from None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: on SQLite it takes no write lock (``tx`` does, from its
        first statement), so many readers never queue behind each other or a writer."""
        try:
            with self.engine.execution_options(publisher_read_only=True).begin() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreError(f"store error: {redact(str(exc.orig))}") from None

    # ---------------------------------------------------------------- waking other instances

    CHANNEL = "publisher_outbox"

    def notify(self, conn: Connection) -> None:
        """Wake idle instances (PostgreSQL NOTIFY, delivered when this transaction commits)."""
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_notify(:c, '')"), {"c": self.CHANNEL})

    def listen(
        self,
        wake: Callable[[], None],
        stop: threading.Event,
        ready: threading.Event | None = None,
    ) -> None:
        """Call ``wake`` whenever another instance approves or withdraws (PostgreSQL only;
        polling stays the fallback). Runs until ``stop`` is set; reconnects after errors.
        ``ready`` is set once LISTEN is in place."""
        if self.dialect != "postgresql":
            return
        import psycopg

        dsn = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        while not stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {self.CHANNEL}")
                    if ready is not None:
                        ready.set()
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            wake()
            except psycopg.Error as exc:
                log.warning(
                    "listening for other instances failed (%s); polling only for 5 s",
                    redact(str(exc)),
                )
                stop.wait(5)

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

"""Connecting to the database and keeping its schema at this code's revision."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from publisher.errors import SchemaError, StoreError
from publisher.secrets import redact

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases and ``:memory:``)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1] if "///" in url else ""
    return Path(path) if path and path != ":memory:" else None


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a file, None when it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def make_engine(url: str) -> Engine:
    """An engine with the settings each database needs for our claim strategy."""
    try:
        if url.startswith("sqlite"):
            path = sqlite_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            # pooled: opening a SQLite connection (and its PRAGMAs) per query costs milliseconds
            engine = create_engine(
                url,
                pool_size=8,
                max_overflow=8,
                connect_args={"timeout": 30, "check_same_thread": False},
            )
            _sqlite_setup(engine)
            return engine
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"cannot use store URL {redact(url)!r}: {exc}") from None
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"the database driver {exc.name!r} is not installed "
            "(for PostgreSQL: pip install 'disclosure-publisher[postgres]')"
        ) from None


def _sqlite_setup(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot do BEGIN IMMEDIATE; take it
    # over, so every write transaction holds the write lock from its first statement and two
    # processes can never claim the same delivery.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # a read-only transaction (Store.read) takes no lock: WAL readers never wait for or
        # hold up a writer, so a busy public search cannot delay publishing
        read = conn.get_execution_options().get("publisher_read_only", False)
        conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")


def _alembic_config(connection: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        rev: str | None = MigrationContext.configure(conn).get_current_revision()
        conn.rollback()
        return rev


def check_schema(engine: Engine) -> str | None:
    """None when the schema is current; otherwise what is wrong, as a sentence."""
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        raise StoreError(f"cannot reach the store: {redact(str(exc.orig))}") from None
    head = head_revision()
    if current == head:
        return None
    if current is None:
        return "the database has no schema yet (run `publisher db upgrade`)"
    known = {s.revision for s in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    if current not in known:
        raise SchemaError(
            f"the database schema is at revision {current}, newer than this program knows "
            f"({head}); upgrade disclosure-publisher instead of running an old copy on it"
        )
    return f"the database schema is at revision {current}; run `publisher db upgrade` ({head})"


def upgrade(engine: Engine) -> None:
    check_schema(engine)  # refuses a newer schema before touching anything
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "head")
    except OperationalError as exc:
        raise StoreError(f"schema upgrade failed: {redact(str(exc.orig))}") from None

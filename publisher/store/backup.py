"""Backing up and restoring the store: SQLite through its online backup API (a consistent copy
while the bot runs, WAL included), PostgreSQL through ``pg_dump``/``pg_restore`` (custom
format), so a backup is always one file and a restore always checks it before touching
anything."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from publisher.errors import StoreError
from publisher.secrets import redact
from publisher.store.db import head_revision, make_engine, sqlite_path
from publisher.store.schema import store_meta


@dataclass(frozen=True)
class BackupInfo:
    file: Path
    store_id: str
    revision: str
    notices: int
    size: int


def suffix_for(url: str) -> str:
    return ".db" if sqlite_path(url) is not None else ".dump"


def backup(url: str, dest: Path) -> BackupInfo:
    """Write a backup of the store at ``url`` to ``dest`` (atomically: a reader never sees
    half a backup) and check it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        path = sqlite_path(url)
        if path is not None:
            if not path.is_file():
                raise StoreError(f"there is no database at {path} to back up")
            _sqlite_copy(path, tmp)
            info = inspect_sqlite(tmp)
        else:
            _pg(["pg_dump", "--format=custom", "--no-owner", "--file", str(tmp)], url)
            info = _inspect_dump(tmp, url)
        os.replace(tmp, dest)
    except OSError as exc:
        raise StoreError(f"cannot write the backup {dest}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return BackupInfo(dest, info.store_id, info.revision, info.notices, dest.stat().st_size)


def restore(url: str, src: Path, now: datetime) -> tuple[BackupInfo, Path | None]:
    """Replace the store at ``url`` with the backup ``src``; → (what was restored, where the
    replaced SQLite database was kept, if there was one). The bot must be stopped."""
    if not src.is_file():
        raise StoreError(f"there is no backup file {src}")
    path = sqlite_path(url)
    if path is None:
        info = _inspect_dump(src, url)
        _pg(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                str(src),
            ],
            url,
        )
        return BackupInfo(src, info.store_id, info.revision, info.notices, src.stat().st_size), None
    info = inspect_sqlite(src)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = None
    if path.is_file() and path.stat().st_size > 0:
        # the database being replaced may be the only copy of something: keep it
        kept = path.with_name(f"{path.name}.before-restore-{now:%Y%m%d-%H%M%S}")
        _sqlite_copy(path, kept)
    tmp = path.with_name(f".{path.name}.restore.tmp")
    try:
        _sqlite_copy(src, tmp)
        # the old database's write-ahead log must not be replayed into the restored one
        for extra in ("-wal", "-shm", "-journal"):
            Path(f"{path}{extra}").unlink(missing_ok=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return info, kept


def running_instances(url: str, now: datetime, within: float) -> list[tuple[str, datetime]]:
    """The instances (``publisher run``) that noted a pass in the store at ``url`` within
    ``within`` seconds of ``now``, newest first; an instance of this machine whose process is
    gone does not count (it was stopped). None when there is no store there yet."""
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        return []
    engine = make_engine(url)
    try:
        if not inspect(engine).has_table("store_meta"):
            return []
        with engine.connect() as conn:
            rows = conn.execute(
                select(store_meta.c.key, store_meta.c.value).where(
                    store_meta.c.key.startswith("instance:")
                )
            ).all()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the store: {redact(str(exc))}") from None
    finally:
        engine.dispose()
    seen = []
    for key, value in rows:
        name = str(key)[len("instance:") :]
        try:
            at = datetime.fromisoformat(str(value))
        except ValueError:
            continue
        if at.tzinfo is None or at <= now - timedelta(seconds=within):
            continue
        host, _, pid = name.rpartition(":")
        if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
            continue
        seen.append((name, at))
    return sorted(seen, key=lambda x: x[1], reverse=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _sqlite_copy(src: Path, dest: Path) -> None:
    dest.unlink(missing_ok=True)
    try:
        source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
        try:
            target = sqlite3.connect(dest)
            try:
                source.backup(target)
                # one self-contained file, whatever journal mode the live database uses
                target.execute("PRAGMA journal_mode=DELETE")
            finally:
                target.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot copy the database {src}: {exc}") from None


def inspect_sqlite(file: Path) -> BackupInfo:
    """Check ``file`` is a sound SQLite database of this program; → what it holds."""
    try:
        conn = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA quick_check").fetchone()
            if not ok or ok[0] != "ok":
                raise StoreError(f"{file} is damaged ({ok[0] if ok else 'no answer'})")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if not {"alembic_version", "notices"} <= tables:
                raise StoreError(f"{file} is a SQLite file, but not a disclosure-publisher store")
            revision = str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])
            store_id = ""
            if "store_meta" in tables:
                row = conn.execute("SELECT value FROM store_meta WHERE key='store_id'").fetchone()
                store_id = str(row[0]) if row else ""
            n = int(conn.execute("SELECT count(*) FROM notices").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{file} is not a usable SQLite database: {exc}") from None
    _check_revision(file, revision)
    return BackupInfo(file, store_id, revision, n, file.stat().st_size)


def _inspect_dump(file: Path, url: str) -> BackupInfo:
    listing = _pg(["pg_restore", "--list", str(file)], url, connect=False)
    if " TABLE " not in listing or " notices " not in listing:
        raise StoreError(f"{file} is a PostgreSQL dump, but not of a disclosure-publisher store")
    # what the dump holds is read back after a restore; the listing says only what it is
    return BackupInfo(file, "", "", -1, file.stat().st_size)


def _check_revision(file: Path, revision: str) -> None:
    from alembic.script import ScriptDirectory

    from publisher.store.db import MIGRATIONS

    known = {s.revision for s in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    if revision not in known:
        raise StoreError(
            f"{file} was made by a newer disclosure-publisher (schema {revision}; this one "
            f"knows up to {head_revision()}); restore it with that version"
        )


def _pg(args: list[str], url: str, *, connect: bool = True) -> str:
    """Run a PostgreSQL client tool; the password goes in the environment, never argv."""
    tool = args[0]
    if shutil.which(tool) is None:
        raise StoreError(f"{tool} is not installed (Debian: apt install postgresql-client)")
    env = dict(os.environ)
    cmd = list(args)
    if connect:
        u = make_url(url)
        if u.password:
            env["PGPASSWORD"] = str(u.password)
        conn = [f"--host={u.host or 'localhost'}", f"--port={u.port or 5432}"]
        if u.username:
            conn.append(f"--username={u.username}")
        conn.append(f"--dbname={u.database}")
        cmd[1:1] = conn
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    except subprocess.TimeoutExpired:
        raise StoreError(f"{tool} did not finish within an hour") from None
    if done.returncode != 0:
        raise StoreError(f"{tool} failed: {redact(done.stderr.strip())[:500]}")
    return done.stdout

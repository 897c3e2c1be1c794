"""The store on both databases: the schema, the append-only audit log, claims and leases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text, update

from publisher.errors import SchemaError, StoreError
from publisher.model import Action, DeliveryState
from publisher.store import Store
from publisher.store.schema import audit, metadata

from .helpers import START, reset_pg


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/store.db"
    else:
        url = request.getfixturevalue("pg_url")
        reset_pg(url)
    s = Store(url)
    s.upgrade()
    yield s
    s.close()


def seed(store: Store, n: int = 1, channel: str = "c", publish_at: datetime = START) -> list[int]:
    ids: list[int] = []
    for i in range(n):
        sha = f"{i:064x}"
        store.save_version(
            notice_id=f"n{i}",
            source=f"n{i}.md",
            sha256=sha,
            canonical="{}",
            title="t",
            category="zsks",
            item=7,
            publish_at=publish_at,
            expires_at=None,
            now=START,
        )
        res = store.approve(
            notice_id=f"n{i}",
            sha256=sha,
            reviewers=["r"],
            opinion="",
            form_no="",
            source="cli",
            allowances=[],
            required=1,
            channels=[channel],
            now=START,
        )
        ids += res.deliveries
    return ids


def _declared(name: str | None, type_: str, *_: object) -> bool:
    # the FTS5 table (and its shadow tables) is created by migrations 0008–0009 on SQLite only; it
    # cannot be declared in SQLAlchemy's metadata, nor PostgreSQL's GIN index on an expression;
    # the test checks they are there
    if type_ == "index" and name == "ix_search_docs_tsv":
        return False
    return not (type_ == "table" and name is not None and name.startswith("search_fts"))


def test_migrations_create_exactly_the_declared_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": _declared}
        )
        diff = compare_metadata(ctx, metadata)
    assert diff == []
    if store.dialect == "sqlite":
        with store.engine.connect() as conn:
            names = {
                r[0]
                for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")
            }
        assert "search_fts" in names
    else:
        with store.engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_search_docs_tsv'"
            ).scalar()
        assert found is not None and "gin" in found


def test_audit_log_is_append_only(store: Store) -> None:
    store.audit(START, "test.event", notice_id="n0", note="x")
    with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
        conn.execute(update(audit).values(event="rewritten"))
    with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
        conn.execute(audit.delete())
    assert store.audit_events()[-1]["event"] == "test.event"


def test_datetimes_come_back_zone_aware(store: Store) -> None:
    seed(store)
    v = store.latest_approved("n0")
    assert v is not None and v.publish_at == START and v.publish_at.tzinfo is not None


def test_claim_takes_only_due_work_and_honours_leases(store: Store) -> None:
    seed(store, 2)
    seed_future = START + timedelta(hours=1)
    store.save_version(
        notice_id="later",
        source="",
        sha256="f" * 64,
        canonical="{}",
        title="t",
        category="zsks",
        item=7,
        publish_at=seed_future,
        expires_at=None,
        now=START,
    )
    store.approve(
        notice_id="later",
        sha256="f" * 64,
        reviewers=["r"],
        opinion="",
        form_no="",
        source="cli",
        allowances=[],
        required=1,
        channels=["c"],
        now=START,
    )
    got = store.claim("c", START, lease=60, limit=10, worker="w1")
    assert len(got) == 2 and all(d.state == DeliveryState.CLAIMED for d in got)
    assert store.claim("c", START + timedelta(seconds=30), 60, 10, "w2") == []
    # the first worker died: after the lease its claims come back
    again = store.claim("c", START + timedelta(seconds=61), 60, 10, "w2")
    assert sorted(d.id for d in again) == sorted(d.id for d in got)
    assert "later" not in {d.notice_id for d in got + again}  # not due before its time
    late = store.claim("c", seed_future, 60, 10, "w3")
    assert "later" in {d.notice_id for d in late}


def test_concurrent_claimers_never_share_a_delivery(store: Store) -> None:
    ids = seed(store, 60)
    results: list[list[int]] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        own = Store(store.url)
        mine: list[int] = []
        try:
            while batch := own.claim("c", START, 600, 3, name):
                mine += [d.id for d in batch]
        finally:
            own.close()
        with lock:
            results.append(mine)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    claimed = [i for r in results for i in r]
    assert sorted(claimed) == sorted(ids)  # each exactly once


def test_outcome_recording_and_requeue(store: Store) -> None:
    seed(store)
    d = store.claim("c", START, 60, 10, "w")[0]
    store.finish(
        d, state=DeliveryState.DEAD, now=START, attempts=8, error="gave up", event="delivery.dead"
    )
    assert store.delivery_counts() == {"c": {"dead": 1}}
    assert store.requeue(START) == 1
    again = store.claim("c", START, 60, 10, "w")
    assert [x.id for x in again] == [d.id] and again[0].attempts == 0
    assert again[0].action == Action.PUBLISH


def test_periodic_ticks_fire_once_per_time(store: Store) -> None:
    assert store.claim_tick("rebuild", START, "a", START)
    assert not store.claim_tick("rebuild", START, "b", START)
    assert store.claim_tick("rebuild", START + timedelta(minutes=1), "b", START)


def test_a_reader_never_holds_up_a_writer(store: Store) -> None:
    """``read()`` (the public search) takes no write lock on SQLite: a write commits while a
    read transaction is open, and the reader keeps its snapshot."""
    seed(store)
    with store.read() as reader:
        before = reader.execute(text("SELECT count(*) FROM audit")).scalar_one()
        done = threading.Event()

        def write() -> None:
            store.audit(START, "test.write", notice_id="n0")
            done.set()

        t = threading.Thread(target=write)
        t.start()
        assert done.wait(5), "the writer waited for a reader"
        t.join()
        if store.dialect == "sqlite":  # a WAL snapshot; PostgreSQL reads committed rows
            assert reader.execute(text("SELECT count(*) FROM audit")).scalar_one() == before
    with store.read() as reader:
        assert reader.execute(text("SELECT count(*) FROM audit")).scalar_one() == before + 1


def test_refuses_a_newer_schema(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(SchemaError, match="newer than this program"):
        store.ensure_schema()


def test_unmigrated_database_is_named_not_crashed(tmp_path: Path) -> None:
    s = Store(f"sqlite:///{tmp_path}/empty.db")
    with pytest.raises(SchemaError, match="db upgrade"):
        s.ensure_schema(create_empty=False)
    s.ensure_schema(create_empty=True)  # an empty SQLite file is created
    from alembic.command import downgrade

    from publisher.store.db import _alembic_config

    with s.engine.begin() as conn:
        downgrade(_alembic_config(conn), "0001")
    with pytest.raises(SchemaError, match="run `publisher db upgrade`"):
        s.ensure_schema()  # an older schema is never upgraded behind one's back
    s.upgrade()
    s.ensure_schema()
    s.close()


def test_unreachable_store_is_a_clear_error() -> None:
    s = Store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    with pytest.raises(StoreError, match="cannot reach the store"):
        s.ensure_schema()


@pytest.mark.postgres
def test_an_approval_wakes_listening_instances(pg_url: str) -> None:
    reset_pg(pg_url)
    a, b = Store(pg_url), Store(pg_url)
    a.upgrade()
    woke = threading.Event()
    stop = threading.Event()
    listening = threading.Event()
    listener = threading.Thread(target=b.listen, args=(woke.set, stop, listening), daemon=True)
    listener.start()
    try:
        assert listening.wait(10), "LISTEN was never in place"
        assert not woke.is_set()
        seed(a)  # an approval, committed by another instance
        assert woke.wait(5), "no NOTIFY reached the listening instance"
    finally:
        stop.set()
        listener.join(5)
        a.close()
        b.close()

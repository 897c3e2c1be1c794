"""Several `publisher run` processes sharing one PostgreSQL: every delivery arrives exactly once,
and with workers killed at random (SIGKILL) nothing is lost; a duplicate can only come from a
send whose outcome was never recorded, and those are counted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from publisher.app import Publisher
from publisher.config import load_settings
from publisher.store import Store

from .helpers import WebhookSink, approve_everything, reset_pg, start_worker, stop_workers
from .vendors import wait_for

pytestmark = pytest.mark.postgres

CHANNELS = 4
NOTICES = 500  # × 4 channels = 2,000 deliveries

CONFIG = """\
site: {{name: 多实例测试, school_name: 测试示范大学, base_url: "http://127.0.0.1:8080"}}
store: {{url: "{url}"}}
delivery: {{lease: 3s, batch: 10, backoff_base: 1s, backoff_max: 2s, max_attempts: 50,
            shutdown_grace: 5s}}
channels:
{channels}
routes:
  - {{categories: all, channels: [{names}]}}
schedules: [{{name: tick, job: tick, interval: 1s}}]
server: {{enabled: false}}
"""


@pytest.fixture
def shared(tmp_path: Path, pg_url: str) -> Iterator[tuple[Path, WebhookSink]]:
    reset_pg(pg_url)
    store = Store(pg_url)
    store.upgrade()
    store.close()
    sink = WebhookSink()
    names = [f"hook{i}" for i in range(CHANNELS)]
    channels = "\n".join(
        f'  - {{name: {n}, type: webhook, options: {{webhook_url: "{sink.url()}"}}}}' for n in names
    )
    (tmp_path / "config.yaml").write_text(
        CONFIG.format(url=pg_url, channels=channels, names=", ".join(names)), "utf-8"
    )
    items = tmp_path / "items"
    items.mkdir()
    for i in range(NOTICES):
        (items / f"n{i:03d}.md").write_text(
            f"---\nid: n{i:03d}\ntitle: 第{i}号通知\ncategory: zsks\nitem: 7\n"
            f"department: 招生就业处\npublish_at: 2026-01-01 09:00+08:00\n---\n正文{i}。\n",
            "utf-8",
        )
    yield tmp_path, sink
    sink.close()


def approve_all(root: Path) -> None:
    with Publisher(load_settings(root / "config.yaml"), create_schema=False) as app:
        approve_everything(app)


@pytest.mark.slow
def test_four_workers_deliver_each_exactly_once(shared: tuple[Path, WebhookSink]) -> None:
    root, sink = shared
    approve_all(root)
    workers = [start_worker(root, subprocess.PIPE) for _ in range(4)]
    try:
        assert wait_for(lambda: sink.delivered() >= CHANNELS * NOTICES, 180), sink.delivered()
        time.sleep(2)  # anything more that would arrive (it must not)
    finally:
        codes = stop_workers(workers)
    assert codes == [0, 0, 0, 0], [w.stderr.read().decode()[-2000:] for w in workers if w.stderr]
    assert len(sink.counts) == CHANNELS * NOTICES
    assert set(sink.counts.values()) == {1}  # exactly once
    store = Store(load_settings(root / "config.yaml").store_url)
    try:
        assert store.delivery_counts() == {f"hook{i}": {"sent": NOTICES} for i in range(CHANNELS)}
        with store.engine.connect() as conn:
            sends = conn.execute(
                text("SELECT count(*) FROM audit WHERE event = 'delivery.sent'")
            ).scalar()
        assert sends == CHANNELS * NOTICES  # one audit event per delivery
    finally:
        store.close()


@pytest.mark.slow
def test_sigkill_chaos_loses_nothing(shared: tuple[Path, WebhookSink]) -> None:
    root, sink = shared
    approve_all(root)
    rng = random.Random(7)
    workers = [start_worker(root, subprocess.PIPE) for _ in range(4)]
    kills = 0
    try:
        deadline = time.monotonic() + 240
        while sink.delivered() < CHANNELS * NOTICES and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.5, 1.5))
            if kills < 8 and sink.delivered() < CHANNELS * NOTICES * 0.9:
                i = rng.randrange(len(workers))
                os.kill(workers[i].pid, signal.SIGKILL)
                workers[i].wait()
                kills += 1
                workers[i] = start_worker(root, subprocess.PIPE)  # and it comes back
        assert wait_for(lambda: sink.delivered() >= CHANNELS * NOTICES, 60)
    finally:
        stop_workers(workers)
    store = Store(load_settings(root / "config.yaml").store_url)
    try:
        interrupted = sum(store.interrupted_counts().values())
        counts = store.delivery_counts()
    finally:
        store.close()
    duplicates = sum(n - 1 for n in sink.counts.values() if n > 1)
    print(
        f"\nchaos: {kills} SIGKILLs, {interrupted} interrupted sends recorded, "
        f"{duplicates} duplicate deliveries at the receiver"
    )
    assert kills >= 3
    assert len(sink.counts) == CHANNELS * NOTICES  # nothing missing
    assert counts == {f"hook{i}": {"sent": NOTICES} for i in range(CHANNELS)}
    # a duplicate can only come from a send that began and was never recorded
    assert duplicates <= interrupted

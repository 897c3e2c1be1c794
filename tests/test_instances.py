"""Several `publisher run` processes sharing one PostgreSQL: every delivery arrives exactly once,
and with workers killed at random (SIGKILL) nothing is lost; a duplicate can only come from a
send whose outcome was never recorded, and those are counted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from publisher.config import load_settings
from publisher.service.app import Publisher
from publisher.store import Store

from .helpers import WebhookSink, approve_everything, reset_pg, start_worker, stop_workers
from .vendors import free_port, wait_for

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


SERVING = """\
site: {{name: 多实例测试, school_name: 测试示范大学, base_url: "http://127.0.0.1:8080"}}
store: {{url: "{url}"}}
items: {{folder: "{items}"}}
output: {{folder: public}}
review: {{signoffs_required: 1}}
channels:
  - {{name: feed, type: rss}}
routes:
  - {{categories: all, channels: [feed]}}
schedules: [{{name: tick, job: tick, interval: 30s}}]
server: {{enabled: true, port: {port}}}
"""


def _serving_instance(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "publisher", "--config", str(root / "config.yaml"), "run"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


@pytest.mark.slow
def test_two_instances_with_folders_of_their_own_each_keep_theirs_current(
    tmp_path: Path, pg_url: str
) -> None:
    """Every instance that serves keeps its own folder current: a notice appears in both
    within 1 s of its publish time, and a withdrawal (made by a third process) leaves both
    within 1 s, although only one instance claimed each delivery."""
    reset_pg(pg_url)
    store = Store(pg_url)
    store.upgrade()
    store.close()
    items = tmp_path / "items"
    items.mkdir()
    roots, ports = [], []
    for name in ("a", "b", "admin"):
        root = tmp_path / name
        root.mkdir()
        port = free_port()
        (root / "config.yaml").write_text(
            SERVING.format(url=pg_url, items=items, port=port), "utf-8"
        )
        roots.append(root)
        ports.append(port)
    publish_at = datetime.now(UTC) + timedelta(seconds=12)
    (items / "n1.md").write_text(
        f"---\nid: n1\ntitle: 两个实例都要发布的通知\ncategory: zsks\nitem: 7\n"
        f"department: 招生就业处\npublish_at: {publish_at.isoformat()}\n---\n正文。\n",
        "utf-8",
    )
    with Publisher(load_settings(roots[2] / "config.yaml"), create_schema=False) as admin:
        approve_everything(admin)
    instances = [_serving_instance(root) for root in roots[:2]]
    pages = [f"http://127.0.0.1:{port}/notices/n1.html" for port in ports[:2]]
    try:
        health = [p.replace("notices/n1.html", "health") for p in pages]
        started = wait_for(lambda: all(_status(h) in (200, 503) for h in health), 60)
        assert started, [  # why an instance did not come up (a port taken, an error)
            (
                w.poll(),
                w.stderr.read().decode()[-1500:] if w.poll() is not None and w.stderr else "",
            )
            for w in instances
        ]
        appeared: dict[str, float] = {}
        while len(appeared) < 2 and time.time() < publish_at.timestamp() + 10:
            for p in pages:
                if p not in appeared and _status(p) == 200:
                    appeared[p] = time.time()
            time.sleep(0.05)
        late = {p: round(t - publish_at.timestamp(), 2) for p, t in appeared.items()}
        assert len(appeared) == 2 and max(late.values()) <= 1.0, late
        for root in roots[:2]:  # and each instance's feed carries it
            feeds = [f.read_text("utf-8") for f in (root / "public").rglob("*.xml")]
            assert any("两个实例都要发布的通知" in f for f in feeds), root
        # withdrawn by a third process (the office's CLI): both instances learn it at once
        with Publisher(load_settings(roots[2] / "config.yaml"), create_schema=False) as admin:
            withdrawn_at = time.time()
            admin.withdraw("n1", reason="测试撤回", actor="tests")
        gone: dict[str, float] = {}
        while len(gone) < 2 and time.time() < withdrawn_at + 10:
            for p in pages:
                if p not in gone and _status(p) == 410:
                    gone[p] = time.time()
            time.sleep(0.05)
        after = {p: round(t - withdrawn_at, 2) for p, t in gone.items()}
        assert len(gone) == 2 and max(after.values()) <= 1.0, after
    finally:
        codes = stop_workers(instances)
    assert codes == [0, 0], [w.stderr.read().decode()[-2000:] for w in instances if w.stderr]

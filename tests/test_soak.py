"""Soak: several `publisher run` processes, killed and restarted, share five robots whose
fakes count windows by arrival after 20–50 ms of network delay. The robots must never have to
say "too fast", every notice must reach every robot (in digests or alone), and a repeat can
only come from a send that began and was never recorded (those are counted).

2 and 4 instances on PostgreSQL; 1 instance on SQLite with restarts."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.config import load_settings
from publisher.service.app import Publisher
from publisher.store import Store

from .helpers import approve_everything, reset_pg, start_worker, stop_workers
from .test_robots_end_to_end import ids_in
from .vendors import DingTalkServer, FakeVendor, FeishuServer, WeComServer, wait_for

NOTICES = 300
SPREAD = 20.0  # seconds over which the notices' publish times fall
KILLS = 3
JITTER = (0.02, 0.05)

CONFIG = """\
site: {{name: 浸泡测试, school_name: 测试示范大学, base_url: "http://127.0.0.1:8080"}}
store: {{url: "{url}"}}
delivery: {{lease: 3s, batch: 20, backoff_base: 1s, backoff_max: 3s, max_attempts: 50,
            shutdown_grace: 5s}}
channels:
  - name: wecom-a
    type: wecom
    options: {{webhook_url: "{wecom_a}", msgtype: markdown, digest_max: 30}}
  - name: wecom-b
    type: wecom
    options: {{webhook_url: "{wecom_b}", msgtype: markdown, digest_max: 30}}
  - name: dingtalk
    type: dingtalk
    options: {{webhook_url: "{dingtalk}", secret: "{secret}", keyword: 信息公开, digest_max: 30}}
  - name: feishu
    type: feishu
    options: {{webhook_url: "{feishu}", secret: "{secret}", keyword: 信息公开, digest_max: 30}}
  - name: lark
    type: lark
    options: {{webhook_url: "{lark}", secret: "{secret}", keyword: 信息公开, digest_max: 30}}
routes:
  - {{categories: all, channels: [wecom-a, wecom-b, dingtalk, feishu, lark]}}
schedules: [{{name: tick, job: tick, interval: 1s}}]
server: {{enabled: false}}
"""
SECRET = "SECsoak-secret-0123456789abcdef"
ROBOTS = ("wecom-a", "wecom-b", "dingtalk", "feishu", "lark")


def make_robots() -> dict[str, FakeVendor]:
    made: dict[str, FakeVendor] = {
        "wecom-a": WeComServer(),
        "wecom-b": WeComServer(),
        "dingtalk": DingTalkServer(),
        "feishu": FeishuServer(),
        "lark": FeishuServer(),
    }
    for name, server in made.items():
        server.behaviour.jitter = JITTER
        if name in ("dingtalk", "feishu", "lark"):
            server.behaviour.secret = SECRET
            server.behaviour.keywords = ("信息公开",)
    return made


@pytest.fixture
def robots() -> Iterator[dict[str, FakeVendor]]:
    made = make_robots()
    yield made
    for server in made.values():
        server.close()


def site(root: Path, url: str, robots: dict[str, Any]) -> None:
    urls = {name.replace("-", "_"): r.url for name, r in robots.items()}
    (root / "config.yaml").write_text(CONFIG.format(url=url, secret=SECRET, **urls), "utf-8")
    items = root / "items"
    items.mkdir()
    # approved now, published over the next SPREAD seconds: the robots get a stream, not a
    # backlog, and their windows fill while instances die and come back
    first = datetime.now(UTC) + timedelta(seconds=8)
    for i in range(NOTICES):
        at = first + timedelta(seconds=SPREAD * i / NOTICES)
        (items / f"n{i:03d}.md").write_text(
            f"---\nid: n{i:03d}\ntitle: 第{i}号公开事项\ncategory: zsks\nitem: 7\n"
            f"department: 招生就业处\npublish_at: {at.isoformat()}\n---\n正文{i}。\n",
            "utf-8",
        )
    with Publisher(
        load_settings(root / "config.yaml"), create_schema=url.startswith("sqlite")
    ) as app:
        approve_everything(app)


def everything_arrived(robots: dict[str, FakeVendor]) -> bool:
    return all(len({n for m in r.received for n in ids_in(m)}) >= NOTICES for r in robots.values())


def soak(root: Path, robots: dict[str, FakeVendor], instances: int) -> None:
    rng = random.Random(instances)
    workers = [start_worker(root, subprocess.PIPE) for _ in range(instances)]
    kills = 0
    started = time.monotonic()
    try:
        while kills < KILLS and time.monotonic() - started < 40:
            time.sleep(rng.uniform(4, 9))
            i = rng.randrange(len(workers))
            os.kill(workers[i].pid, signal.SIGKILL)
            workers[i].wait()
            kills += 1
            workers[i] = start_worker(root, subprocess.PIPE)  # and it comes back
        assert wait_for(lambda: everything_arrived(robots), 240), {
            name: len({n for m in r.received for n in ids_in(m)}) for name, r in robots.items()
        }
        time.sleep(2)  # anything more that would arrive (it must not)
    finally:
        codes = stop_workers(workers)
    assert kills == KILLS
    assert all(c == 0 for c in codes), [
        w.stderr.read().decode()[-2000:] for w in workers if w.stderr
    ]
    store = Store(load_settings(root / "config.yaml").store_url)
    try:
        interrupted = store.interrupted_counts()
        counts = store.delivery_counts()
    finally:
        store.close()
    expected = {f"n{i:03d}" for i in range(NOTICES)}
    report = []
    for name, r in robots.items():
        got = [n for m in r.received for n in ids_in(m)]
        repeats = len(got) - len(set(got))
        report.append(f"{name}: {len(r.received)} messages, {repeats} repeats")
        assert r.rate_limited == 0, name  # the vendor never had to say "too fast"
        assert set(got) == expected, name  # every notice, alone or in a digest
        assert repeats <= interrupted.get(name, 0), name  # only from counted interruptions
        assert counts[name] == {"sent": NOTICES}, (name, counts[name])
    print(f"\nsoak, {instances} instance(s), {KILLS} SIGKILLs: " + "; ".join(report))


def pg_site(root: Path, pg_url: str, robots: dict[str, FakeVendor]) -> None:
    reset_pg(pg_url)
    store = Store(pg_url)
    store.upgrade()
    store.close()
    site(root, pg_url, robots)


@pytest.mark.slow
@pytest.mark.postgres
def test_soak_four_instances_postgresql(
    tmp_path: Path, pg_url: str, robots: dict[str, FakeVendor]
) -> None:
    pg_site(tmp_path, pg_url, robots)
    soak(tmp_path, robots, 4)


@pytest.mark.slow
@pytest.mark.postgres
def test_soak_two_instances_postgresql_beside_one_on_sqlite(
    tmp_path: Path, pg_url: str, robots: dict[str, FakeVendor]
) -> None:
    """Two soaks at once (their robots' windows keep them a minute long each): 2 instances
    on PostgreSQL, and 1 instance on SQLite with restarts, each with robots of its own."""
    pg_root, lite_root = tmp_path / "pg", tmp_path / "sqlite"
    (lite_root / "var").mkdir(parents=True)
    pg_root.mkdir()
    lite_robots = make_robots()
    failures: list[BaseException] = []

    def run(root: Path, made: dict[str, FakeVendor], instances: int) -> None:
        try:
            soak(root, made, instances)
        except BaseException as exc:  # reported by the test's thread
            failures.append(exc)

    try:
        pg_site(pg_root, pg_url, robots)
        site(lite_root, f"sqlite:///{lite_root / 'var' / 'soak.db'}", lite_robots)
        threads = [
            threading.Thread(target=run, args=(pg_root, robots, 2)),
            threading.Thread(target=run, args=(lite_root, lite_robots, 1)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for server in lite_robots.values():
            server.close()
    if failures:
        raise failures[0]

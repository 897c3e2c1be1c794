"""Rate windows shared by instances.

- the store's cost of taking a send from a robot's window (the row locked, the database's
  clock read, the window written), as a ratio to a bare ``SELECT 1`` round trip on the same
  connection pool, on PostgreSQL and SQLite;
- sustained sends a minute into one WeCom-like robot (20 a minute, arrivals stamped after
  20–50 ms of network delay) from 4 ``publisher run`` processes on one PostgreSQL, in real
  time, beside one process in the same run. The target is the vendor's limit less the margin
  (20 a minute over a 63 s window: 19.05), and never a "too fast" reply.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from publisher.config import load_settings
from publisher.service.app import Publisher
from publisher.store import Store
from tests.helpers import approve_everything, reset_pg, start_worker, stop_workers

PG = os.environ.get("PUBLISHER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
Row = tuple[str, float, str, float, str]


def token_cost(n: int = 2000) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, url in (("PostgreSQL", PG), ("SQLite", f"sqlite:///{tmp}/w.db")):
            if label == "PostgreSQL":
                reset_pg(url)
            store = Store(url)
            store.ensure_schema(create_empty=True) if label == "SQLite" else store.upgrade()
            try:
                # never full (every take writes), and holding what a real window holds: the
                # sends of the last 0.1 s (a few dozen), not thousands
                limits = [(10**9, 0.1)]
                store.take("bench", limits)
                t0 = time.perf_counter()
                for _ in range(n):
                    store.take("bench", limits)
                take = (time.perf_counter() - t0) / n
                t0 = time.perf_counter()
                for _ in range(n):
                    with store.tx() as conn:
                        conn.execute(text("SELECT 1")).scalar()
                bare = (time.perf_counter() - t0) / n
            finally:
                store.close()
            rows.append(
                (
                    f"take a send from a window ({label}, database clock)",
                    take * 1000,
                    "a SELECT 1 transaction",
                    bare * 1000,
                    "ms",
                )
            )
    return rows


CONFIG = """\
site: {{name: 基准, school_name: 基准示范大学, base_url: "http://127.0.0.1:8080"}}
store: {{url: "{url}"}}
delivery: {{lease: 30s, batch: 20}}
channels:
  - {{name: robot, type: wecom, options: {{webhook_url: "{robot}", msgtype: markdown,
      digest: false}}}}
routes:
  - {{categories: all, channels: [robot]}}
schedules: [{{name: tick, job: tick, interval: 1s}}]
server: {{enabled: false}}
"""


def _sustained(instances: int, minutes: float, notices: int = 200) -> tuple[float, int]:
    from tests.vendors import WeComServer

    server = WeComServer()
    server.behaviour.jitter = (0.02, 0.05)
    reset_pg(PG)
    store = Store(PG)
    store.upgrade()
    store.close()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "config.yaml").write_text(CONFIG.format(url=PG, robot=server.url), "utf-8")
            items = root / "items"
            items.mkdir()
            past = datetime.now(UTC) - timedelta(hours=1)
            for i in range(notices):
                (items / f"n{i:03d}.md").write_text(
                    f"---\nid: n{i:03d}\ntitle: 第{i}号公开事项\ncategory: zsks\nitem: 7\n"
                    f"department: 招生就业处\npublish_at: {past.isoformat()}\n---\n正文{i}。\n",
                    "utf-8",
                )
            with Publisher(load_settings(root / "config.yaml"), create_schema=False) as app:
                approve_everything(app, "基准")
            workers = [start_worker(root) for _ in range(instances)]
            try:
                time.sleep(minutes * 60 + 5)
            finally:
                stop_workers(workers)
    finally:
        server.close()
    times = sorted(server.times)
    # sustained: the time 20 sends take in the steady state (the 1st to the 21st, the 2nd to
    # the 22nd, …), so the first burst does not count as a rate
    spans = [times[i + 20] - times[i] for i in range(len(times) - 20)]
    per_minute = 20 * 60 / (sum(spans) / len(spans)) if spans else 0.0
    return per_minute, server.rate_limited


def sustained_figures(minutes: float = 3.5) -> list[Row]:
    one, limited_one = _sustained(1, minutes)
    four, limited_four = _sustained(4, minutes)
    print(
        f"# windows: sustained {four:.2f}/min from 4 instances, {one:.2f}/min from 1 "
        f"(target 20 × 60/63 = 19.05); too-fast replies: {limited_four} and {limited_one}"
    )
    return [
        (
            f"sustained into one WeCom robot from 4 instances ({minutes:g} real minutes)",
            four,
            "one instance, same run",
            one,
            "sends/min",
        )
    ]

"""Several instances and on-time publishing.

- deliveries per second with 1, 2 and 4 `publisher run` processes on one PostgreSQL against a
  loopback sink (as scaling ratios to one instance), and one SQLite instance beside one
  PostgreSQL instance;
- publish lag (scheduled time → in the feed, → first webhook request), p50 and p99 over 200
  notices, in real time, with one instance whose interval tick is far away (30 s): what makes
  them on time is the exact-time wake-up.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text

from publisher.config import load_settings
from publisher.service.app import Publisher
from publisher.store import Store
from tests.helpers import WebhookSink, approve_everything, start_worker, stop_workers
from tests.vendors import free_port

TZ = ZoneInfo("Asia/Shanghai")
PG = "postgresql://postgres@127.0.0.1:5432/test"
Row = tuple[str, float, str, float, str]

CONFIG = """\
site: {{name: 基准, school_name: 基准示范大学, base_url: "http://127.0.0.1:8080"}}
store: {{url: "{url}"}}
output: {{folder: public}}
delivery: {{lease: 30s, batch: 20}}
channels:
{channels}
routes:
  - {{categories: all, channels: [{names}]}}
schedules: [{{name: tick, job: tick, interval: {interval}}}]
server: {{enabled: {serve}, port: {port}}}
"""


def site(
    root: Path,
    url: str,
    sink: WebhookSink,
    channels: int,
    feed: bool,
    interval: str,
    port: int = 0,
) -> None:
    names = [f"hook{i}" for i in range(channels)]
    lines = [
        f'  - {{name: {n}, type: webhook, options: {{webhook_url: "{sink.url(n)}"}}}}'
        for n in names
    ]
    if feed:
        lines.append("  - {name: feed, type: rss, options: {categories: false, formats: [rss]}}")
        names.append("feed")
    (root / "config.yaml").write_text(
        CONFIG.format(
            url=url,
            channels="\n".join(lines),
            names=", ".join(names),
            interval=interval,
            serve="true" if port else "false",
            port=port,
        ),
        "utf-8",
    )


def notices(root: Path, n: int, first: datetime, step: float) -> dict[str, datetime]:
    folder = root / "items"
    folder.mkdir(exist_ok=True)
    when = {}
    for i in range(n):
        at = first + timedelta(seconds=round(i * step))
        when[f"n{i:04d}"] = at
        (folder / f"n{i:04d}.md").write_text(
            f"---\nid: n{i:04d}\ntitle: 第{i}号通知\ncategory: zsks\nitem: 7\n"
            f"department: 招生就业处\npublish_at: {at.isoformat()}\n---\n正文{i}。\n",
            "utf-8",
        )
    return when


def reset(url: str) -> None:
    store = Store(url)
    if store.dialect == "postgresql":
        with store.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    store.upgrade()
    store.close()


def approve(root: Path) -> None:
    with Publisher(load_settings(root / "config.yaml"), create_schema=False) as app:
        approve_everything(app, "基准")


def throughput(url: str, instances: int, channels: int = 4, per_channel: int = 500) -> float:
    sink = WebhookSink()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            if url.startswith("sqlite"):
                url = f"sqlite:///{root}/bench.db"
            site(root, url, sink, channels, feed=False, interval="1s")
            notices(root, per_channel, datetime.now(TZ) - timedelta(hours=1), 0)
            reset(url)
            approve(root)
            procs = [start_worker(root) for _ in range(instances)]
            total = channels * per_channel
            deadline = time.monotonic() + 600
            while len(sink.arrivals) < total and time.monotonic() < deadline:
                time.sleep(0.1)
            stop_workers(procs)
            times = sorted(sink.arrivals.values())
            assert len(times) == total, (len(times), total)
            return total / (times[-1] - times[0])
    finally:
        sink.close()


def scaling_figures() -> list[Row]:
    one = throughput(PG, 1)
    two = throughput(PG, 2)
    four = throughput(PG, 4)
    lite = throughput("sqlite", 1)
    return [
        ("2 instances on PostgreSQL (2,000 deliveries)", two, "1 instance", one, "deliveries/s"),
        ("4 instances on PostgreSQL", four, "1 instance", one, "deliveries/s"),
        ("1 instance on SQLite", lite, "1 instance on PostgreSQL", one, "deliveries/s"),
    ]


def _readers(base: str, stop: threading.Event, counts: list[int]) -> None:
    """A feed reader polling as fast as it can, conditional GETs like real ones."""
    etag = ""
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            try:
                r = client.get(base + "/feeds/all.rss.xml", headers={"If-None-Match": etag})
                etag = r.headers.get("etag", etag)
                counts.append(r.status_code)
            except httpx.HTTPError:
                time.sleep(0.05)


def lag_figures(n: int = 200, per_second: int = 4, serve: bool = False) -> list[Row]:
    """With ``serve``: the instance also serves the site while 8 readers poll its feed."""
    sink = WebhookSink()
    stop = threading.Event()
    polls: list[int] = []
    readers: list[threading.Thread] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            url = f"sqlite:///{root}/bench.db"
            port = free_port() if serve else 0
            site(root, url, sink, 1, feed=True, interval="30s", port=port)
            first = (datetime.now(TZ) + timedelta(seconds=25)).replace(microsecond=0)
            when = notices(root, n, first, 1 / per_second)
            reset(url)
            approve(root)
            if serve:
                procs = [
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "publisher",
                            "--config",
                            f"{root}/config.yaml",
                            "run",
                        ],
                        cwd=root,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                ]
                for _ in range(8):
                    t = threading.Thread(
                        target=_readers, args=(f"http://127.0.0.1:{port}", stop, polls)
                    )
                    t.start()
                    readers.append(t)
            else:
                procs = [start_worker(root)]
            pages = root / "public" / "notices"
            seen: dict[str, float] = {}
            end = max(when.values()) + timedelta(seconds=10)
            while datetime.now(TZ) < end and len(seen) < n:
                for nid in when:
                    if nid not in seen and (pages / f"{nid}.html").exists():
                        seen[nid] = time.time()
                time.sleep(0.02)
            stop.set()
            for t in readers:
                t.join()
            stop_workers(procs)
    finally:
        stop.set()
        sink.close()
    feed_lag = sorted(seen[k] - when[k].timestamp() for k in seen)
    hook_lag = sorted(t - when[k.split("@")[0]].timestamp() for k, t in sink.arrivals.items())
    assert len(feed_lag) == n and len(hook_lag) == n, (len(feed_lag), len(hook_lag))

    def q(xs: list[float], p: float) -> float:
        return xs[min(len(xs) - 1, int(p * len(xs)))]

    served = f", {len(polls)} feed polls served meanwhile" if serve else ""
    print(
        f"# lag over {n} notices: feed p50 {q(feed_lag, 0.5):.3f}s p99 {q(feed_lag, 0.99):.3f}s; "
        f"webhook p50 {q(hook_lag, 0.5):.3f}s p99 {q(hook_lag, 0.99):.3f}s{served}"
    )
    how = ", serving 8 polling readers" if serve else ""
    return [
        (f"publish lag to the feed, p99{how}", q(feed_lag, 0.99), "target", 1.0, "s"),
        (
            f"publish lag to the first webhook request, p99{how}",
            q(hook_lag, 0.99),
            "target",
            1.0,
            "s",
        ),
    ]

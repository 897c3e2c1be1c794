"""Robots at scale.

- fan-out: 2,000 deliveries to 50 loopback endpoints with rate limits off, in deliveries per
  second, beside a bare ``httpx.AsyncClient`` loop posting the same payloads with the same
  concurrency; without latency, with 50 ms of it at each endpoint, and with rate windows on;
- sustained: one WeCom-like endpoint over 10 simulated minutes (a moved clock): sends per
  minute, the endpoint's rate-limit replies, and idle minutes while work was queued.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from publisher.clock import ManualClock
from publisher.config import load_settings
from publisher.service.app import Publisher
from tests.helpers import approve_everything

TZ = ZoneInfo("Asia/Shanghai")
Row = tuple[str, float, str, float, str]

SITE = """\
site: {{name: 基准站点, school_name: 基准示范大学, base_url: "http://127.0.0.1:8080"}}
store: {{url: "sqlite:///var/bench.db"}}
delivery: {{concurrency: {concurrency}, batch: 100}}
channels:
{channels}
routes:
  - {{categories: all, channels: [{names}]}}
schedules: [{{name: tick, job: tick, interval: 30s}}]
server: {{enabled: false}}
"""


def write_notices(folder: Path, n: int, start: datetime, first: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(first, first + n):
        at = (start + timedelta(seconds=i)).isoformat()
        (folder / f"n{i:04d}.md").write_text(
            f"---\nid: n{i:04d}\ntitle: 基准示范大学第{i}号公开事项\ncategory: zsks\nitem: 7\n"
            f"department: 招生就业处\nsummary: 第{i}号事项摘要。\npublish_at: {at}\n---\n"
            f"正文{i}。\n",
            "utf-8",
        )


def fanout(
    endpoints: int = 50,
    per_endpoint: int = 40,
    concurrency: int = 16,
    repeat: int = 2,
    latencies: tuple[float, ...] = (0.0, 0.05),
) -> list[Row]:
    """The engine's fan-out beside a bare ``httpx.AsyncClient`` loop posting the same payloads
    to the same endpoints, 16 at a time, without and with simulated latency (each endpoint
    answers after ``latency`` seconds, as a vendor across a real network would), and once
    more with rate windows on (limits that never bind, so every send takes a token from its
    robot's window in the store and gives its stamp back). Each pair runs ``repeat`` times,
    ours and the bare loop in turn; the best of each is kept."""
    rows: list[Row] = []
    for latency in latencies:
        rows.append(_fanout(endpoints, per_endpoint, concurrency, repeat, latency, False))
    rows.append(_fanout(endpoints, per_endpoint, concurrency, repeat, 0.0, True))
    return rows


def _fanout(
    endpoints: int,
    per_endpoint: int,
    concurrency: int,
    repeat: int,
    latency: float,
    windows: bool,
) -> Row:
    from tests.vendors import WeComServer

    servers = [WeComServer() for _ in range(endpoints)]
    for s in servers:
        s.behaviour.rate_per_minute = 10**9
        s.behaviour.jitter = (latency, latency)
    n = endpoints * per_endpoint
    ours: list[float] = []
    bare: list[float] = []
    cpu_ours: list[float] = []
    cpu_bare: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            names = [f"r{i:02d}" for i in range(endpoints)]
            limit = "rate_per_minute: 1000000" if windows else "rate_limit: false"
            channels = "\n".join(
                f'  - {{name: {n}, type: wecom, options: {{webhook_url: "${{R{i}}}", '
                f"{limit}, digest: false, msgtype: markdown}}}}"
                for i, n in enumerate(names)
            )
            for i, s in enumerate(servers):
                os.environ[f"R{i}"] = s.url
            (root / "config.yaml").write_text(
                SITE.format(concurrency=concurrency, channels=channels, names=", ".join(names)),
                "utf-8",
            )
            now = datetime.now(TZ)
            settings = load_settings(root / "config.yaml")
            with Publisher(settings, clock=ManualClock(now)) as app:
                for r in range(repeat):
                    # each run sends notices of its own, approved before it starts
                    write_notices(root / "items", per_endpoint, now - timedelta(hours=1), r * 1000)
                    approve_everything(app, "基准")
                    new = [f"n{i:04d}" for i in range(r * 1000, r * 1000 + per_endpoint)]
                    # the exact payloads the engine will send, for the bare loop
                    jobs = [
                        (s.url, p.body)
                        for name, s in zip(names, servers, strict=True)
                        for nid in new
                        for p in app.preview(nid, name)
                    ]
                    t0, c0 = time.perf_counter(), time.process_time()
                    report = app.tick()
                    ours.append(time.perf_counter() - t0)
                    cpu_ours.append(time.process_time() - c0)
                    sent = report.total("sent")
                    assert sent == n, report
                    t0, c0 = time.perf_counter(), time.process_time()
                    asyncio.run(_bare(jobs, concurrency))
                    bare.append(time.perf_counter() - t0)
                    cpu_bare.append(time.process_time() - c0)
    finally:
        for s in servers:
            s.close()
    what = f"{int(latency * 1000)} ms latency" if latency else "no latency"
    if windows:
        what += ", rate windows on"
    print(
        f"# fan-out ({what}): ours {', '.join(f'{n / t:.0f}' for t in ours)}/s, "
        f"bare {', '.join(f'{n / t:.0f}' for t in bare)}/s; CPU per delivery (this process, "
        f"the loopback endpoints included) ours {min(cpu_ours) / n * 1000:.2f} ms, "
        f"bare {min(cpu_bare) / n * 1000:.2f} ms"
    )
    return (
        f"fan-out, {n} deliveries to {endpoints} endpoints, {concurrency} at a time, {what}",
        n / min(ours),
        "bare httpx.AsyncClient loop, same payloads",
        n / min(bare),
        "deliveries/s",
    )


async def _bare(work: list[tuple[str, bytes]], concurrency: int) -> None:
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency * 2)
    retried = 0
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def post(url: str, body: bytes) -> None:
            nonlocal retried
            async with sem:
                for attempt in range(3):
                    try:
                        r = await client.post(
                            url, content=body, headers={"Content-Type": "application/json"}
                        )
                        break
                    except httpx.TransportError:  # a kept-alive connection the server dropped
                        if attempt == 2:
                            raise
                        retried += 1
                assert r.json()["errcode"] == 0

        await asyncio.gather(*(post(u, b) for u, b in work))
    if retried:
        print(f"# bare loop: {retried} request(s) sent again after a dropped connection")


def sustained(minutes: int = 10, notices: int = 400) -> list[Row]:
    """One WeCom-like robot, a queue far longer than 10 minutes can take, digests off."""
    from tests.vendors import WeComServer

    server = WeComServer()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            os.environ["R0"] = server.url
            channels = (
                '  - {name: robot, type: wecom, options: {webhook_url: "${R0}", '
                "digest: false, msgtype: markdown}}"
            )
            (root / "config.yaml").write_text(
                SITE.format(concurrency=4, channels=channels, names="robot"), "utf-8"
            )
            start = datetime.now(TZ).replace(second=0, microsecond=0)
            clock = ManualClock(start)
            server.now = lambda: clock.now().timestamp()
            write_notices(root / "items", notices, start - timedelta(hours=1))
            with Publisher(load_settings(root / "config.yaml"), clock=clock) as app:
                approve_everything(app, "基准")
                end = start + timedelta(minutes=minutes)
                while clock.now() < end:
                    report = app.tick()
                    wake = report.next_wake
                    clock.set(min(wake, end) if wake else end)
            per_minute = [0] * minutes
            for t in server.times:
                m = int((t - start.timestamp()) // 60)
                if 0 <= m < minutes:
                    per_minute[m] += 1
    finally:
        server.close()
    idle = sum(1 for c in per_minute if c == 0)
    print(
        f"# sustained: sends per simulated minute {per_minute}; rate-limit replies "
        f"{server.rate_limited}; idle minutes {idle}"
    )
    return [
        (
            f"sustained into one WeCom robot, {minutes} simulated minutes",
            sum(per_minute) / minutes,
            "the robot's allowance",
            20.0,
            "sends/min",
        )
    ]

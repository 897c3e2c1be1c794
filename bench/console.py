"""The console on a 10,000-notice site, beside the CLI doing the same:

- the notice list (first page, counts by state over all 10,000), over real HTTP, against
  `publisher items --json` (a process reading the same store and folder);
- batch approve of 100 notices from the console, against `publisher approve` run for each.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from publisher.config import load_settings
from publisher.service.accounts import Accounts
from publisher.service.app import Publisher
from publisher.web.console import console_app
from publisher.web.server import Server

from .core import write_site

Row = tuple[str, float, str, float, str]


def _login(client: httpx.Client) -> None:
    page = client.get("/admin/login").text
    token = re.search(r'name="csrftoken" value="([^"]+)"', page)
    assert token
    r = client.post(
        "/admin/login",
        data={"csrftoken": token[1], "name": "基准", "password": "benchmark-password"},
    )
    assert r.status_code == 303, r.text[:300]


def console_figures(n: int = 10_000, batch: int = 100) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_site(root, n)
        config = root / "config.yaml"
        config.write_text(config.read_text("utf-8") + "console: {session: 1h}\n", "utf-8")
        app = Publisher(load_settings(config))
        t = time.perf_counter()
        app.sync()
        print(f"# console: {n} notices synced in {time.perf_counter() - t:.1f} s")
        Accounts(app.store, app.clock).add("基准", ("reviewer",), "benchmark-password", "bench")
        server = Server(root / "public", "127.0.0.1", 0, console=console_app(app))
        server.start()
        try:
            with httpx.Client(base_url=server.url, follow_redirects=False, timeout=60) as c:
                _login(c)
                times = []
                for _ in range(7):
                    t = time.perf_counter()
                    r = c.get("/admin/")
                    times.append(time.perf_counter() - t)
                    assert r.status_code == 200 and f"共 {n} 项" in r.text
                listing = statistics.median(times)
                page = c.get("/admin/?state=待审").text
                token = re.search(r'name="csrftoken" value="([^"]+)"', page)
                assert token
                ids = [f"n{i:05d}" for i in range(batch)]
                t = time.perf_counter()
                r = c.post("/admin/batch-approve", data={"csrftoken": token[1], "id": ids})
                batch_s = time.perf_counter() - t
                assert r.status_code == 200 and r.text.count("已签批") == batch, r.text[:500]
        finally:
            server.stop()
            app.close()
        cli = [sys.executable, "-m", "publisher", "--config", str(config)]
        t = time.perf_counter()
        subprocess.run([*cli, "items", "--json"], check=True, capture_output=True)
        items_cli = time.perf_counter() - t
        # the CLI signs one notice per process (10 of them, scaled to the batch)
        t = time.perf_counter()
        for i in range(batch, batch + 10):
            nid = f"n{i:05d}"
            subprocess.run([*cli, "review", nid], check=True, capture_output=True)
            subprocess.run(
                [*cli, "approve", nid, "--reviewer", "基准"], check=True, capture_output=True
            )
        approve_cli = (time.perf_counter() - t) * batch / 10
    return [
        (
            f"console notice list, {n} notices (GET /admin/, median)",
            listing * 1000,
            "publisher items --json",
            items_cli * 1000,
            "ms",
        ),
        (
            f"console batch approve of {batch} notices",
            batch_s,
            f"publisher review + approve, {batch} times",
            approve_cli,
            "s",
        ),
    ]

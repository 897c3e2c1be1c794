"""What tests and benchmarks share, in one place: the throwaway site (config, notices, the
manual clock), approving, a webhook receiver that counts, workers as real processes, and the
PostgreSQL test database. Vendor servers are in ``vendors.py``; fixtures in ``conftest.py``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from publisher.clock import ManualClock
from publisher.config import Settings, load_settings
from publisher.service.app import Publisher

TZ = ZoneInfo("Asia/Shanghai")


START = datetime(2026, 11, 26, 10, 0, tzinfo=TZ)


ROOT = Path(__file__).resolve().parent.parent


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


PG_URL = os.environ.get("PUBLISHER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


CONFIG = """\
site:
  name: 测试大学信息公开网
  school_name: 测试示范大学
  base_url: http://127.0.0.1:8080
  timezone: Asia/Shanghai
store:
  url: sqlite:///var/test.db
review:
  signoffs_required: {signoffs}
  allowed_domains: [example.edu.cn]
{review}delivery:
  max_attempts: 4
  backoff_base: 10s
  backoff_max: 5m
  jitter: 0.2
channels:
  - name: feed
    type: rss
  - name: group
    type: wecom
    options:
      webhook_url: ${{TEST_WECOM_URL}}
      msgtype: {msgtype}
      timeout: 1.5
  - name: screen
    type: signage
    options:
      profiles:
        # PNG drawing is what makes signage slow: the signage tests turn it on where they need it
        - {{name: landscape, width: 1920, height: 1080, outputs: [html, manifest]}}
routes:
  - categories: all
    channels: [feed, screen]
  - categories: [zsks, xsgl]
    channels: [group]
schedules:
  - {{name: tick, job: tick, interval: 1s}}
"""


def notice_text(
    nid: str = "n1",
    *,
    title: str = "测试示范大学招生章程",
    category: str = "zsks",
    item: int = 7,
    body: str = "正文第一段。\n\n正文第二段。",
    publish_at: str = "2026-11-26 09:00+08:00",
    expires_at: str | None = None,
    extra: str = "",
) -> str:
    lines = [
        "---",
        f"id: {nid}",
        f"title: {title}",
        f"category: {category}",
        f"item: {item}",
        "department: 招生就业处",
        "summary: 摘要。",
        f"publish_at: {publish_at}",
    ]
    if expires_at:
        lines.append(f"expires_at: {expires_at}")
    lines.append("contact: 招生办 0851-86681201")
    if extra:
        lines.append(textwrap.dedent(extra).strip("\n"))
    lines += ["---", body, ""]
    return "\n".join(lines)


class Site:
    """A throwaway site folder with its own config, items and SQLite store."""

    def __init__(
        self, root: Path, signoffs: int = 1, msgtype: str = "news", review: str = ""
    ) -> None:
        """``review``: more lines of the review section (YAML, indented two spaces)."""
        self.root = root
        (root / "items").mkdir(parents=True, exist_ok=True)
        self.config = root / "config.yaml"
        self.config.write_text(
            CONFIG.format(signoffs=signoffs, msgtype=msgtype, review=review), "utf-8"
        )
        self.clock = ManualClock(START)

    def write(self, nid: str = "n1", **kw: object) -> Path:
        path = self.root / "items" / f"{nid}.md"
        path.write_text(notice_text(nid, **kw), "utf-8")  # type: ignore[arg-type]
        return path

    def feed_options(self, options: str) -> None:
        """Give the rss channel ``options`` (a YAML flow mapping)."""
        old = "  - name: feed\n    type: rss\n"
        text = self.config.read_text("utf-8")
        self.config.write_text(text.replace(old, f"{old}    options: {options}\n"), "utf-8")

    def settings(self) -> Settings:
        return load_settings(self.config)

    def app(self, **kw: object) -> Publisher:
        return Publisher(self.settings(), clock=self.clock, **kw)  # type: ignore[arg-type]

    def out(self, rel: str) -> Path:
        return self.root / "public" / rel


# a roster whose reviewers any OS account may sign as, and paper records that sign for them
ROSTER = """\
  reviewers:
    - {name: 王芳, role: 保密审查员}
    - {name: 周红, role: 办公室主任}
    - {name: 李明, role: 保密审查员}
"""


PAPER_APPROVES = ROSTER + "  paper_records: approve\n"


def approve(app: Publisher, nid: str, reviewer: str = "李明", **kw: object) -> object:
    app.review(nid)
    return app.approve(nid, reviewer=reviewer, **kw)  # type: ignore[arg-type]


def reset_pg(url: str) -> None:
    """An empty public schema in the PostgreSQL test database."""
    from sqlalchemy import text

    from publisher.store import Store

    store = Store(url)
    with store.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    store.close()


class WebhookSink:
    """Counts deliveries by `webhook-id` (a receiver's idempotency key) and notes when each
    notice (the event's data.id, per path) first arrived."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.arrivals: dict[str, float] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1  # one segment per answer
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.time()
                try:
                    nid = json.loads(body)["data"]["id"] + "@" + self.path
                except (ValueError, KeyError, TypeError):
                    nid = "?@" + self.path
                with outer.lock:
                    key = self.headers.get("webhook-id", "")
                    outer.counts[key] = outer.counts.get(key, 0) + 1
                    outer.arrivals.setdefault(nid, now)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str = "hook") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{path}"

    def delivered(self) -> int:
        with self.lock:
            return len(self.counts)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def approve_everything(app: Any, reviewer: str = "审查人") -> int:
    """Review and approve every notice of the folder, each through the gate."""
    notices, errors = app.load()
    assert not errors, errors[:3]
    for notice in notices.values():
        sha, _ = app.save(notice)
        app.gate.review(notice, sha)
        app.gate.approve(
            notice, sha, reviewers=[reviewer], ran_by="tests", opinion="同意", allow={}
        )
    return len(notices)


def start_worker(root: Path, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """One `publisher run --no-serve` process on the site in ``root``."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "publisher",
            "--config",
            str(root / "config.yaml"),
            "run",
            "--no-serve",
        ],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def stop_workers(workers: list[subprocess.Popen[bytes]], wait: float = 30) -> list[int]:
    """SIGTERM every live worker; their exit codes (-9 when one had to be killed)."""
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    codes = []
    for w in workers:
        try:
            codes.append(w.wait(wait))
        except subprocess.TimeoutExpired:
            w.kill()
            codes.append(-9)
    return codes


def served_rules(site: Site) -> list[Any]:
    """The channels' media types and caching, as `publisher run` and `serve` serve with."""
    from publisher.config import load_settings
    from publisher.service.delivery import file_rules_of

    return file_rules_of(load_settings(site.config))

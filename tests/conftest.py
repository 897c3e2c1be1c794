from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.app import Publisher
from publisher.clock import ManualClock
from publisher.config import Settings, load_settings

from .vendors import WeComServer

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


@pytest.fixture
def wecom(monkeypatch: pytest.MonkeyPatch) -> Iterator[WeComServer]:
    server = WeComServer()
    monkeypatch.setenv("TEST_WECOM_URL", server.url)
    yield server
    server.close()


@pytest.fixture
def site(tmp_path: Path, wecom: WeComServer) -> Site:
    s = Site(tmp_path)
    wecom.now = lambda: s.clock.now().timestamp()  # the robot keeps time with the test
    return s


@pytest.fixture
def make_site(tmp_path: Path, wecom: WeComServer) -> Callable[..., Site]:
    counter = iter(range(1000))

    def make(**kw: object) -> Site:
        s = Site(tmp_path / f"site{next(counter)}", **kw)  # type: ignore[arg-type]
        wecom.now = lambda: s.clock.now().timestamp()
        return s

    return make


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


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The PostgreSQL test database; under CI=true a missing server fails instead of skipping."""
    try:
        import psycopg

        with psycopg.connect(
            PG_URL.replace("postgresql://", "postgresql://", 1), connect_timeout=3
        ):
            pass
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    return PG_URL


# one Chromium for the whole session, shared by every browser test (defined once, here)
from .browser import browser  # noqa: E402, F401

"""`publisher run` as a user runs it: a real process, real scheduler, real HTTP, real signals."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import feedparser
import httpx
import pytest

from .helpers import ROOT, Site
from .vendors import free_port, wait_for


@pytest.mark.slow
def test_sample_site_publishes_within_one_tick_and_stops_cleanly(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "items", tmp_path / "items")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "WECOM_KEY"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "publisher",
            "--config",
            str(tmp_path / "config.yaml"),
            "run",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def feed_ready() -> bool:
            try:
                return httpx.get(base + "/feeds/all.rss.xml", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(feed_ready, 30), "the feed was not served within 30 s"

        def screens_ready() -> bool:  # the screens draw PNGs: they may finish after the feed
            url = base + "/signage/lobby-1080p/current/manifest.json"
            try:
                return httpx.get(url, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(screens_ready, 30), "the signage bundle was not served within 30 s"
        feed = feedparser.parse(httpx.get(base + "/feeds/all.rss.xml").content)
        titles = {e.title for e in feed.entries}
        assert "南山示范大学2026年普通本科招生章程" in titles
        assert not any("勤工助学" in t for t in titles)  # not reviewed: never published
        assert not any("国家奖学金" in t for t in titles)  # its 公示期 is over
        manifest = httpx.get(base + "/signage/lobby-1080p/current/manifest.json").json()
        assert manifest["items"] and all(i["sha256"] for i in manifest["items"])
        assert httpx.get(base + "/signage/lobby-1080p/").status_code == 200
        assert httpx.get(base + "/health").json()["ok"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert proc.returncode == 0, output
    assert "WECOM_KEY is not set" in output  # says why the robot is not posting
    assert "received SIGTERM" in output and "stopped" in output
    leftovers = [p for p in (tmp_path / "public").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.slow
def test_sigterm_drains_within_the_grace(tmp_path: Path) -> None:
    """A robot that hangs does not keep a stopping instance alive past shutdown_grace; the
    hanging delivery is left to its lease and nothing is half-written."""
    from .vendors import WeComServer

    robot = WeComServer()
    robot.behaviour.hang_seconds = 30
    try:
        (tmp_path / "items").mkdir()
        head = (
            "---\nid: n1\ntitle: 通知\ncategory: zsks\nitem: 7\ndepartment: 招生就业处\n"
            "publish_at: 2026-01-01 09:00+08:00\n"
        )
        path = tmp_path / "items" / "n1.md"
        path.write_text(head + "---\n正文。\n", "utf-8")
        (tmp_path / "config.yaml").write_text(
            "site: {name: 站, school_name: 测试示范大学}\n"
            "delivery: {shutdown_grace: 2s}\n"
            "review: {paper_records: approve, reviewers: [{name: 李明}]}\n"
            f'channels:\n  - {{name: g, type: wecom, options: {{webhook_url: "{robot.url}", '
            "timeout: 60}}\nroutes: [{categories: all, channels: [g]}]\n"
            "server: {enabled: false}\n",
            "utf-8",
        )
        from publisher.config import load_settings
        from publisher.notices.files import canonical, content_hash, load_folder

        s = load_settings(tmp_path / "config.yaml")
        n = load_folder(s.items_dir, catalogue=s.catalogue, tz=s.tz).notices["n1"]
        version = content_hash(canonical(n))[:16]  # the paper review approves this version
        review = f"review: {{reviewer: 李明, date: 2026-01-01, version: {version}}}\n"
        path.write_text(head + review + "---\n正文。\n", "utf-8")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "publisher",
                "--config",
                str(tmp_path / "config.yaml"),
                "--log-format",
                "json",
                "run",
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert wait_for(lambda: robot.hanging > 0, 20)  # a send is in hand, and hangs
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
        took = time.monotonic() - started
    finally:
        robot.close()
    assert proc.returncode == 0, output
    assert took < 8, f"stopping took {took:.1f} s with a 2 s grace"
    import json

    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert records and all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    assert any("leaving it to its leases" in r["msg"] for r in records)


def test_output_layout_said_and_shared_storage_noticed(site: Site) -> None:
    """An instance says how it keeps its output; a folder other machines also write
    (shared storage) without output.shared is a warning, in `check` and at start."""
    with site.app() as app:
        assert app.output_layout().startswith("output ") and "own" in app.output_layout()
        app.output_writers(mark=True)  # this machine's own mark is no warning
        assert app.output_writers() == []
        (site.root / "public" / ".publisher-hosts" / "web-2").write_text("x", "utf-8")
        said = app.output_layout()
        assert said.startswith("warning") and "web-2" in said and "shared: true" in said
    text = site.config.read_text("utf-8")
    site.config.write_text(text.replace("store:\n", "output: {shared: true}\nstore:\n", 1), "utf-8")
    with site.app() as app:
        assert "is shared" in app.output_layout()

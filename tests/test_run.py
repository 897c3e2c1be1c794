"""`publisher run` as a user runs it: a real process, real scheduler, real HTTP, real signals."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import feedparser
import httpx

from .conftest import ROOT
from .vendors import free_port, wait_for


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

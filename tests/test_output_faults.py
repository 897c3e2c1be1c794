"""A full disk and a read-only output folder, on a real small tmpfs: a clear reason in the log
and on /health, the files readers have stay whole, and publishing resumes once it can."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest

from publisher.errors import PublisherError
from publisher.runtime.daemon import Runner

from .helpers import IN_CI, Site, approve


@pytest.fixture
def small_output(tmp_path: Path) -> Iterator[Path]:
    """The site's output folder on its own 1 MiB tmpfs (needs root, as CI runs)."""
    mnt = tmp_path / "public"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        why = f"cannot mount a tmpfs: {done.stderr.strip()}"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(folder: Path) -> Path:
    """Take every free byte of ``folder``'s filesystem."""
    filler = folder / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


def titles(site: Site) -> set[str]:
    return {e.title for e in feedparser.parse(site.out("feeds/all.rss.xml").read_bytes()).entries}


def test_a_full_output_disk_says_why_and_recovers(
    site: Site, small_output: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site.write("n1")
    with site.app() as app:
        runner = Runner(app, serve=False)
        approve(app, "n1")
        runner.run_pass()
        assert titles(site) == {"测试示范大学招生章程"}
        before = site.out("feeds/all.rss.xml").read_bytes()
        filler = fill(small_output)
        site.write("n2", title="测试示范大学学生资助政策", body="资助政策全文。" * 500)
        approve(app, "n2")
        with caplog.at_level(logging.WARNING):
            for _ in range(Runner.FAILING_PASSES):
                tick = runner.run_pass()
                assert tick is not None
                site.clock.advance(600)  # past the retry's backoff
        skipped = tick.channels["feed"].skipped
        assert skipped.startswith("error: build failed") and "No space left" in skipped
        assert "No space left" in caplog.text  # in the log, not only in `show`
        ok, body = runner.health()
        assert not ok and "No space left" in str(body["failing"])
        # what readers have is whole: the old feed, not half of the new one
        assert site.out("feeds/all.rss.xml").read_bytes() == before
        assert not [p for p in small_output.rglob("*.tmp")]
        feed = [d for d in app.store.deliveries_of("n2") if d.channel == "feed"]
        assert "No space left" in feed[0].last_error
        filler.unlink()
        runner.run_pass()
        assert "failing" not in runner.health()[1]  # (the scheduler is not started here)
        feed = [d for d in app.store.deliveries_of("n2") if d.channel == "feed"]
        assert feed[0].state == "sent"  # given up while the disk was full, built now
    assert titles(site) == {"测试示范大学招生章程", "测试示范大学学生资助政策"}


def test_a_read_only_output_folder_is_a_clear_error(site: Site, small_output: Path) -> None:
    site.write("n1")
    with site.app() as app:
        runner = Runner(app, serve=False)
        approve(app, "n1")
        runner.run_pass()
        subprocess.run(["mount", "-o", "remount,ro", str(small_output)], check=True)
        site.write("n2", title="测试示范大学学生资助政策")
        approve(app, "n2")
        for _ in range(Runner.FAILING_PASSES):
            tick = runner.run_pass()
            assert tick is not None
            site.clock.advance(600)
        assert "Read-only file system" in tick.channels["feed"].skipped
        ok, body = runner.health()
        assert not ok and "Read-only file system" in str(body["failing"])
    assert titles(site) == {"测试示范大学招生章程"}


def test_a_new_site_on_a_read_only_folder_refuses_to_start(site: Site, small_output: Path) -> None:
    from publisher.cli import main

    subprocess.run(["mount", "-o", "remount,ro", str(small_output)], check=True)
    site.write("n1")
    with site.app() as app, pytest.raises(PublisherError, match="cannot be written"):
        app.tick()
    r = subprocess.run(
        [sys.executable, "-m", "publisher", "--config", str(site.config), "run", "--once"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert r.returncode == 1
    assert "cannot be written: Read-only file system" in r.stderr
    assert "Traceback" not in r.stderr
    assert main(["--config", str(site.config), "status"]) == 0  # reading still works

"""Urgent work overtakes long work: a withdrawal (or an alert) made while a state channel's long
build runs reaches the output within seconds, never after that build; a slow build of an older
live set never overwrites a newer one, even from another process; and a restore is refused
while an instance runs on the store.

A first export of a large site takes minutes; here it is a few dozen notices whose pages each
take a moment to render (``SlowRss``), so the build is long and the test is short."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from channels.rss.channel import RssChannel, RssOptions
from publisher.channel import ChannelOptions, Doc, StateChannel, register_channel
from publisher.config import load_settings
from publisher.delivery.engine import TickReport
from publisher.errors import PublisherError
from publisher.model import PublishedNotice
from publisher.output import atomic_write
from publisher.service.app import Publisher, restore_store
from publisher.store import Store
from publisher.web.server import Server

from .helpers import Site, approve_everything, reset_pg


class SlowOptions(RssOptions):
    page_delay: float = 0.0  # seconds each notice page takes to render


class SlowRss(RssChannel):
    """The rss channel, whose notice pages take ``page_delay`` each to render."""

    type_name = "slowrss"
    Options: ClassVar[type[ChannelOptions]] = SlowOptions

    def _page(self, v: PublishedNotice) -> Doc:
        doc = super()._page(v)
        delay = float(getattr(self.options, "page_delay", 0.0))

        def render() -> bytes:
            time.sleep(delay)
            return doc.render()

        return Doc(doc.key, render)


class Stamp(StateChannel[ChannelOptions]):
    """A state channel whose build never asks whether to stop (as signage's own build): it
    writes the ids of the live notices into ``stamp.txt``, once ``hold`` (if any) is open."""

    type_name = "stamp"
    hold: threading.Event | None = None
    at_hold: threading.Event | None = None  # set once the build waits at ``hold``

    def render_documents(self, live: Sequence[PublishedNotice]) -> Mapping[str, bytes | Doc]:
        return {"stamp.txt": " ".join(sorted(v.id for v in live)).encode()}

    def build(self, live: Sequence[PublishedNotice]) -> list[str]:
        data = self.render_documents(live)["stamp.txt"]
        assert isinstance(data, bytes)
        if self.hold is not None:
            if self.at_hold is not None:
                self.at_hold.set()
            self.hold.wait(30)
        atomic_write(self.root() / "stamp.txt", data)
        return ["stamp.txt"]


register_channel("slowrss", f"{__name__}:SlowRss")
register_channel("stamp", f"{__name__}:Stamp")

NOTICES = [f"n{i:02d}" for i in range(40)]
VICTIM = "n01"  # its page is among the first the export writes
FEED = "  - name: feed\n    type: rss\n"
SCREEN = "    type: signage\n    options:\n"


def slow_feed(text: str, delay: float) -> str:
    """A site's config with its feed made slow (``delay`` per page); the screens lay out in
    process (no pool of workers to start on a busy machine)."""
    return text.replace(
        FEED, f"  - name: feed\n    type: slowrss\n    options: {{page_delay: {delay}}}\n"
    ).replace(SCREEN, SCREEN + "      render_workers: 1\n")


def on_postgresql(site: Site, url: str) -> None:
    reset_pg(url)
    store = Store(url)
    store.upgrade()
    store.close()
    text = site.config.read_text("utf-8")
    site.config.write_text(text.replace("sqlite:///var/test.db", url), "utf-8")


def wait_until(what: Callable[[], bool], timeout: float, step: float = 0.01) -> float:
    """Seconds until ``what()`` held (fails after ``timeout``)."""
    start = time.monotonic()
    while not what():
        assert time.monotonic() - start < timeout, f"not within {timeout} s"
        time.sleep(step)
    return time.monotonic() - start


def pages(site: Site) -> set[str]:
    return {p.stem for p in site.out("notices").glob("*.html")}


class Reader:
    """The output folder as readers get it: served on 127.0.0.1 (port 0)."""

    def __init__(self, site: Site) -> None:
        self.server = Server(site.root / "public", "127.0.0.1", 0)
        self.server.start()
        self.http = httpx.Client(base_url=self.server.url, timeout=10)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def close(self) -> None:
        self.http.close()
        self.server.stop()


def withdrawn_everywhere(site: Site, client: Reader, nid: str) -> bool:
    """The notice's page answers 410 Gone, and neither the feed nor the home page nor the
    screens list it."""
    if client.get(f"/notices/{nid}.html").status_code != 410:
        return False
    feed = client.get("/feeds/all.rss.xml")
    home = client.get("/")
    screen = client.get("/signage/landscape/current/manifest.json")
    return (
        feed.status_code == 200
        and f"{nid}.html" not in feed.text
        and home.status_code == 200
        and f"{nid}.html" not in home.text
        and screen.status_code == 200
        and f'"{nid}"' not in screen.text
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ----------------------------------------------------------------- (a) in one process


def test_a_withdrawal_overtakes_a_long_background_build(site: Site) -> None:
    site.config.write_text(slow_feed(site.config.read_text("utf-8"), 0.25), "utf-8")
    for nid in NOTICES:
        site.write(nid, title=f"测试示范大学第{nid}号通知")
    with site.app() as app:
        approve_everything(app)
        app.engine.state.background = True  # as under `publisher run`
        app.tick()  # the first export starts beside the pass
        wait_until(lambda: site.out(f"notices/{VICTIM}.html").exists(), 60)
        # the screens' first build (short) is done; the feed's export is far from done
        wait_until(lambda: site.out("signage/landscape/current/manifest.json").exists(), 30)
        assert len(pages(site)) < len(NOTICES) - 10
        client = Reader(site)
        try:
            done: list[TickReport] = []
            start = time.monotonic()
            worker = threading.Thread(target=lambda: done.append(app.withdraw(VICTIM, "测试撤回")))
            worker.start()
            took = wait_until(lambda: withdrawn_everywhere(site, client, VICTIM), 30)
            print(f"withdrawn everywhere {took:.2f} s after the withdrawal")
            assert took < 5, took
            # … while the rest of the export is still being written (by the withdrawal's build)
            assert worker.is_alive() and len(pages(site)) < len(NOTICES) - 1
            worker.join(60)
            assert done, "the withdrawal did not return"
            assert app.engine.state.wait(60)
            # the export was finished all the same, without the withdrawn notice
            assert pages(site) == set(NOTICES) - {VICTIM}
            assert withdrawn_everywhere(site, client, VICTIM)
        finally:
            client.close()
        app.engine.state.background = False
        app.tick()
        feed = {
            d.notice_id: d.state
            for n in NOTICES
            for d in app.store.deliveries_of(n)
            if d.channel == "feed"
        }
        assert feed[VICTIM] == "cancelled"
        assert all(feed[n] == "sent" for n in NOTICES if n != VICTIM), feed
    print(f"the withdrawal's own call took {time.monotonic() - start:.1f} s")


# ----------------------------------------------------------------- (b) across processes


def two_processes(site: Site) -> tuple[Publisher, Publisher]:
    """Two publishers on one store and one output folder, as two processes would be: ``slow``
    renders a page in 0.25 s, ``fast`` at once."""
    base = site.config.read_text("utf-8")
    site.config.write_text(slow_feed(base, 0.25), "utf-8")
    fast_config = site.root / "config-fast.yaml"
    fast_config.write_text(slow_feed(base, 0.0), "utf-8")
    for nid in NOTICES:
        site.write(nid, title=f"测试示范大学第{nid}号通知")
    slow = Publisher(site.settings(), clock=site.clock)
    fast = Publisher(load_settings(fast_config), clock=site.clock)
    slow.engine.ctx.worker = "host-a:101"
    fast.engine.ctx.worker = "host-a:202"
    assert slow.engine.ctx.location == fast.engine.ctx.location
    return slow, fast


def check_stale_build_never_writes(site: Site) -> None:
    slow, fast = two_processes(site)
    try:
        approve_everything(slow)
        reports: list[TickReport] = []
        export = threading.Thread(target=lambda: reports.append(slow.engine.tick(only=["feed"])))
        export.start()  # generation N: every notice
        wait_until(lambda: site.out(f"notices/{VICTIM}.html").exists(), 60)
        fast.withdraw(VICTIM, "测试撤回")  # generation N+1, built and finished first
        client = Reader(site)
        try:
            assert withdrawn_everywhere(site, client, VICTIM)
        finally:
            client.close()
        after = snapshot(site.root / "public")
        assert {p.removesuffix(".html").removeprefix("notices/") for p in after} >= (
            set(NOTICES) - {VICTIM}
        )
        export.join(60)
        assert not export.is_alive()
        # the slow build stopped at its next file: nothing of it was written after that …
        assert snapshot(site.root / "public") == after
        report = reports[0].channels["feed"]
        assert not report.built and "overtaken" in report.note, report
        # … and it recorded nothing: the folder's record is the withdrawal's build
        record = slow.store.build_record("feed", slow.engine.ctx.location)
        assert record is not None and record.instance == "host-a:202"
        # its claims were given back, and the next pass settles them
        fast.engine.tick(only=["feed"])
        feed = {
            d.notice_id: d.state
            for n in NOTICES
            for d in fast.store.deliveries_of(n)
            if d.channel == "feed"
        }
        assert feed[VICTIM] == "cancelled"
        assert all(feed[n] == "sent" for n in NOTICES if n != VICTIM), feed
        assert snapshot(site.root / "public").keys() == after.keys()
    finally:
        slow.close()
        fast.close()


def test_a_slow_build_of_an_older_set_never_overwrites_a_newer_one(site: Site) -> None:
    check_stale_build_never_writes(site)


@pytest.mark.postgres
def test_the_same_on_postgresql(site: Site, pg_url: str) -> None:
    on_postgresql(site, pg_url)
    check_stale_build_never_writes(site)


def test_a_build_that_cannot_stop_builds_again_when_a_newer_one_began(site: Site) -> None:
    text = site.config.read_text("utf-8")
    site.config.write_text(
        text.replace(FEED, FEED + "  - name: stamp\n    type: stamp\n").replace(
            "channels: [feed, screen]", "channels: [feed, screen, stamp]"
        ),
        "utf-8",
    )
    site.write("a")
    site.write("b", title="测试示范大学学生资助政策")
    with site.app() as one, site.app() as two:
        one.engine.ctx.worker = "host-a:101"
        two.engine.ctx.worker = "host-a:202"
        approve_everything(one)
        gate, at_gate = threading.Event(), threading.Event()
        held = one.channels["stamp"]
        assert isinstance(held, Stamp)
        held.hold, held.at_hold = gate, at_gate
        reports: list[TickReport] = []
        slow = threading.Thread(target=lambda: reports.append(one.engine.tick(only=["stamp"])))
        slow.start()  # reads a and b, then waits at the gate
        assert at_gate.wait(30)
        two.withdraw("a", "测试撤回")  # a newer build: b only
        assert site.out("stamp.txt").read_text() == "b"
        gate.set()  # the older build writes "a b" over it, sees it was overtaken, builds again
        slow.join(30)
        assert site.out("stamp.txt").read_text() == "b"
        assert reports[0].channels["stamp"].built
        record = one.store.build_record("stamp", one.engine.ctx.location)
        assert record is not None and record.instance == "host-a:101"


def test_store_tickets_order_builds_by_what_they_read(site: Site) -> None:
    with site.app() as app:
        store, now = app.store, site.clock.now()
        first = store.build_ticket("feed", "here", now)
        second = store.build_ticket("feed", "here", now)
        assert second > first
        assert store.build_ticket("feed", "there", now) == 1  # per location
        assert store.start_build("feed", "here", second, "f2", "b", now, alive=60).ok
        # the older ticket read the store earlier: it may not begin, nor record
        late = store.start_build("feed", "here", first, "f1", "a", now, alive=60)
        assert not late.ok and "newer" in late.why
        assert store.build_superseded("feed", "here", first)
        assert not store.build_superseded("feed", "here", second)
        assert not store.set_build("feed", "f1", now, [], location="here", ticket=first)
        # another instance at work on exactly the same output is left to it …
        third = store.build_ticket("feed", "here", now)
        same = store.start_build("feed", "here", third, "f2", "c", now, alive=60)
        assert not same.ok and "b is building the same" in same.why
        # … unless the build is urgent, or has something else to show
        assert store.start_build("feed", "here", third, "f3", "c", now, alive=60).ok
        assert store.build_superseded("feed", "here", second)
        assert store.set_build("feed", "f3", now, [], location="here", instance="c", ticket=third)
        record = store.build_record("feed", "here")
        assert record is not None and record.fingerprint == "f3" and record.instance == "c"
        store.forget_builds()
        assert store.build_record("feed", "here") is None
        assert store.build_ticket("feed", "here", now) > third  # numbers are never reused


# ----------------------------------------------------------------- (c) restore


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_restore_is_refused_while_an_instance_runs_on_the_store(site: Site) -> None:
    site.write("n1")
    backup = site.root / "backups" / "b.db"
    here = socket.gethostname()
    with site.app() as app:
        approve_everything(app)
        app.backup(backup)
        now = site.clock.now()
        app.note_pass("machine-b:4242", now - timedelta(seconds=40))
        app.note_pass(f"{here}:{os.getpid()}", now - timedelta(minutes=30))
        app.note_pass(f"{here}:{dead_pid()}", now)  # stopped just now: its process is gone
    with pytest.raises(PublisherError) as refused:
        restore_store(site.settings(), backup, clock=site.clock)
    message = str(refused.value)
    assert "machine-b:4242" in message and "40 s ago" in message
    assert "systemctl stop" in message and "publisher run" in message
    assert f"{here}:" not in message  # neither the old pass nor the process that is gone
    # a local instance whose process runs is refused at once, however it was named
    with site.app() as app:
        app.note_pass(f"{here}:{os.getpid()}", site.clock.now())
    with pytest.raises(PublisherError, match=f"{here}:{os.getpid()}"):
        restore_store(site.settings(), backup, clock=site.clock)
    site.clock.advance(180)  # no pass for three minutes: those instances were stopped
    report = restore_store(site.settings(), backup, clock=site.clock)
    assert report.kept is not None

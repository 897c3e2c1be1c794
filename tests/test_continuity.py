"""Losing or replacing the database: nothing withdrawn comes back, nothing is sent twice, and
what readers see is never rebuilt from an empty store."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import feedparser
import pytest

from publisher.config import load_settings
from publisher.delivery.continuity import read_owner, read_withdrawals, withdrawal_path
from publisher.errors import OutputOwned, PublisherError
from publisher.notices.files import canonical, content_hash, load_folder
from publisher.service.app import Publisher, restore_store
from publisher.store import Store

from .helpers import PAPER_APPROVES, Site, approve, notice_text, reset_pg
from .vendors import WeComServer


def write_reviewed(site: Site, nid: str, **kw: object) -> None:
    """A notice carrying its paper review record, which signs it (paper_records: approve):
    a store rebuilt from the items folder approves it again by itself."""
    path = site.write(nid, **kw)
    s = site.settings()
    n = load_folder(s.items_dir, catalogue=s.catalogue, tz=s.tz).notices[nid]
    version = content_hash(canonical(n))[:16]
    record = f"review: {{reviewer: 李明, date: 2026-11-25, version: {version}}}"
    path.write_text(notice_text(nid, extra=record, **kw), "utf-8")  # type: ignore[arg-type]


def feed_titles(site: Site) -> set[str]:
    feed = feedparser.parse(site.out("feeds/all.rss.xml").read_bytes())
    return {e.title for e in feed.entries}


def delete_database(site: Site) -> None:
    db = site.root / "var" / "test.db"
    for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        f.unlink(missing_ok=True)


@pytest.fixture
def reviewed(tmp_path: Path, wecom: WeComServer) -> Site:
    site = Site(tmp_path, review=PAPER_APPROVES)
    wecom.now = lambda: site.clock.now().timestamp()
    write_reviewed(site, "a", title="测试示范大学招生章程")
    write_reviewed(site, "b", title="测试示范大学拟录取名单公示")
    write_reviewed(site, "c", title="测试示范大学学生资助政策")
    return site


def publish(app: Publisher) -> None:
    app.sync()
    app.tick()


def test_a_rebuilt_store_never_republishes_or_resends(reviewed: Site, wecom: WeComServer) -> None:
    site = reviewed
    with site.app() as app:
        publish(app)
        assert len(wecom.received) == 3
        app.withdraw("b", "含未脱敏的个人信息", actor="王芳")
        app.tick()  # the withdrawal announcement
    sent = len(wecom.received)
    assert sent == 4
    record = withdrawal_path(site.root / "items", "b")
    assert record.is_file()  # beside the notices, outside the store
    assert read_withdrawals(site.root / "items")[0]["b"].reason == "含未脱敏的个人信息"
    before = feed_titles(site)
    assert "测试示范大学拟录取名单公示" not in before and len(before) == 2

    delete_database(site)
    with site.app() as app:  # a new, empty store
        report = app.sync()  # the paper records approve a, b and c again; b's record withdraws it
        assert report.withdrawn == ["b"]
        with pytest.raises(OutputOwned) as refused:
            app.tick()
        message = str(refused.value)
        assert "publisher db restore" in message and "publisher db adopt" in message
        # refused: the feeds are as they were, the robot heard nothing
        assert feed_titles(site) == before
        assert len(wecom.received) == sent

        adopted = app.adopt()
        assert adopted == 4  # a, b, c published and b's withdrawal announced, per the ledger
        app.sync()
        app.tick()
        app.tick(force_build=True)
    assert len(wecom.received) == sent  # nothing sent twice
    assert feed_titles(site) == before  # b stays withdrawn
    assert read_owner(site.root / "public") is not None


def test_a_restored_backup_catches_up_with_what_happened_since(
    reviewed: Site, wecom: WeComServer
) -> None:
    site = reviewed
    backup = site.root / "backups" / "before.db"
    with site.app() as app:
        publish(app)
        info = app.backup(backup)
        assert info.notices == 3 and backup.is_file()
        # after the backup: a new notice approved at the command line, and a withdrawal
        site.write("d", title="测试示范大学奖学金评审办法")
        approve(app, "d")
        app.tick()
        app.withdraw("a", "章程有误", actor="王芳")
        app.tick()
    sent = len(wecom.received)
    assert sent == 5  # a, b, c, d and a's withdrawal

    rep = restore_store(site.settings(), backup, clock=site.clock)
    assert rep.withdrawn == ["a"]  # its record outlived the backup
    assert rep.adopted == 2  # d's send and a's withdrawal announcement
    assert rep.approve_again == ["d"]  # its approval was made after the backup
    assert rep.kept is not None and rep.kept.is_file()  # the replaced database is kept
    with site.app() as app:
        publish(app)
        titles = feed_titles(site)
        assert "测试示范大学招生章程" not in titles  # a stays withdrawn
        assert "测试示范大学奖学金评审办法" not in titles  # until approved again
        approve(app, "d")
        app.tick()
        assert "测试示范大学奖学金评审办法" in feed_titles(site)
    assert len(wecom.received) == sent  # d's message is not sent a second time


def test_after_a_restore_the_output_shows_only_what_the_store_approves(site: Site) -> None:
    site.write("n1")
    backup = site.root / "b.db"
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        app.backup(backup)
        site.write("n2", title="测试示范大学学生资助政策")
        approve(app, "n2")
        app.tick()
    assert len(feed_titles(site)) == 2
    restore_store(site.settings(), backup, clock=site.clock)
    with site.app() as app:
        app.tick()  # n2's approval is gone with the backup: the build must notice
    assert feed_titles(site) == {"测试示范大学招生章程"}


def test_restore_refuses_what_is_not_a_backup(site: Site) -> None:
    with site.app() as app:
        app.sync()
    junk = site.root / "junk.db"
    junk.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(PublisherError, match="not a usable SQLite database"):
        restore_store(site.settings(), junk, clock=site.clock)
    other = site.root / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(PublisherError, match="not a disclosure-publisher store"):
        restore_store(site.settings(), other, clock=site.clock)
    with pytest.raises(PublisherError, match="no backup file"):
        restore_store(site.settings(), site.root / "missing.db", clock=site.clock)
    assert (site.root / "var" / "test.db").is_file()  # untouched


def test_an_empty_store_is_refused_while_the_output_holds_published_files(site: Site) -> None:
    (site.root / "public" / "feeds").mkdir(parents=True)
    (site.root / "public" / "feeds" / "all.rss.xml").write_text("<rss/>", "utf-8")
    site.write("n1")
    with site.app() as app, pytest.raises(OutputOwned, match="empty"):
        app.tick()
    assert (site.root / "public" / "feeds" / "all.rss.xml").read_text("utf-8") == "<rss/>"


def test_a_new_site_claims_its_output_and_backups_rotate(site: Site) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        owner = read_owner(site.root / "public")
        assert owner is not None and owner.store == app.store.store_id()
        names = set()
        for _ in range(16):
            names.add(app.backup().file.name)
            site.clock.advance(61)
    kept = sorted((site.root / "backups").glob("publisher-*.db"))
    assert len(names) == 16 and len(kept) == 14  # store.backups.keep
    assert kept[-1].name == max(names)


def test_a_bad_withdrawal_record_is_that_files_error_only(site: Site) -> None:
    site.write("n1")
    site.write("n2")
    folder = site.root / "items" / ".withdrawn"
    folder.mkdir()
    (folder / "n1.yaml").write_text("id: &a [*a]\n", "utf-8")  # a recursive alias
    (folder / "n9.yaml").write_text('id: "n2"\nreason: "wrong file name"\n', "utf-8")
    with site.app() as app:
        report = app.sync()
        bad = {Path(e.file or "").name for e in report.errors}
        assert bad == {"n1.yaml", "n9.yaml"}
        assert report.loaded == 2 and not report.withdrawn
        approve(app, "n1")
        app.tick()
    assert site.out("notices/n1.html").is_file()


def test_withdraw_and_show_work_beside_a_file_that_cannot_be_parsed(site: Site) -> None:
    from publisher.cli import main

    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
    (site.root / "items" / "bomb.md").write_text(
        "---\nid: bomb\nsummary: &a [*a, *a]\n" + "x: " + "[" * 5000 + "]" * 5000 + "\n---\n",
        "utf-8",
    )
    config = str(site.config)
    assert main(["--config", config, "withdraw", "n1", "--reason", "紧急撤回"]) == 0
    assert not site.out("notices/n1.html").exists()
    assert main(["--config", config, "show", "n1"]) == 0


def test_backup_and_restore_on_postgresql(tmp_path: Path, wecom: WeComServer, pg_url: str) -> None:
    reset_pg(pg_url)
    store = Store(pg_url)
    store.upgrade()
    store.close()
    site = Site(tmp_path, review=PAPER_APPROVES)
    cfg = site.config.read_text("utf-8").replace("sqlite:///var/test.db", pg_url)
    site.config.write_text(cfg, "utf-8")
    wecom.now = lambda: site.clock.now().timestamp()
    site.write("a")
    site.write("b", title="测试示范大学拟录取名单公示")
    dump = tmp_path / "backups" / "pg.dump"
    with site.app() as app:
        app.sync()
        approve(app, "a")
        app.tick()
        sid = app.store.store_id()
        info = app.backup(dump)
        assert info.store_id == sid and info.notices == 2 and dump.stat().st_size > 0
        approve(app, "b")
        app.tick()
        app.withdraw("a", "更正", actor="王芳")
        app.tick()
    sent = len(wecom.received)
    rep = restore_store(load_settings(site.config), dump, clock=site.clock)
    assert rep.info.store_id == sid and rep.kept is None
    assert rep.withdrawn == ["a"] and rep.approve_again == ["b"]
    with site.app() as app:
        assert app.store.store_id() == sid
        assert app.store.notice("a").withdrawn_at is not None
        publish(app)
        approve(app, "b")
        app.tick()
    assert len(wecom.received) == sent
    assert "测试示范大学拟录取名单公示" in feed_titles(site)


@pytest.mark.slow
def test_deleting_the_database_of_a_running_site(tmp_path: Path, wecom: WeComServer) -> None:
    """The database file is deleted under `publisher run`: it stops publishing at once and
    says why on /health; restarted, it refuses to rebuild the site from an empty store; after
    `db adopt` nothing withdrawn reappears and nothing is sent again."""
    import signal
    import subprocess
    import sys

    import httpx

    from .vendors import free_port, wait_for

    site = Site(tmp_path, review=PAPER_APPROVES)  # the robot keeps real time here
    write_reviewed(site, "a", title="测试示范大学招生章程")
    write_reviewed(site, "b", title="测试示范大学拟录取名单公示")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "publisher", "--config", str(site.config)]

    def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
        )

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*command, "run", "--port", str(port)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def stop(proc: subprocess.Popen[str]) -> str:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.communicate()[0]

    def served_titles() -> set[str]:
        body = httpx.get(base + "/feeds/all.rss.xml", timeout=2).content
        return {e.title for e in feedparser.parse(body).entries}

    def health() -> tuple[int, dict[str, object]]:
        try:
            r = httpx.get(base + "/health", timeout=2)
        except httpx.HTTPError:
            return 0, {}
        return r.status_code, r.json()

    proc = start()
    try:
        assert wait_for(lambda: len(wecom.received) == 2, 30), "the robot heard nothing"
        assert wait_for(lambda: site.out("feeds/all.rss.xml").is_file(), 10)
        withdrawn = cli("withdraw", "b", "--reason", "含未脱敏的个人信息")
        assert withdrawn.returncode == 0, withdrawn.stderr
        assert wait_for(lambda: len(wecom.received) == 3, 20)  # the withdrawal announcement
        before = served_titles()
        assert before == {"测试示范大学招生章程"}

        delete_database(site)
        assert wait_for(lambda: health()[0] == 503, 10)
        assert "deleted" in str(health()[1]) or "replaced" in str(health()[1])

        time.sleep(3)  # several passes: none of them publishes from nothing
        assert served_titles() == before
        assert len(wecom.received) == 3
    finally:
        output = stop(proc)
    assert proc.returncode == 0, output
    assert output.count("was deleted while the bot was running") <= 1  # said once, not per pass

    again = start()
    try:
        out, _ = again.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop(again)
        raise AssertionError("a bot on an empty store did not refuse to start") from None
    assert again.returncode == 1
    assert "publisher db restore" in out and "publisher db adopt" in out
    assert "Traceback" not in out

    adopted = cli("db", "adopt")
    assert adopted.returncode == 0, adopted.stderr
    assert "3 send(s)" in adopted.stdout
    proc = start()
    try:
        assert wait_for(lambda: health()[0] == 200, 20)
        time.sleep(3)
        assert served_titles() == before  # b did not come back
        assert len(wecom.received) == 3  # nothing sent twice
    finally:
        output = stop(proc)
    assert proc.returncode == 0, output

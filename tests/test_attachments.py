"""Attachments: inside items/, read once, verified by hash at every boundary, decoded to scan."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from publisher.errors import BlobMismatch, NoticeError
from publisher.notices.attachments import UndecidableCharset, decode
from publisher.store.schema import blobs

from .helpers import Site, approve

CLEAN = "姓名,学院\n王晓,文学院\n".encode()
SPAM = "姓名,学院\n开云体育官方平台,注册送\n".encode()


def attach(site: Site, nid: str = "n1", file: str = "list.csv") -> None:
    site.write(nid, extra=f"attachments:\n  - {{title: 名单, file: {file}}}")


def test_an_attachment_must_resolve_inside_the_items_folder(site: Site) -> None:
    attach(site, file="../config.yaml")
    with site.app() as app:
        _, errors = app.load()
    [err] = errors
    assert err.field == "attachments.0" and "outside the items folder" in err.message
    assert err.file == "items/n1.md" and err.line is not None


def test_a_symlinked_attachment_or_notice_pointing_outside_is_refused(site: Site) -> None:
    secret = site.root / "secret.csv"
    secret.write_text("工资,身份证\n", "utf-8")
    (site.root / "items" / "list.csv").symlink_to(secret)
    attach(site)
    outside = site.root / "elsewhere.md"
    outside.write_text((site.root / "items" / "n1.md").read_text("utf-8").replace("n1", "n2"))
    (site.root / "items" / "n2.md").symlink_to(outside)
    with site.app() as app:
        notices, errors = app.load()
    assert notices == {}
    by_file = {e.file: e.describe() for e in errors}
    assert "outside the items folder" in by_file["items/n1.md"]
    assert "link to outside the items folder" in by_file["items/n2.md"]


def test_a_symlink_inside_the_items_folder_is_fine(site: Site) -> None:
    (site.root / "items" / "data").mkdir()
    (site.root / "items" / "data" / "real.csv").write_bytes(CLEAN)
    (site.root / "items" / "list.csv").symlink_to(site.root / "items" / "data" / "real.csv")
    attach(site)
    with site.app() as app:
        notices, errors = app.load()
    assert not errors
    assert notices["n1"].attachments[0].sha256 == hashlib.sha256(CLEAN).hexdigest()


def test_the_store_refuses_bytes_that_do_not_match_their_hash(site: Site) -> None:
    site.write()
    with site.app() as app, pytest.raises(BlobMismatch):
        app.store.save_version(
            notice_id="n1",
            source="items/n1.md",
            sha256="a" * 64,
            canonical="{}",
            title="t",
            category="qt",
            item=49,
            publish_at=site.clock.now(),
            expires_at=None,
            now=site.clock.now(),
            files={hashlib.sha256(CLEAN).hexdigest(): SPAM},
        )


def test_bytes_changed_in_the_store_stop_the_notice_with_an_audit_event(site: Site) -> None:
    (site.root / "items" / "list.csv").write_bytes(CLEAN)
    attach(site)
    sha = hashlib.sha256(CLEAN).hexdigest()
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        assert (site.out(f"files/{sha[:16]}/list.csv")).read_bytes() == CLEAN
        with app.store.tx() as conn:  # someone with database access swaps the bytes
            conn.execute(update(blobs).where(blobs.c.sha256 == sha).values(data=SPAM))
        report = app.tick(force_build=True)
        feed = site.out("feeds/all.rss.xml").read_text("utf-8")
        assert "n1" not in feed, report
        assert not site.out(f"files/{sha[:16]}/list.csv").exists()
        events = [e["event"] for e in app.store.audit_events("n1")]
        assert events.count("blob.mismatch") == 1
        app.tick(force_build=True)  # reported once, not on every pass
        assert [e["event"] for e in app.store.audit_events("n1")].count("blob.mismatch") == 1


def test_swapping_the_file_during_sync_never_publishes_other_bytes(site: Site) -> None:
    """A thread swaps the attachment between clean and gambling bytes as fast as it can while
    the notice is synced, reviewed and approved over and over. Whatever was approved, the
    published file is byte for byte what its approved hash names, and it is clean."""
    path = site.root / "items" / "list.csv"
    path.write_bytes(CLEAN)
    attach(site)
    stop = threading.Event()

    def swap() -> None:
        tmp = site.root / "items" / ".swap"
        while not stop.is_set():
            for data in (SPAM, CLEAN):
                tmp.write_bytes(data)
                os.replace(tmp, path)  # atomic, like an editor's save

    t = threading.Thread(target=swap)
    t.start()
    approved: set[str] = set()
    try:
        with site.app() as app:
            # 40 rounds, and more until one clean version got through review and approval (a
            # busy machine can lose many rounds to the swapping thread), at most 400
            for i in range(400):
                if approved and i >= 40:
                    break
                app.sync()
                try:
                    rep = app.review("n1")
                    if not rep.blocking:
                        approve(app, "n1", version=rep.sha256[:16])
                        approved.add(rep.sha256)
                except Exception:  # the file changed between review and approve: refused
                    pass
    finally:
        stop.set()
        t.join()
    with site.app() as app:
        app.tick(force_build=True)
        for v in app.store.versions_of("n1"):
            for a in __import__("json").loads(v.canonical)["attachments"]:
                data = app.store.blob(a[4])  # verified against its hash on the way out
                assert data is not None and hashlib.sha256(data).hexdigest() == a[4]
                if v.approved_at is not None:
                    assert data == CLEAN
    published = list((site.root / "public" / "files").rglob("list.csv"))
    assert approved and published
    for f in published:
        assert f.read_bytes() == CLEAN
        assert hashlib.sha256(f.read_bytes()).hexdigest().startswith(f.parent.name)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "big5", "utf-16", "utf-16-le"])
def test_chinese_charsets_are_detected(encoding: str) -> None:
    text = "序号,姓名,学院\n1,王晓,文学院\n2,李华,外国语学院\n"
    if encoding == "big5":  # a traditional-character charset
        text = "序號,姓名,學院\n1,王曉,文學院\n2,李華,外國語學院\n"
    readings = [d.text for d in decode(text.encode(encoding))]
    assert text in readings


def test_bytes_no_charset_reads_are_refused(site: Site) -> None:
    with pytest.raises(UndecidableCharset):
        decode(bytes(range(128, 256)) * 4 + b"\x00\x01")
    (site.root / "items" / "list.txt").write_bytes(b"\x81\x00\xff\xfe\x00\xd8" * 50)
    site.write(extra="attachments:\n  - {title: 名单, file: list.txt}")
    with site.app() as app:
        rep = app.review("n1")
    assert "attachment-charset" in {f.rule for f in rep.blocking}


def test_every_text_like_attachment_is_scanned(site: Site) -> None:
    for name in ("a.json", "b.svg", "c.xml", "d.html", "e.md", "f.dat"):
        (site.root / "items" / name).write_text(
            f"<p>&#24320;&#20113;体育</p> {name}" if name.endswith(("svg", "html")) else "开云体育",
            "utf-8",
        )
    files = "".join(f"\n  - {{title: {n}, file: {n}}}" for n in ("a.json", "b.svg", "c.xml"))
    files += "".join(f"\n  - {{title: {n}, file: {n}}}" for n in ("d.html", "e.md", "f.dat"))
    site.write(extra="attachments:" + files)
    with site.app() as app:
        rep = app.review("n1")
    spam = {f.field for f in rep.blocking if f.rule == "spam"}
    names = ("a.json", "b.svg", "c.xml", "d.html", "e.md", "f.dat")
    assert spam == {f"attachments.{i} ({n})" for i, n in enumerate(names)}


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(categories=["Lo", "Nd", "Po", "Zs"]), max_size=60))
def test_decoding_gb18030_text_finds_the_text(text: str) -> None:
    data = text.encode("gb18030")
    assert text in [d.text for d in decode(data)]


def test_a_notice_file_error_names_file_line_and_field(site: Site) -> None:
    attach(site, file="missing.csv")
    with site.app() as app:
        _, errors = app.load()
    assert isinstance(errors[0], NoticeError)
    assert errors[0].describe().startswith("items/n1.md:")
    assert "attachments.0" in errors[0].describe()

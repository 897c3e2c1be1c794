"""Feeds people subscribe to: every document, format, archive and link, read back by feedparser,
listparser and lxml, as a reader would."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import feedparser
import listparser
import pytest
from lxml import etree

from .helpers import Site, approve

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "fh": "http://purl.org/syndication/history/1.0",
    "content": "http://purl.org/rss/1.0/modules/content/",
}


def parse(site: Site, rel: str) -> feedparser.FeedParserDict:
    data = site.out(rel).read_bytes()
    if rel.endswith(".xml"):
        etree.fromstring(data)
    result = feedparser.parse(data)
    assert not result.bozo, (rel, result.get("bozo_exception"))
    return result


def test_every_category_has_its_feeds_even_when_empty(site: Site) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
    for slug in ("jbxx", "zsks", "cwzc", "rsxz", "jxzl", "xsgl", "xfjs", "xwxk", "dwjl", "qt"):
        for suffix in (".rss.xml", ".atom.xml", ".json"):
            assert site.out(f"feeds/{slug}{suffix}").exists(), slug + suffix
    assert [e.title for e in parse(site, "feeds/zsks.rss.xml").entries] == ["测试示范大学招生章程"]
    assert parse(site, "feeds/cwzc.atom.xml").entries == []
    zsks = parse(site, "feeds/zsks.atom.xml").feed
    assert "招生考试信息" in zsks.title
    assert [lk.href for lk in zsks.links if lk.rel == "self"] == [
        "http://127.0.0.1:8080/feeds/zsks.atom.xml"
    ]


def test_json_feed(site: Site) -> None:
    site.write("n1", expires_at="2026-12-04 18:00+08:00")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
    doc = json.loads(site.out("feeds/all.json").read_text("utf-8"))
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["feed_url"] == "http://127.0.0.1:8080/feeds/all.json"
    assert doc["language"] == "zh-CN"
    item = doc["items"][0]
    assert item["id"].startswith("urn:uuid:") and item["title"] == "测试示范大学招生章程"
    assert item["date_published"] == "2026-11-26T09:00:00+08:00"
    assert item["authors"] == [{"name": "招生就业处"}]
    assert "<p>正文第一段。</p>" in item["content_html"]
    rss_guid = parse(site, "feeds/all.rss.xml").entries[0].id
    assert item["id"] == rss_guid  # one identity across the formats


def test_departments_get_their_own_feed(site: Site) -> None:
    site.feed_options("{departments: {zsjy: 招生就业处, yjsy: 研究生院}}")
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
    assert len(parse(site, "feeds/dept-zsjy.rss.xml").entries) == 1
    assert parse(site, "feeds/dept-yjsy.rss.xml").entries == []


def test_attachments_are_enclosures_not_duplicate_links(site: Site) -> None:
    (site.root / "items" / "名单.csv").write_text("姓名,学院\n王晓,文学院\n", "utf-8")
    site.write(
        "n1",
        extra="""
attachments:
  - {title: 拟录取名单, file: 名单.csv}
  - {title: 招生简章, url: "https://www.example.edu.cn/zsjz.pdf", type: application/pdf}""",
    )
    with site.app() as app:
        approve(app, "n1")
        app.tick()
    rss = etree.fromstring(site.out("feeds/all.rss.xml").read_bytes())
    enc = rss.find("channel/item/enclosure")
    size = len("姓名,学院\n王晓,文学院\n".encode())
    assert enc is not None and enc.get("type") == "text/csv" and enc.get("length") == str(size)
    href = enc.get("url")
    assert href.startswith("http://127.0.0.1:8080/files/") and unquote(href).endswith("/名单.csv")
    local = site.out(unquote(href.split("8080/", 1)[1]))
    assert local.read_text("utf-8") == "姓名,学院\n王晓,文学院\n"  # the approved bytes are served
    atom = etree.fromstring(site.out("feeds/all.atom.xml").read_bytes())
    links = atom.findall("atom:entry/atom:link", NS)
    rels = [(lk.get("rel"), lk.get("type")) for lk in links]
    assert rels == [
        ("alternate", "text/html"),
        ("enclosure", "text/csv"),
        ("enclosure", "application/pdf"),
    ]
    entry = parse(site, "feeds/all.atom.xml").entries[0]
    assert entry.link == "http://127.0.0.1:8080/notices/n1.html"
    assert len(entry.enclosures) == 2


def test_archives_per_rfc_5005(site: Site) -> None:
    site.feed_options("{max_items: 2}")
    dates = ["2024-03-01", "2024-09-01", "2025-05-01", "2026-01-10", "2026-11-20"]
    for i, d in enumerate(dates):
        site.write(f"n{i}", title=f"通知{i}", publish_at=f"{d} 09:00+08:00")
    with site.app() as app:
        for i in range(len(dates)):
            approve(app, f"n{i}")
        app.tick()
        main = etree.fromstring(site.out("feeds/all.rss.xml").read_bytes())
        assert [t.text for t in main.findall("channel/item/title")] == ["通知4", "通知3"]
        prev = main.find("channel/atom:link[@rel='prev-archive']", NS)
        assert prev is not None and prev.get("href").endswith("/feeds/archive/all-2025.rss.xml")
        assert main.find("channel/fh:archive", NS) is None
        a2025 = etree.fromstring(site.out("feeds/archive/all-2025.rss.xml").read_bytes())
        assert a2025.find("channel/fh:archive", NS) is not None
        assert (
            a2025.find("channel/atom:link[@rel='current']", NS)
            .get("href")
            .endswith("/feeds/all.rss.xml")
        )
        assert (
            a2025.find("channel/atom:link[@rel='prev-archive']", NS)
            .get("href")
            .endswith("/feeds/archive/all-2024.rss.xml")
        )
        a2024 = etree.fromstring(site.out("feeds/archive/all-2024.rss.xml").read_bytes())
        assert (
            a2024.find("channel/atom:link[@rel='next-archive']", NS)
            .get("href")
            .endswith("/feeds/archive/all-2025.rss.xml")
        )
        assert [t.text for t in a2024.findall("channel/item/title")] == ["通知1", "通知0"]
        atom_archive = etree.fromstring(site.out("feeds/archive/all-2024.atom.xml").read_bytes())
        assert atom_archive.find("fh:archive", NS) is not None
        before = site.out("feeds/archive/all-2024.rss.xml").read_bytes()
        # a new notice pushes 通知3 into the 2026 archive; the older archives stay as they were
        site.write("n5", title="通知5", publish_at="2026-11-25 09:00+08:00")
        approve(app, "n5")
        report = app.tick()
        assert site.out("feeds/archive/all-2024.rss.xml").read_bytes() == before
        assert report.channels["feed"].outcomes == {"sent": 1}
        main = etree.fromstring(site.out("feeds/all.rss.xml").read_bytes())
        assert [t.text for t in main.findall("channel/item/title")] == ["通知5", "通知4"]
        a2026 = etree.fromstring(site.out("feeds/archive/all-2026.rss.xml").read_bytes())
        assert [t.text for t in a2026.findall("channel/item/title")] == ["通知3"]


def test_only_affected_documents_are_rebuilt(site: Site) -> None:
    site.write("a", category="cwzc", item=19, title="预算")
    with site.app() as app:
        approve(app, "a")
        app.tick()
        feed = app.channels["feed"]
        rendered: list[str] = []
        original = feed.documents.render  # type: ignore[attr-defined]

        def spy(spec: Any, fmt: str, members: Any, path: str, *a: Any) -> bytes:
            rendered.append(path)
            return original(spec, fmt, members, path, *a)  # type: ignore[no-any-return]

        feed.documents.render = spy  # type: ignore[attr-defined]
        cwzc_before = site.out("feeds/cwzc.rss.xml").stat().st_mtime_ns
        site.write("b", title="招生章程")
        approve(app, "b")
        app.tick()
        assert sorted(rendered) == sorted(
            f"feeds/{k}{s}" for k in ("all", "zsks") for s in (".rss.xml", ".atom.xml", ".json")
        )
        assert site.out("feeds/cwzc.rss.xml").stat().st_mtime_ns == cwzc_before


def test_withdrawn_notice_leaves_every_document(site: Site) -> None:
    site.feed_options("{max_items: 1}")
    site.write("old", publish_at="2025-06-01 09:00+08:00", title="旧的招生通知")
    site.write("new", title="新的招生通知")
    with site.app() as app:
        approve(app, "old")
        approve(app, "new")
        app.tick()
        assert "旧的招生通知" in site.out("feeds/archive/zsks-2025.rss.xml").read_text("utf-8")
        app.withdraw("old", "错误发布")
        for rel in [
            p.relative_to(site.root / "public").as_posix()
            for p in (site.root / "public").rglob("*")
            if p.is_file()
        ]:
            assert "旧的招生通知" not in site.out(rel).read_text("utf-8", errors="replace"), rel


def test_opml_and_subscribe_page(site: Site) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
    opml = listparser.parse(site.out("feeds/feeds.opml").read_bytes())
    urls = {f.url for f in opml.feeds}
    assert "http://127.0.0.1:8080/feeds/all.rss.xml" in urls
    assert "http://127.0.0.1:8080/feeds/zsks.rss.xml" in urls and len(urls) == 11
    page = site.out("subscribe.html").read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>") and "订阅信息公开" in page
    for url in urls:
        assert url in page
    assert page.count("<svg") == 11 and "data-copy" in page


@pytest.fixture
def hub() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    pings: list[dict[str, list[str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            pings.append(parse_qs(body))
            self.send_response(204)
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hub", pings
    httpd.shutdown()
    httpd.server_close()


def test_websub_ping_after_each_change(site: Site, hub: tuple[str, list[Any]]) -> None:
    url, pings = hub
    site.feed_options(f"{{websub_hub: '{url}', categories: false}}")
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        pinged = {p["hub.url"][0] for p in pings}
        assert pinged == {
            f"http://127.0.0.1:8080/feeds/all{s}" for s in (".rss.xml", ".atom.xml", ".json")
        }
        assert all(p["hub.mode"] == ["publish"] for p in pings)
        rss = etree.fromstring(site.out("feeds/all.rss.xml").read_bytes())
        assert rss.find("channel/atom:link[@rel='hub']", NS).get("href") == url
        pings.clear()
        app.tick(force_build=True)  # nothing changed: no ping
        assert pings == []


def test_served_with_the_right_types(site: Site) -> None:
    import httpx

    from publisher.web.server import Server

    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        rules = app.file_rules()  # as `publisher run` serves
    srv = Server(site.root / "public", "127.0.0.1", 0, rules=rules)
    srv.start()
    try:
        for rel, ctype in [
            ("feeds/all.rss.xml", "application/rss+xml; charset=utf-8"),
            ("feeds/all.atom.xml", "application/atom+xml; charset=utf-8"),
            ("feeds/all.json", "application/feed+json; charset=utf-8"),
            ("feeds/feeds.opml", "text/x-opml; charset=utf-8"),
            ("subscribe.html", "text/html; charset=utf-8"),
        ]:
            r = httpx.get(f"{srv.url}/{rel}")
            assert r.status_code == 200 and r.headers["content-type"] == ctype, rel
    finally:
        srv.stop()


def test_config_rejects_bad_feed_options(tmp_path: Path) -> None:
    from publisher.config import parse_settings
    from publisher.errors import ErrorSet

    text = (
        "site: {name: x, school_name: 测试大学}\nchannels:\n  - name: f\n    type: rss\n"
        "    options: {departments: {招生: 招生就业处}, formats: [rss, csv]}\n"
    )
    with pytest.raises(ErrorSet) as info:
        parse_settings(text, tmp_path / "config.yaml")
    fields = {e.field for e in info.value.errors}
    assert fields == {"channels.0.options.departments", "channels.0.options.formats"}


def test_summaries_stay_text_and_attachment_urls_are_encoded(site: Site) -> None:
    import httpx

    from publisher.web.server import Server

    (site.root / "items" / "名单 2026#1.csv").write_text("姓名\n王晓\n", "utf-8")
    site.write(
        "n1",
        extra='attachments:\n  - {title: 名单, file: "名单 2026#1.csv"}',
    )
    text = (site.root / "items" / "n1.md").read_text("utf-8")
    hostile = '税费 &amp; 说明"><svg onload=alert(1)>'
    (site.root / "items" / "n1.md").write_text(
        text.replace("summary: 摘要。", f"summary: '{hostile}'"), "utf-8"
    )
    with site.app() as app:
        approve(app, "n1")
        app.tick()
    rss = site.out("feeds/all.rss.xml").read_bytes()
    item = etree.fromstring(rss).find("channel/item")
    assert item is not None
    description = item.findtext("description")
    # what a reader renders as HTML is the text, escaped: no <svg> element, "&amp;" stays
    assert description == '税费 &amp;amp; 说明"&gt;&lt;svg onload=alert(1)&gt;'
    parsed = feedparser.parse(rss).entries[0]
    assert "<svg" not in parsed.summary
    url = item.find("enclosure").get("url")  # type: ignore[union-attr]
    assert url.endswith("/%E5%90%8D%E5%8D%95%202026%231.csv"), url
    srv = Server(site.root / "public", "127.0.0.1", 0)
    srv.start()
    try:
        path = url.split("127.0.0.1:8080", 1)[1]
        r = httpx.get(srv.url + path)
        assert r.status_code == 200 and r.text == "姓名\n王晓\n"
    finally:
        srv.stop()


def test_a_json_feed_has_the_same_type_in_preview_and_when_served(site: Site) -> None:
    from publisher.mediatypes import content_type

    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        previews = {p.label: p.content_type for p in app.preview("n1", "feed")}
        rules = app.file_rules()  # what the site serves with
    assert previews["feeds/all.json"] == "application/feed+json; charset=utf-8"
    assert content_type("feeds/all.json", rules) == previews["feeds/all.json"]
    assert content_type("feeds/all.json") != previews["feeds/all.json"]  # the channel says so
    assert previews["feeds/all.rss.xml"].startswith("application/rss+xml")

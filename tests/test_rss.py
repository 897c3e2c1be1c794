from __future__ import annotations

import feedparser
from lxml import etree

from .helpers import Site, approve


def parsed(site: Site, name: str = "all.rss.xml") -> feedparser.FeedParserDict:
    data = site.out(f"feeds/{name}").read_bytes()
    etree.fromstring(data)  # well-formed XML, or this raises
    result = feedparser.parse(data)
    assert not result.bozo, result.get("bozo_exception")
    return result


def test_rss_and_atom_fields(site: Site) -> None:
    site.write(
        "n1",
        expires_at="2026-12-04 18:00+08:00",
        body="正文含**加粗**与[链接](https://www.example.edu.cn/a)。\n\n"
        "| 序号 | 姓名 |\n|---|---|\n| 1 | 王晓 |",
    )
    with site.app() as app:
        approve(app, "n1")
        app.tick()
    for name in ("all.rss.xml", "all.atom.xml"):
        feed = parsed(site, name)
        assert feed.feed.language.lower() == "zh-cn"
        self_links = [lk.href for lk in feed.feed.links if lk.rel == "self"]
        assert self_links == [f"http://127.0.0.1:8080/feeds/{name}"]
        entry = feed.entries[0]
        assert entry.title == "测试示范大学招生章程"
        assert entry.link == "http://127.0.0.1:8080/notices/n1.html"
        assert entry.id.startswith("urn:uuid:")
        # Atom carries the ASCII slug as term (label 招生考试信息); RSS shows the name
        assert entry.tags[0].term == ("zsks" if "atom" in name else "招生考试信息")
        assert entry.author == "招生就业处"
        assert "<strong>加粗</strong>" in entry.content[0].value
        assert "<table>" in entry.content[0].value
        # 09:00 in Shanghai is 01:00 UTC: a reader never sees it 8 hours off
        assert entry.published_parsed[:5] == (2026, 11, 26, 1, 0)
    rss = site.out("feeds/all.rss.xml").read_text("utf-8")
    assert "<link>http://127.0.0.1:8080/</link>" in rss  # the channel link is the site
    assert "+0800" in rss and "<ttl>60</ttl>" in rss
    assert 'isPermaLink="false"' in rss


def test_rebuild_without_change_is_byte_identical(site: Site) -> None:
    site.write("n1")
    site.write("n2", title="第二条通知")
    with site.app() as app:
        approve(app, "n1")
        approve(app, "n2")
        app.tick()
        before = {
            p: site.out(p).read_bytes()
            for p in (
                "feeds/all.rss.xml",
                "feeds/all.atom.xml",
                "index.html",
                "signage/landscape/current/manifest.json",
                "signage/landscape/current/index.html",
            )
        }
        mtimes = {p: site.out(p).stat().st_mtime_ns for p in before}
        site.clock.advance(3600)
        report = app.tick(force_build=True)
        assert report.channels["feed"].built and report.channels["feed"].changed_files == 0
        for p, data in before.items():
            assert site.out(p).read_bytes() == data
            assert site.out(p).stat().st_mtime_ns == mtimes[p]


def test_revision_keeps_guid_and_updates_updated(site: Site) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        first = parsed(site, "all.atom.xml").entries[0]
        site.clock.advance(3600)
        site.write("n1", body="更正后的正文。")
        approve(app, "n1")
        app.tick()
        second = parsed(site, "all.atom.xml").entries[0]
    assert len(parsed(site, "all.atom.xml").entries) == 1
    assert second.id == first.id
    assert second.updated_parsed > first.updated_parsed
    assert "更正后的正文" in second.content[0].value


def test_guid_is_derived_from_the_id_only(site: Site) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        guid = parsed(site).entries[0].id
        app.withdraw("n1", "retitle")
    site.write("n1", title="改了标题", publish_at="2026-11-26 09:30+08:00")
    with site.app() as app:
        assert app.channels["feed"].guid("n1") == guid  # type: ignore[attr-defined]


def test_only_live_notices_newest_first(site: Site) -> None:
    site.write("old", publish_at="2026-11-20 09:00+08:00", title="旧通知")
    site.write("new", publish_at="2026-11-25 09:00+08:00", title="新通知")
    site.write("later", publish_at="2026-12-01 09:00+08:00", title="未来通知")
    with site.app() as app:
        for nid in ("old", "new", "later"):
            approve(app, nid)
        app.tick()
    titles = [e.title for e in parsed(site).entries]
    assert titles == ["新通知", "旧通知"]

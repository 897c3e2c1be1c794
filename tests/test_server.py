from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from publisher.config import load_settings
from publisher.mediatypes import cache_control
from publisher.service.delivery import file_rules_of
from publisher.web.server import Server

from .helpers import Site, approve


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "all.rss.xml").write_text("<rss>" + "公开" * 500 + "</rss>", "utf-8")
    (tmp_path / "index.html").write_text("<h1>首页</h1>", "utf-8")
    (tmp_path / ".publisher-files.feed.json").write_text("[]", "utf-8")
    srv = Server(tmp_path, "127.0.0.1", 0, health=lambda: (True, {"store": "ok"}))
    srv.start()
    yield srv, tmp_path
    srv.stop()


def test_feed_headers_and_conditional_requests(served: tuple[Server, Path]) -> None:
    srv, root = served
    with httpx.Client(base_url=srv.url) as c:
        r = c.get("/feeds/all.rss.xml")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/rss+xml; charset=utf-8"
        assert r.headers["cache-control"] == "public, max-age=900"
        etag, modified = r.headers["etag"], r.headers["last-modified"]
        assert c.get("/feeds/all.rss.xml", headers={"If-None-Match": etag}).status_code == 304
        assert (
            c.get("/feeds/all.rss.xml", headers={"If-Modified-Since": modified}).status_code == 304
        )
        (root / "feeds" / "all.rss.xml").write_text("<rss>changed</rss>", "utf-8")
        r2 = c.get("/feeds/all.rss.xml", headers={"If-None-Match": etag})
        assert r2.status_code == 200 and r2.headers["etag"] != etag


def test_gzip_when_asked(served: tuple[Server, Path]) -> None:
    srv, _ = served
    with httpx.Client(base_url=srv.url) as c:
        raw = c.get("/feeds/all.rss.xml", headers={"Accept-Encoding": "gzip"})
        assert raw.headers["content-encoding"] == "gzip"
        assert "公开" in raw.text  # httpx decodes it
        plain = httpx.get(srv.url + "/feeds/all.rss.xml", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert len(raw.content) == len(plain.content)
        assert int(raw.headers["content-length"]) < len(gzip.compress(plain.content)) + 64


def test_a_busy_port_is_a_clear_error(served: tuple[Server, Path]) -> None:
    from publisher.errors import PublisherError

    srv, root = served
    with pytest.raises(PublisherError, match=r"cannot serve on 127\.0\.0\.1:.*--port"):
        Server(root, "127.0.0.1", srv.address[1])


def test_index_traversal_hidden_files_and_health(served: tuple[Server, Path]) -> None:
    srv, _ = served
    with httpx.Client(base_url=srv.url) as c:
        assert "首页" in c.get("/").text
        assert c.get("/../../etc/passwd").status_code == 404
        assert c.get("/%2e%2e/%2e%2e/etc/passwd").status_code == 404
        assert c.get("/.publisher-files.feed.json").status_code == 404
        assert c.get("/nope.xml").status_code == 404
        h = c.get("/health")
        assert h.status_code == 200 and h.json() == {"ok": True, "store": "ok"}


def test_a_withdrawn_notice_page_answers_410_with_when_and_why(tmp_path: Path) -> None:
    from .helpers import Site, approve

    site = Site(tmp_path)
    site.write("n1", body="身份证号 110101199003077777 王晓明")
    site.write("n2", title="尚未发布的通知", publish_at="2026-12-01 09:00+08:00")
    with site.app() as app:
        approve(app, "n1")
        approve(app, "n2")
        app.tick()
        app.withdraw("n1", "含未脱敏的个人信息", actor="李明")
        app.withdraw("n2", "取消发布", actor="李明")  # never published: no page, no title shown
        srv = Server(site.root / "public", "127.0.0.1", 0)
        srv.start()
        try:
            r = httpx.get(srv.url + "/notices/n1.html")
            assert r.status_code == 410 and r.headers["content-type"].startswith("text/html")
            assert "该公开事项已撤回" in r.text and "含未脱敏的个人信息" in r.text
            # nothing of what was withdrawn, not even the title
            assert "测试示范大学招生章程" not in r.text and "王晓明" not in r.text
            assert "2026-11-26 10:00" in r.text  # when (the site's time)
            assert httpx.get(srv.url + "/notices/n2.html").status_code == 404
            assert httpx.get(srv.url + "/.gone/notices/n1.html").status_code == 404
            feed = httpx.get(srv.url + "/feeds/all.rss.xml").text
            assert "n1.html" not in feed and "已撤回" not in feed
            assert "n1.html" not in httpx.get(srv.url + "/").text
        finally:
            srv.stop()


def test_channels_say_how_their_files_are_served(site: Site) -> None:
    """Caching the core cannot know is declared by the channel that writes the files: with
    the signage folder renamed, the moving bundle is still revalidated, slide images stay
    immutable, and the JSON Feed keeps its type, as `publisher serve` serves them."""
    text = site.config.read_text("utf-8").replace(
        "      profiles:\n", "      folder: screens\n      profiles:\n", 1
    )
    site.config.write_text(text, "utf-8")
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
    public = site.root / "public"
    bundle = next(public.glob("screens/landscape/versions/*/index.html")).relative_to(public)
    (public / "screens/landscape/files").mkdir(exist_ok=True)  # (this profile draws no PNG)
    (public / "screens/landscape/files/probe.png").write_bytes(b"\x89PNG")
    srv = Server(public, "127.0.0.1", 0, rules=file_rules_of(load_settings(site.config)))
    srv.start()
    try:
        for rel, cache, ctype in [
            (bundle.as_posix(), "no-cache", "text/html"),
            ("screens/landscape/files/probe.png", "public, max-age=31536000, immutable", "image"),
            ("feeds/all.json", "public, max-age=900", "application/feed+json"),
        ]:
            r = httpx.get(f"{srv.url}/{rel}")
            assert r.status_code == 200, rel
            assert r.headers["cache-control"] == cache, rel
            assert r.headers["content-type"].startswith(ctype), rel
    finally:
        srv.stop()
    # and without the channel's rules the core alone would let readers keep the bundle
    assert cache_control(bundle.as_posix()) != "no-cache"

"""Done means, from a reader's side: a feed reader polling every 15 minutes with conditional
requests sees each notice once, at its publish time, in local time; sees a revision as an
update, not a new item; and stops seeing a withdrawn or expired notice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import feedparser
import httpx
from playwright.sync_api import expect

from publisher.web.server import Server

from .helpers import Site, approve, served_rules


class Reader:
    """What a feed reader keeps: items by GUID, the ETag of its last fetch."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.etag: str | None = None
        self.items: dict[str, dict[str, Any]] = {}
        self.new: list[str] = []
        self.updated: list[str] = []
        self.not_modified = 0

    def poll(self) -> list[str]:
        headers = {"If-None-Match": self.etag} if self.etag else {}
        r = httpx.get(self.url, headers=headers)
        if r.status_code == 304:
            self.not_modified += 1
            return sorted(self.items)
        assert r.status_code == 200
        self.etag = r.headers["etag"]
        feed = feedparser.parse(r.content)
        present = []
        for e in feed.entries:
            present.append(e.id)
            if e.id not in self.items:
                self.new.append(e.title)
            elif self.items[e.id]["updated"] != e.updated:
                self.updated.append(e.title)
            self.items[e.id] = {"title": e.title, "updated": e.updated, "published": e.published}
        for gone in set(self.items) - set(present):
            del self.items[gone]
        return sorted(present)


def test_a_reader_polling_every_15_minutes(site: Site) -> None:
    site.write("a", title="招生章程", publish_at="2026-11-26 09:00+08:00")
    site.write(
        "b",
        title="拟录取名单公示",
        publish_at="2026-11-26 10:20+08:00",
        expires_at="2026-11-26 11:20+08:00",
    )
    site.write("c", title="收费标准", category="cwzc", item=21, publish_at="2026-11-26 10:05+08:00")
    with site.app() as app:
        for nid in ("a", "b", "c"):
            approve(app, nid)
        srv = Server(site.root / "public", "127.0.0.1", 0, rules=served_rules(site))
        srv.start()
        reader = Reader(srv.url + "/feeds/all.atom.xml")
        seen: list[tuple[str, list[str]]] = []
        try:
            for _ in range(8):  # polls at 10:00, 10:15 … 11:45
                now = site.clock.now()
                if now.strftime("%H:%M") == "10:30":
                    site.write(
                        "a",
                        title="招生章程",
                        publish_at="2026-11-26 09:00+08:00",
                        body="更正后的章程正文。",
                    )
                    approve(app, "a")
                if now.strftime("%H:%M") == "11:00":
                    app.withdraw("c", "发布有误")
                app.sync()
                app.tick()
                seen.append(
                    (now.strftime("%H:%M"), [reader.items[i]["title"] for i in reader.poll()])
                )
                site.clock.advance(timedelta(minutes=15))
        finally:
            srv.stop()
    timeline = dict(seen)
    assert timeline["10:00"] == ["招生章程"]
    assert sorted(timeline["10:15"]) == sorted(["招生章程", "收费标准"])  # c appears after 10:05
    assert "拟录取名单公示" in timeline["10:30"]  # b at its 10:20 publish time
    assert "收费标准" not in timeline["11:00"]  # withdrawn: gone at once
    assert "拟录取名单公示" not in timeline["11:30"]  # its 公示期 ended at 11:20
    # each notice arrived once; the revision came as an update of the same item
    assert sorted(reader.new) == sorted(["拟录取名单公示", "招生章程", "收费标准"])
    assert reader.updated == ["【更正】招生章程"]
    assert reader.not_modified >= 2  # unchanged polls cost a 304, not the feed
    a = next(i for i in reader.items.values() if "招生章程" in i["title"])
    assert a["published"].endswith("+08:00")  # local time, with its zone


def test_subscribe_page_in_a_browser(site: Site, browser: Any) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
    srv = Server(site.root / "public", "127.0.0.1", 0, rules=served_rules(site))
    srv.start()
    try:
        context = browser.new_context(viewport={"width": 1000, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=srv.url)
        page = context.new_page()
        page.goto(srv.url + "/subscribe.html")
        assert page.locator("h1").inner_text() == "订阅信息公开"
        qr = page.locator("#feed-zsks svg")
        box = qr.bounding_box()
        assert box is not None and box["width"] > 60 and box["height"] > 60
        button = page.locator("#feed-zsks button").first
        button.click()
        expect(button).to_have_text("已复制")  # waits for the clipboard promise
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == "http://127.0.0.1:8080/feeds/zsks.rss.xml"
        context.close()
    finally:
        srv.stop()

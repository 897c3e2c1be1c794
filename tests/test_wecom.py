from __future__ import annotations

import json

from channels.wecom import cut_bytes

from .conftest import Site, approve
from .vendors import WeComServer


def test_cut_bytes_never_breaks_a_character() -> None:
    s = "中文标题" * 50
    cut = cut_bytes(s, 128)
    assert len(cut.encode("utf-8")) <= 128 and cut.endswith("…")
    assert cut_bytes("short", 128) == "short"


def test_news_card_limits(site: Site, wecom: WeComServer) -> None:
    site.write("n1", title="很长的标题" * 20)
    with site.app() as app:
        approve(app, "n1")
        app.tick()
    article = wecom.received[0]["news"]["articles"][0]
    assert len(article["title"].encode()) <= 128
    assert len(article["description"].encode()) <= 512


def test_long_markdown_falls_back_to_summary_and_link(
    make_site: object, wecom: WeComServer
) -> None:
    site: Site = make_site(msgtype="markdown")  # type: ignore[operator]
    site.write("n1", body="很长的正文段落。" * 400)
    site.write("n2", body="短正文。")
    with site.app() as app:
        approve(app, "n1")
        approve(app, "n2")
        payload = app.preview("n1", "group")[0]
        assert len(json.loads(payload.body)["markdown"]["content"].encode()) <= 4096
        app.tick()
    contents = [m["markdown"]["content"] for m in wecom.received]
    assert len(contents) == 2
    assert all("[查看全文](http://127.0.0.1:8080/notices/" in c for c in contents)
    assert any("短正文。" in c for c in contents)


def test_preview_is_exactly_what_is_sent_and_redacts_the_target(
    site: Site, wecom: WeComServer
) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        payload = app.preview("n1", "group")[0]
        assert wecom.received == []  # a preview sends nothing
        assert "test-key-0123456789abcdef" not in payload.target
        app.tick()
    assert json.loads(payload.body) == wecom.received[0]

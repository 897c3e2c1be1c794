"""Properties of how the WeChat channels write a notice, for any notice text: 企业微信 app
messages stay within the vendor's byte limits and lose nothing when split; a 公众号 article
carries no image WeChat would strip, no script, and no link a reader could not see."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.wechat.article import CONTENT_MAX, TITLE_MAX, article_for
from channels.wechat.wecom_app import WeComAppChannel, WeComAppOptions
from publisher.channel import ChannelContext
from publisher.clock import ManualClock
from publisher.model import Action, Notice, PublishedNotice, SiteInfo
from publisher.notices.files import LINE_BREAK
from publisher.templating import make_environment
from publisher.text import render_markdown

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=TZ)
SITE = SiteInfo("站点", "测试示范大学", "http://127.0.0.1:8080", TZ)

# Markdown made of the pieces that trouble message writers: tables, links, images, headings,
# long runs without a break, multi-byte characters, HTML that must stay text
piece = st.one_of(
    # text with no Markdown of its own (what the pieces below bring is what is checked)
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="|[]#`*!-"),
        max_size=40,
    ),
    st.sampled_from(
        [
            "\n\n## 复试安排\n\n",
            "| 姓名 | 学院 |\n|---|---|\n| 王晓 | 文学院 |\n",
            "[通知全文](https://example.edu.cn/a.html)",
            "![示意图](https://evil.example.com/x.png)",
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "招生复试工作安排说明。" * 30,
            "\n\n",
            "👨‍👩‍👧",
            "**重要**",
            "`代码`",
        ]
    ),
)
markdown = st.lists(piece, max_size=30).map("\n\n".join)


def view(title: str, body: str) -> PublishedNotice:
    n = Notice(
        id="p1",
        title=title or "标题",
        category="zsks",
        item=7,
        department="招生就业处",
        summary="摘要。",
        body=body,
        publish_at=T0,
    )
    return PublishedNotice(
        notice=n,
        sha256="0" * 64,
        url="http://127.0.0.1:8080/notices/p1.html",
        html=render_markdown(body),
        approved_at=T0,
        revision=1,
        category_name="招生考试信息",
        item_text="",
    )


def app_channel(msgtype: str) -> WeComAppChannel:
    env: jinja2.Environment = make_environment(None, TZ)
    ctx = ChannelContext(SITE, env, Path("/nonexistent"), ManualClock(T0))
    options = WeComAppOptions(
        corpid="ww0123", corpsecret="s" * 32, agentid=1, touser=["@all"], msgtype=msgtype
    )
    return WeComAppChannel("app", options, ctx)


CHANNELS = {m: app_channel(m) for m in ("textcard", "news", "markdown", "text")}


# titles are plain text as written (what they contain is checked by the gate, not here)
# titles as the notice parser admits them: one line (it refuses a line break in a title)
plain_title = st.text(
    st.characters(exclude_characters="|[]#`*", codec="utf-8"), max_size=80
).filter(lambda t: not LINE_BREAK.search(t))


@settings(max_examples=150, deadline=None)
@given(title=plain_title, body=markdown, msgtype=st.sampled_from(sorted(CHANNELS)))
def test_app_messages_within_limits_and_nothing_lost(title: str, body: str, msgtype: str) -> None:
    payloads = CHANNELS[msgtype].render(view(title, body), Action.PUBLISH)
    assert payloads
    for p in payloads:
        sent = json.loads(p.body)
        content = sent[sent["msgtype"]]
        if "content" in content:
            assert len(content["content"].encode()) <= 2048
        if sent["msgtype"] == "textcard":
            assert len(content["title"].encode()) <= 128
            assert len(content["description"].encode()) <= 512
            assert "<script" not in content["description"]  # the card's HTML is escaped
    if msgtype in ("markdown", "text") and len(payloads) > 1:
        # split, not cut: every sentence of the body is in some part
        joined = "".join(json.loads(p.body)[msgtype]["content"] for p in payloads)
        for sentence in re.findall(r"招生复试工作安排说明。", body)[:3]:
            assert sentence in joined
        for i, p in enumerate(payloads, 1):
            first = json.loads(p.body)[msgtype]["content"].splitlines()[0]
            assert f"({i}/{len(payloads)})" in first
    if msgtype == "text":
        for p in payloads:
            text = json.loads(p.body)["text"]["content"]
            assert "|---|" not in text and "](" not in text and "\n## " not in text


@settings(max_examples=150, deadline=None)
@given(title=st.text(min_size=1, max_size=80), body=markdown)
def test_articles_carry_only_what_wechat_keeps(title: str, body: str) -> None:
    body_dict, images = article_for(view(title, body), "信息公开办公室")
    article = body_dict["article"]
    assert 1 <= len(article["title"]) <= TITLE_MAX
    assert len(article["content"]) <= CONTENT_MAX
    content = article["content"]
    assert "<script" not in content.lower()
    assert "<img" not in content  # no image of its own: none from elsewhere either
    assert "<a " not in content  # links written out, none WeChat would strip
    assert images == []
    if "evil.example.com" in body:
        assert "evil.example.com/x.png" not in content

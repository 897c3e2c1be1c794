"""Whatever Unicode a notice carries (emoji, ZWJ sequences, control characters, ``]]>``, lone
surrogates), every feed document is well-formed and carries the visible text exactly."""

from __future__ import annotations

import hashlib
import html
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from channels.rss import RssChannel, RssOptions
from publisher.channel import ChannelContext
from publisher.clock import ManualClock
from publisher.model import Notice, PublishedNotice, SiteInfo
from publisher.templating import make_environment
from publisher.text import render_markdown, xml_safe

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=TZ)
SITE = SiteInfo("站点", "测试示范大学", "http://127.0.0.1:8080", TZ)
NS = {"atom": "http://www.w3.org/2005/Atom", "content": "http://purl.org/rss/1.0/modules/content/"}

# anything (lone surrogates and control characters included), mixed with pieces that break
# naive feed writers
nasty = st.lists(
    st.one_of(
        st.text(st.characters(), min_size=1, max_size=8),
        st.sampled_from(
            [
                "]]>",
                "👨‍👩‍👧",
                "🏳️‍🌈",
                "\u200d",
                "\x00",
                "\x0b",
                "\ufffe",
                "&amp;",
                "<script>",
                "中文",
                "\ud800",
                "\udfff",
                "\r\n",
            ]
        ),
    ),
    min_size=1,
    max_size=8,
).map("".join)


def channel(tmp: Path) -> RssChannel:
    env: jinja2.Environment = make_environment(None, TZ)
    ctx = ChannelContext(SITE, env, tmp, ManualClock(T0), categories={"zsks": "招生考试信息"})
    opts = RssOptions(pages=False, categories=True)
    return RssChannel("feed", opts, ctx)


def view(title: str, body: str, summary: str, department: str) -> PublishedNotice:
    n = Notice(
        id="p1",
        title=title,
        category="zsks",
        item=7,
        department=department,
        summary=summary,
        body=body,
        publish_at=T0,
    )
    # a version's hash names its content: the channel caches entries by it
    sha = hashlib.sha256(repr((title, body, summary, department)).encode("utf-8", "replace"))
    return PublishedNotice(
        notice=n,
        sha256=sha.hexdigest(),
        url="http://127.0.0.1:8080/notices/p1.html",
        html=render_markdown(body),
        approved_at=T0,
        revision=1,
        category_name="招生考试信息",
        item_text="",
    )


CHANNEL = channel(Path("/nonexistent"))  # render_all only renders; nothing is written


@settings(max_examples=150, deadline=None)
@given(title=nasty, body=nasty, summary=nasty, department=nasty)
def test_any_text_gives_well_formed_feeds_that_round_trip(
    title: str, body: str, summary: str, department: str
) -> None:
    ch = CHANNEL
    v = view(title, body, summary, department)
    docs = ch.render_all([v])
    rss = etree.fromstring(docs["feeds/all.rss.xml"])  # raises if not well-formed
    item = rss.find("channel/item")
    shown_title = xml_safe(title).strip() or "p1"
    assert item.findtext("title") == shown_title
    assert item.findtext("content:encoded", namespaces=NS) == xml_safe(v.html)
    assert item.findtext("description")  # a summary, or an excerpt of the body
    if xml_safe(summary).strip():
        # <description> is HTML to readers: the summary is its text, escaped
        assert html.unescape(item.findtext("description") or "") == xml_safe(summary).strip()
    atom = etree.fromstring(docs["feeds/all.atom.xml"])
    entry = atom.find("atom:entry", NS)
    assert entry.findtext("atom:title", namespaces=NS) == shown_title
    assert entry.findtext("atom:content", namespaces=NS) == xml_safe(v.html)
    assert entry.findtext("atom:author/atom:name", namespaces=NS) == (
        xml_safe(department).strip() or "-"
    )
    item_json = json.loads(docs["feeds/all.json"])["items"][0]
    assert item_json["title"] == shown_title
    assert item_json["content_html"] == xml_safe(v.html)
    assert docs["feeds/zsks.rss.xml"].count(b"<item>") == 1


# --------------------------------------------------------------------------- the planner

CATS = ["zsks", "cwzc", "xsgl"]
DEPTS = ["招生就业处", "计划财务处"]


def small_view(nid: int, version: int, day: int, cat: int, dept: int) -> PublishedNotice:
    n = Notice(
        id=f"n{nid}",
        title=f"通知{nid}v{version}",
        category=CATS[cat],
        item=7,
        department=DEPTS[dept],
        summary="摘要",
        body=f"正文{version}",
        publish_at=datetime(2024, 1, 1, 9, 0, tzinfo=TZ) + timedelta(days=day),
    )
    sha = hashlib.sha256(f"{nid}:{version}:{day}:{cat}:{dept}".encode()).hexdigest()
    prev = hashlib.sha256(f"{nid}:{version - 1}".encode()).hexdigest() if version else None
    return PublishedNotice(
        notice=n,
        sha256=sha,
        url=f"http://x/{nid}",
        html=f"<p>{version}</p>",
        approved_at=n.publish_at,
        revision=version + 1,
        category_name=CATS[cat],
        item_text="",
        previous_sha256=prev,
    )


STEPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "revise", "remove"]),
        st.integers(0, 30),
        st.integers(0, 900),
        st.integers(0, 2),
        st.integers(0, 1),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 900), st.integers(0, 2), st.integers(0, 1)), max_size=40),
    STEPS,
)
def test_incremental_plan_equals_the_full_plan(
    start: list[tuple[int, int, int]], steps: list[tuple[str, int, int, int, int]]
) -> None:
    """After any sequence of additions, revisions and removals, the kept plan gives exactly
    the documents (keys and bytes) a plan from scratch gives."""
    ctx = ChannelContext(
        SITE,
        make_environment(None, TZ),
        Path("/nonexistent"),
        ManualClock(T0),
        categories=dict(zip(CATS, CATS, strict=True)),
    )
    ch = RssChannel(
        "feed",
        RssOptions(pages=False, max_items=3, departments={"zs": DEPTS[0], "cw": DEPTS[1]}),
        ctx,
    )
    live = {f"n{i}": small_view(i, 0, *s) for i, s in enumerate(start)}
    versions = dict.fromkeys(live, 0)
    ch.planner.plan(list(live.values()))
    for action, nid, day, cat, dept in steps:
        key = f"n{nid}"
        if action == "add" and key not in live:
            live[key] = small_view(nid, 0, day, cat, dept)
            versions[key] = 0
        elif action == "revise" and key in live:
            versions[key] += 1
            live[key] = small_view(nid, versions[key], day, cat, dept)
        elif action == "remove":
            live.pop(key, None)
        kept = ch.planner.plan(list(live.values()))
        ordered = sorted(
            live.values(), key=lambda v: (v.notice.publish_at, v.notice.id), reverse=True
        )
        fresh = ch.documents.plan(ch.planner.feeds, ordered)
        assert {p: d.key for p, d in kept.items()} == {p: d.key for p, d in fresh.items()}
        for path in list(fresh)[:6]:
            assert kept[path].render() == fresh[path].render()

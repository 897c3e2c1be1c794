"""Robot messages as each app shows them: no Markdown syntax where an app shows it literally
(``text`` messages), no tables where an app cannot draw them (WeCom markdown v1, DingTalk,
Feishu cards), nothing of the notice lost. Over the sample site's notices and generated
Markdown."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from channels.common.bodies import plain, without_tables
from publisher.model import Action, PublishedNotice

from .helpers import ROOT, TZ, Site

WORDS = st.sampled_from(["招生", "章程", "公示期", "学院", "2027年", "第一条", "异议", "名单"])
PHRASE = st.lists(WORDS, min_size=1, max_size=4).map("".join)


@st.composite
def markdown(draw: Any) -> tuple[str, list[str], int]:
    """A body of headings, paragraphs with emphasis, links and code, lists and tables; the
    words a reader must still see, and how many tables it has."""
    blocks: list[str] = []
    words: list[str] = []
    tables = 0
    for kind in draw(st.lists(st.sampled_from("hpltc"), min_size=1, max_size=6)):
        a, b = draw(PHRASE), draw(PHRASE)
        if kind == "h":
            blocks.append(f"{'#' * draw(st.integers(1, 4))} {a}")
            words.append(a)
        elif kind == "p":
            blocks.append(f"{a}**{b}**，见[通知](https://www.example.edu.cn/{len(blocks)})。")
            words += [a, b, "通知", "https://www.example.edu.cn/"]
        elif kind == "l":
            items = draw(st.lists(PHRASE, min_size=1, max_size=3))
            mark = draw(st.sampled_from(["-", "1."]))
            blocks.append("\n".join(f"{mark} {x}" for x in items))
            words += items
        elif kind == "c":
            blocks.append(f"请填写 `{a}` 一栏。")
            words.append(a)
        else:
            rows = draw(st.lists(st.tuples(PHRASE, PHRASE), min_size=1, max_size=4))
            table = "| 姓名 | 学院 |\n|---|---|\n" + "".join(f"| {x} | {y} |\n" for x, y in rows)
            blocks.append(table.strip())
            words += [x for row in rows for x in row]
            tables += 1
    return "\n\n".join(blocks), words, tables


MARKDOWN_SYNTAX = re.compile(r"(^|\n)\s*#{1,6}\s|\*\*|`|\]\(|\|\s*-{3,}|(^|\n)\s*\|")


@settings(max_examples=300, deadline=None)
@given(markdown())
def test_plain_text_has_no_markdown_and_loses_nothing(case: tuple[str, list[str], int]) -> None:
    body, words, _ = case
    text = plain(body)
    assert not MARKDOWN_SYNTAX.search(text), text
    for w in words:
        assert w in text, (w, text)


@settings(max_examples=300, deadline=None)
@given(markdown())
def test_tables_are_replaced_by_a_line_that_links_to_the_full_text(
    case: tuple[str, list[str], int],
) -> None:
    body, _, tables = case
    text = without_tables(body, "https://x.example.edu.cn/notices/n1.html")
    assert not re.search(r"(^|\n)\s*\|", text), text
    assert text.count("（表格共") == tables
    assert text.count("](https://x.example.edu.cn/notices/n1.html)") == tables


ROBOTS = """\
  - {name: w-text, type: wecom, options: {webhook_url: "http://127.0.0.1:9/s?key=k1", msgtype: text}}
  - {name: w-md, type: wecom, options: {webhook_url: "http://127.0.0.1:9/s?key=k2", msgtype: markdown}}
  - {name: w-md2, type: wecom, options: {webhook_url: "http://127.0.0.1:9/s?key=k3", msgtype: markdown_v2}}
  - {name: d-md, type: dingtalk, options: {webhook_url: "http://127.0.0.1:9/d?access_token=t1", keyword: 信息公开}}
  - {name: d-text, type: dingtalk, options: {webhook_url: "http://127.0.0.1:9/d?access_token=t2", msgtype: text, keyword: 信息公开}}
  - {name: f-card, type: feishu, options: {webhook_url: "http://127.0.0.1:9/f/hook/a1"}}
  - {name: f-post, type: feishu, options: {webhook_url: "http://127.0.0.1:9/f/hook/a2", msgtype: post}}
  - {name: f-text, type: feishu, options: {webhook_url: "http://127.0.0.1:9/f/hook/a3", msgtype: text}}
"""  # noqa: E501


def _texts(body: dict[str, Any]) -> list[str]:
    """Every string of a request body (what the app shows is among them)."""
    if isinstance(body, dict):
        return [t for v in body.values() for t in _texts(v)]
    if isinstance(body, list):
        return [t for v in body for t in _texts(v)]
    return [body] if isinstance(body, str) else []


def test_every_sample_notice_reads_well_in_every_app(site: Site) -> None:
    text = site.config.read_text("utf-8")
    start, end = text.index("  - name: group"), text.index("  - name: screen")
    text = text[:start] + ROBOTS + text[end:]
    text = text.replace("channels: [group]", "channels: [w-text]")
    site.config.write_text(text, "utf-8")
    shutil.rmtree(site.root / "items")
    shutil.copytree(ROOT / "items", site.root / "items")
    with site.app() as app:
        notices, errors = app.load()
        assert notices and not errors, errors[:3]
        tables = 0
        for n in notices.values():
            view = PublishedNotice(
                notice=n,
                sha256="0" * 64,
                url=f"https://xxgk.example.edu.cn/notices/{n.id}.html",
                html="",
                approved_at=datetime(2026, 11, 26, 10, tzinfo=TZ),
                revision=1,
                category_name="",
                item_text="",
            )
            tables += "|---" in n.body.replace(" ", "")
            for name, ch in app.channels.items():
                if ch.kind != "message":
                    continue
                for payload in ch.render(view, Action.PUBLISH):
                    shown = "\n".join(_texts(json.loads(payload.body)))
                    if name.endswith("text") or name == "f-post":
                        # shown as typed: no Markdown at all
                        assert not MARKDOWN_SYNTAX.search(shown), (name, n.id, shown[:300])
                    elif name != "w-md2":
                        # rendered, but not tables: none may reach the app
                        assert not re.search(r"(^|\n)\s*\|", shown), (name, n.id, shown[:300])
        assert tables  # the sample site has tables: the check above saw some

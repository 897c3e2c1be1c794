"""The cost of the review: lint rules on one long notice, beside rendering it.

A 30,000-character 章程-like notice (headings, numbered articles, a table, links to gov.cn)
is reviewed the way ``publisher review`` does it (every rule, as written and as shown); the
baseline is what publishing it costs anyway, markdown-it rendering the same body to HTML.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from publisher.model import Notice
from publisher.review.fields import SHIPPED_TITLES, LintConfig
from publisher.review.matching import fold
from publisher.review.rules import run_rules
from publisher.review.urls import domain_ascii
from publisher.review.visible import shown_body
from publisher.text import render_markdown

ARTICLE = (
    "**第{n}条** 为规范基准示范大学招生工作，维护考生合法权益，根据《中华人民共和国高等教育法》"
    "《普通高等学校招生工作规定》和教育部有关规定，结合学校实际，制定本章程。学校招生工作贯彻"
    "“公平竞争、公正选拔、公开透明”的原则，接受考生、家长及社会各界的监督，详见"
    "[阳光高考信息平台](https://gaokao.chsi.com.cn/)。\n\n"
)
TABLE = "| 省份 | 科类 | 计划数 |\n|---|---|---|\n" + "| 示例省 | 物理类 | 2,150 |\n" * 20


def long_notice(chars: int = 30_000) -> Notice:
    parts, n = [], 1
    while sum(map(len, parts)) < chars:
        if n % 25 == 1:
            parts.append(f"# 第{n // 25 + 1}章 总则\n\n")
        parts.append(ARTICLE.format(n=n))
        if n % 40 == 0:
            parts.append(TABLE + "\n")
        n += 1
    body = "".join(parts)[:chars]
    return Notice(
        id="bench",
        title="基准示范大学2026年普通本科招生章程",
        category="zsks",
        item=7,
        department="招生就业处",
        summary="为规范招生工作，维护考生合法权益，制定本章程。",
        body=body,
        publish_at=datetime(2026, 5, 20, 10, tzinfo=ZoneInfo("Asia/Shanghai")),
        contact="招生办公室 0851-86681201",
        lines={"title": 3, "body": 12},
    )


def review_figures(repeat: int) -> list[tuple[str, float, str, float, str]]:
    notice = long_notice()
    cfg = LintConfig(
        school_name="基准示范大学",
        allowed_domains=tuple(domain_ascii(d) for d in ("example.edu.cn", "gov.cn", "chsi.com.cn")),
        known_titles=SHIPPED_TITLES,
    )
    run_rules(notice, cfg)  # the first call loads the TR39, OpenCC and pinyin data once

    def reviewed() -> float:
        fold.cache_clear()  # as for a notice never seen before
        shown_body.cache_clear()
        t0 = time.perf_counter()
        findings = run_rules(notice, cfg)
        elapsed = time.perf_counter() - t0
        assert not findings, findings[:3]
        return elapsed

    def rendered() -> float:
        t0 = time.perf_counter()
        render_markdown(notice.body)
        return time.perf_counter() - t0

    review = min(reviewed() for _ in range(max(5, repeat)))
    render = min(rendered() for _ in range(max(5, repeat)))
    return [
        (
            f"review of a {len(notice.body):,}-character notice (every rule, source and shown)",
            review * 1000,
            "markdown-it rendering the same body",
            render * 1000,
            "ms",
        )
    ]

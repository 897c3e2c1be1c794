"""Golden files: the exact bytes of a small fixed site's feeds and pages.

A change in output shows up here as a diff to read. To accept an intended change:
``UPDATE_GOLDEN=1 ./dev test tests/test_golden.py`` and review the diff of tests/golden/.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from .helpers import ROOT, Site, approve

GOLDEN = ROOT / "tests" / "golden" / "site"


def build(site: Site) -> Path:
    site.feed_options("{max_items: 2, departments: {yjsy: 研究生院}}")
    (site.root / "items" / "名单.csv").write_text("姓名,学院\n王晓,文学院\n", "utf-8")
    site.write(
        "zs-zc",
        title="测试示范大学招生章程",
        publish_at="2025-05-20 10:00+08:00",
        body="# 第一章 总则\n\n**第一条** 为规范招生工作，制定本章程。\n\n"
        "| 项目 | 标准 |\n|---|---|\n| 学费 | 4,500 元/年 |",
    )
    site.write(
        "yjs-gs",
        title="拟录取研究生名单公示",
        category="zsks",
        item=13,
        publish_at="2026-11-20 09:00+08:00",
        expires_at="2026-12-04 18:00+08:00",
        body="公示期内如有异议，请实名反映。\n\n附件为拟录取名单。",
        extra="attachments:\n  - {title: 拟录取名单, file: 名单.csv}",
    )
    site.write(
        "ys",
        title="2026年部门预算",
        category="cwzc",
        item=19,
        publish_at="2026-03-18 09:00+08:00",
        body="收入预算 186,420.35 万元。",
    )
    with site.app() as app:
        for nid in ("zs-zc", "yjs-gs", "ys"):
            approve(app, nid)
        site.clock.advance(timedelta(hours=1))
        site.write(
            "ys",
            title="2026年部门预算",
            category="cwzc",
            item=19,
            publish_at="2026-03-18 09:00+08:00",
            body="收入预算 186,420.35 万元（更正）。",
        )
        approve(app, "ys")
        app.tick()
    return site.root / "public"


def test_feeds_and_pages_match_the_golden_files(site: Site) -> None:
    out = build(site)
    produced = {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file()
        # the bot's bookkeeping (.publisher/: owner mark, send ledger) is not what readers see
        and not any(part.startswith(".") for part in p.relative_to(out).parts)
        and not p.relative_to(out).as_posix().startswith("signage/")
    }
    if os.environ.get("UPDATE_GOLDEN"):
        for old in GOLDEN.rglob("*"):
            if old.is_file():
                old.unlink()
        for rel, data in produced.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_bytes(data)
    expected = {
        p.relative_to(GOLDEN).as_posix(): p.read_bytes()
        for p in sorted(GOLDEN.rglob("*"))
        if p.is_file()
    }
    assert sorted(produced) == sorted(expected)
    for rel, data in expected.items():
        assert produced[rel].decode("utf-8") == data.decode("utf-8"), rel

"""Golden files: the exact bytes of a small fixed site's feeds and pages.

A change in output shows up here as a diff to read. To accept an intended change:
``UPDATE_GOLDEN=1 ./dev test tests/test_golden.py`` and review the diff of tests/golden/.
"""

from __future__ import annotations

import os
from dataclasses import replace
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


# --------------------------------------------------------------------------- signage

SLIDES = ROOT / "docs" / "signage"
NAMELIST = "| 序号 | 姓名 | 学院 | 拟录取专业 |\n|---|---|---|---|\n" + "".join(
    f"| {i} | {'王李张刘陈杨赵黄'[i % 8]}{'晓明华丽军芳强静'[i * 3 % 8]} | "
    f"{['文学院', '理学院', '法学院', '经济学院'][i % 4]} | "
    f"{['汉语言文学', '数学', '法学', '金融学'][i % 4]} |\n"
    for i in range(1, 13)
)
CHARTER = "\n\n".join(
    [
        "## 第一章 总则",
        "**第一条** 为保证测试示范大学2027年普通本科招生工作顺利进行，根据《中华人民共和国"
        "教育法》《中华人民共和国高等教育法》和教育部有关规定，结合学校实际，制定本章程。",
        "**第二条** 学校全称：测试示范大学。国标代码：10663。办学层次：本科、研究生。",
        "**第三条** 学校招生工作贯彻“公平竞争、公正选拔、公开透明”的原则，"
        "全面实施“阳光工程”，接受考生、家长及社会各界的监督。",
        "## 第二章 组织机构",
        "**第四条** 学校成立招生工作领导小组，全面负责本科招生工作，研究制定招生政策，"
        "讨论决定招生重大事宜。",
        "**第五条** 招生办公室是学校组织和实施招生工作的常设机构，负责招生日常工作。",
        "**第六条** 学校纪检监察部门对招生工作进行全程监督，维护考生合法权益。",
    ]
)


def _slides(profile_name: str, size: tuple[int, int]) -> dict[str, object]:
    """The golden slides: a 名单公示, a 章程 and an emergency alert, as laid out and drawn."""
    from bench.signage import SITE, view
    from channels.common.fonts import find_fonts
    from channels.signage.alerts import alert_slides
    from channels.signage.layout import Layout
    from channels.signage.options import Profile
    from channels.signage.render import draw

    fonts = find_fonts()
    w, h = size
    layout = Layout(Profile(name=profile_name, width=w, height=h), fonts, SITE.name)
    out: dict[str, object] = {}
    namelist = view(1, "经学院复试、学校研究生招生工作领导小组审核，现将拟录取名单公示如下：\n\n"
                    + NAMELIST)  # fmt: skip
    charter = view(2, CHARTER)
    for name, v, title, summary in (
        (
            "namelist",
            namelist,
            "关于2027年推荐优秀应届本科毕业生免试攻读研究生拟录取名单的公示",
            "现将我校2027年推免生拟录取名单予以公示，公示期10天。",
        ),
        ("charter", charter, "测试示范大学2027年普通本科招生章程", ""),
    ):
        v = replace(v, notice=replace(v.notice, title=title, summary=summary))
        for i, s in enumerate(layout.notice_slides(v), 1):
            out[f"{profile_name}-{name}-{i}"] = draw(s, w, h, fonts)
    from bench.signage import NOW

    alert = alert_slides(
        layout,
        "1", "因寒潮影响，明日（11月28日）全校停课一天，请师生注意防寒保暖。",
        NOW + timedelta(hours=8), NOW,
    )[0]  # fmt: skip
    out[f"{profile_name}-alert"] = draw(alert, w, h, fonts)
    return out


def test_golden_slides() -> None:
    """Slides of a 名单公示, a 章程 and an alert, landscape and portrait, at half size: the
    pictures in docs/signage/ were looked at before they were committed."""
    from PIL import Image, ImageChops

    images: dict[str, object] = {}
    images.update(_slides("landscape", (1920, 1080)))
    images.update(_slides("portrait", (1080, 1920)))
    if os.environ.get("UPDATE_GOLDEN"):
        SLIDES.mkdir(parents=True, exist_ok=True)
        for old in SLIDES.glob("*.png"):
            old.unlink()
    for name, img in images.items():
        assert isinstance(img, Image.Image)
        half = img.resize((img.width // 2, img.height // 2), Image.Resampling.BOX)
        path = SLIDES / f"{name}.png"
        if os.environ.get("UPDATE_GOLDEN"):
            # 256 colours keep the pictures small in the repository; the check allows for it
            half.quantize(256, Image.Quantize.MEDIANCUT).save(path, optimize=True)
            continue
        assert path.exists(), f"{path.name} is new: look at it, then UPDATE_GOLDEN=1"
        want = Image.open(path).convert("RGB")
        assert want.size == half.size, name
        diff = ImageChops.difference(want, half).convert("L").point(lambda v: 255 if v > 24 else 0)
        assert diff.histogram()[255] <= 0.001 * half.width * half.height, name
    assert sorted(p.stem for p in SLIDES.glob("*.png")) == sorted(images)

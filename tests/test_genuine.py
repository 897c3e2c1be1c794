"""Genuine notices pass: no blocking finding on the sample site or on 32 realistic notices.

The corpus (tests/corpus/genuine) is what an office really publishes: regulations that cite
statutes, 公示 lists with names and tables, budgets, reports that name other universities,
full-width punctuation, links to gov.cn and chsi.com.cn, MOOC/WebVPN platforms, 体育学院.
An injected copy of such a report, with the school name replaced by an invented brand, a slogan
and emoji, is blocked with the brand named.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from publisher.config import load_settings
from publisher.model import Notice, Severity
from publisher.notices.files import load_folder
from publisher.review.gate import attachment_fields, lint_config
from publisher.review.rules import run_rules

from .helpers import ROOT, START

CORPUS = Path(__file__).parent / "corpus" / "genuine"


def findings_of(config: Path, folder: Path) -> dict[str, list[str]]:
    s = load_settings(config)
    cfg = lint_config(s)
    res = load_folder(folder, catalogue=s.catalogue, tz=s.tz)
    assert not res.errors, [e.describe() for e in res.errors]
    out = {}
    for nid, n in res.notices.items():
        extra, found = attachment_fields(n)
        out[nid] = [
            f"{f.rule} {f.position()} {f.message}"
            for f in found + run_rules(n, cfg, extra_fields=extra)
            if f.severity == Severity.BLOCK
        ]
    return out


def sample_site(tmp_path: Path, items: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text((ROOT / "config.yaml").read_text("utf-8"), "utf-8")
    shutil.copytree(items, tmp_path / "items")
    return config


def test_the_sample_notices_have_no_blocking_finding() -> None:
    found = findings_of(ROOT / "config.yaml", ROOT / "items")
    assert len(found) >= 16
    assert {k: v for k, v in found.items() if v} == {}


def test_a_corpus_of_genuine_notices_has_no_blocking_finding(tmp_path: Path) -> None:
    config = sample_site(tmp_path, CORPUS)
    found = findings_of(config, tmp_path / "items")
    assert len(found) >= 30
    assert {k: v for k, v in found.items() if v} == {}


def test_an_injected_copy_of_a_genuine_report_is_blocked_with_its_brand_named(
    tmp_path: Path,
) -> None:
    """The 年度报告 of the corpus as a black-hat SEO copy: the school's name replaced by an
    invented brand that no deny-list knows, a slogan after it and emoji sprinkled in."""
    brand = "鑫汇通"
    report = (CORPUS / "g24-ndbg.md").read_text("utf-8")
    injected = report.replace("南山示范大学", brand)
    injected = injected.replace(
        "## 一、概述\n",
        f"## 一、概述\n\n欢迎访问{brand}【信誉第一 值得信赖】🎉🎉\n",
    )
    injected = re.sub(r"。", lambda m: "🔥。" if m.start() % 3 == 0 else "。", injected)
    (tmp_path / "items").mkdir()
    (tmp_path / "items" / "g24-ndbg.md").write_text(injected, "utf-8")
    config = tmp_path / "config.yaml"
    config.write_text((ROOT / "config.yaml").read_text("utf-8"), "utf-8")
    found = findings_of(config, tmp_path / "items")["g24-ndbg"]
    assert any(f.startswith("promotion") and brand in f for f in found), found


def test_the_injected_report_is_caught_by_structure_not_by_a_word_list() -> None:
    """Neither the brand nor its slogan is on any list: the slogan in brackets after a name,
    and the emoji density, are what give it away."""
    from publisher.review.rules import DEFAULT_DENY_LIST

    settings = load_settings(ROOT / "config.yaml")
    cfg = lint_config(settings)
    assert not any(w in "鑫汇通信誉第一值得信赖" for w in DEFAULT_DENY_LIST + cfg.deny_list)
    notice = Notice(
        id="x",
        title="鑫汇通2025—2026学年信息公开工作年度报告",
        category="qt",
        item=50,
        department="信息公开办公室",
        summary="",
        body="鑫汇通【信誉第一 值得信赖】高度重视信息公开工作🎉🎉🔥",
        publish_at=START,
        lines={"title": 2, "body": 9},
    )
    found = [f for f in run_rules(notice, cfg) if f.severity == Severity.BLOCK]
    assert {f.rule for f in found} == {"promotion"}
    assert "鑫汇通" in {f.excerpt for f in found}

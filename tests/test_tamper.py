"""Structural tampering: an unknown brand is caught by what it changes, not by its name."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.model import Severity
from publisher.review.rules import run_rules

from .test_evasion import BASE, CFG


def blocked(notice: object, **kw: object) -> set[str]:
    return {f.rule for f in run_rules(notice, CFG, **kw) if f.severity == Severity.BLOCK}  # type: ignore[arg-type]


APPROVED = replace(
    BASE,
    title="南山示范大学关于学生违纪处分的规定",
    body="南山示范大学根据《普通高等学校学生管理规定》制定本规定。"
    "详见[教育部](https://www.moe.gov.cn/)。",
)


def test_a_revision_may_not_change_the_cited_titles_hosts_or_the_titled_school() -> None:
    assert blocked(APPROVED, previous=APPROVED) == set()
    spun = replace(APPROVED, body=APPROVED.body.replace("普通高等学校学生管理", "高等学校学生管理"))
    assert "revision" in blocked(spun, previous=APPROVED)
    moved = replace(APPROVED, body=APPROVED.body.replace("www.moe.gov.cn", "www.gov.cn"))
    assert "revision" in blocked(moved, previous=APPROVED)
    renamed = replace(APPROVED, title="关于学生违纪处分的规定")
    assert "revision" in blocked(renamed, previous=APPROVED)
    gone = replace(renamed, body="本规定自发布之日起施行。")
    assert "school-name" in blocked(gone, previous=APPROVED)


def test_other_institutions_and_real_titles_stay_fine() -> None:
    body = (
        "学校与北京大学、南京师范大学、贵州师范大学、南山大学、北山示范大学开展合作，"
        "依据《中华人民共和国高等教育法》《中华人民共和国体育法》《南山示范大学章程》。"
    )
    assert blocked(replace(BASE, body=body)) == set()


def test_promotion_is_a_setting() -> None:
    notice = replace(BASE, body="欢迎访问鼎盛娱乐城")
    assert "promotion" in blocked(notice)
    warn = run_rules(notice, replace(CFG, promotion="warn"))
    assert {f.severity for f in warn if f.rule == "promotion"} == {Severity.WARN}
    assert not [
        f for f in run_rules(notice, replace(CFG, promotion="off")) if f.rule == "promotion"
    ]


def test_everyday_campus_phrases_are_not_promotion() -> None:
    for text in (
        "请登录 WebVPN 平台",
        "依托MOOC平台",
        "校园文化娱乐活动",
        "公共体育部",
        "【报名入口】",
    ):
        assert blocked(replace(BASE, body=text)) == set(), text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(categories=["Lo", "Nd", "Po"]), max_size=40))
def test_the_school_name_itself_is_never_a_near_miss(around: str) -> None:
    body = f"{around}南山示范大学{around}"
    assert "school-name" not in blocked(replace(BASE, body=body)) or "南山" in around

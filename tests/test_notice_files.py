from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.errors import NoticeError
from publisher.notices.catalogue import default_catalogue, load_catalogue
from publisher.notices.files import (
    canonical,
    content_hash,
    from_canonical,
    is_bad_char,
    load_folder,
    parse_notice,
)

from .helpers import TZ, notice_text

CAT = default_catalogue()


def parse(text: str, **kw: object) -> object:
    return parse_notice(text.encode("utf-8"), file="items/x.md", catalogue=CAT, tz=TZ, **kw)


def error(text: str | bytes, **kw: object) -> NoticeError:
    raw = text if isinstance(text, bytes) else text.encode("utf-8")
    with pytest.raises(NoticeError) as info:
        parse_notice(raw, file="items/x.md", catalogue=CAT, tz=TZ, **kw)  # type: ignore[arg-type]
    return info.value


def test_catalogue_has_50_items_in_10_categories() -> None:
    assert len(CAT) == 50 and len(CAT.categories) == 10
    assert CAT.items[13].text == "拟录取研究生名单"
    assert CAT.resolve_category("二、招生考试信息") is CAT.categories["zsks"]


def test_catalogue_override(tmp_path: Path) -> None:
    cat = load_catalogue(
        None,
        [
            {"no": 51, "category": "qt", "text": "校园开放日安排"},
            {"no": 22, "text": "更正后的表述"},
        ],
    )
    assert cat.items[51].category == "qt" and cat.items[22].text == "更正后的表述"


def test_parses_a_full_notice() -> None:
    n = parse(
        notice_text(
            "a-1",
            expires_at="2026-12-04 18:00+08:00",
            extra="""
        links:
          - {title: 阳光高考, url: "https://gaokao.chsi.com.cn/"}
        tags: [公示]
        """,
        )
    )
    assert n.id == "a-1" and n.category == "zsks" and n.item == 7  # type: ignore[attr-defined]
    assert n.publish_at.utcoffset().total_seconds() == 8 * 3600  # type: ignore[attr-defined]
    assert n.expires_at.day == 4  # type: ignore[attr-defined]
    assert n.links[0].url == "https://gaokao.chsi.com.cn/"  # type: ignore[attr-defined]
    assert n.lines["title"] == 3  # type: ignore[attr-defined]


def test_malformed_yaml_gives_file_and_line() -> None:
    e = error("---\nid: a\ntitle: [unclosed\ncategory: zsks\n---\nbody\n")
    assert e.file == "items/x.md" and e.line is not None and 3 <= e.line <= 5
    assert "malformed YAML" in e.describe()


def test_unknown_category_lists_valid_ones() -> None:
    e = error(notice_text(category="招生"))
    assert e.field == "category" and e.line == 4
    assert "zsks (招生考试信息)" in e.describe()


def test_item_must_belong_to_category() -> None:
    e = error(notice_text(category="zsks", item=37))
    assert e.field == "item" and "belongs to category xsgl" in e.describe()
    assert "7, 8, 9" in e.describe()


def test_naive_dates_are_refused_with_the_fix() -> None:
    e = error(notice_text(publish_at="2026-11-26 09:00"))
    assert e.field == "publish_at" and e.line == 8
    assert "no time zone" in e.describe() and "+08:00" in e.describe()


def test_expiry_before_publish() -> None:
    e = error(notice_text(expires_at="2026-11-01 09:00+08:00"))
    assert e.field == "expires_at"


def test_control_character_named_with_line_and_column() -> None:
    e = error(notice_text(body="第一行\n第二行有\x07响铃"))
    assert e.field == "body" and "U+0007" in e.describe()
    assert e.line == 12  # the body starts on line 11; this is its second line
    e = error(notice_text(title="标题\x1b[31m"))
    assert e.field == "title" and e.line == 3


def test_a_title_is_one_line() -> None:
    # a robot's message opens with the title as a heading: a break would end it midway
    for escape in ("\\r", "\\n", "\\u2028"):  # YAML's escapes in a quoted string
        e = error(notice_text(title=f'"招生{escape}简章"'))
        assert e.field == "title" and "one line" in e.describe(), escape


def test_five_megabyte_body_is_refused_clearly() -> None:
    e = error(notice_text(body="很长的正文。" * 300_000))
    assert "MB" in e.describe() and "items.max_bytes" in e.describe()


def test_invalid_utf8_names_the_line() -> None:
    raw = notice_text().encode("utf-8").replace("正文第二段".encode(), b"\xff\xfe bad")
    e = error(raw)
    assert "UTF-8" in e.describe() and e.line == 13


def test_missing_front_matter_and_required_fields() -> None:
    assert "front matter" in error("just text\n").describe()
    e = error("---\nid: a\ncategory: zsks\nitem: 7\n---\nbody\n")
    assert e.field == "title"
    assert "unknown field 'titel'" in error(notice_text(extra="titel: x")).describe()
    assert error(notice_text("id with spaces")).field == "id"


def test_duplicate_ids_hold_both_and_load_the_rest(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(notice_text("same"), "utf-8")
    (tmp_path / "b.md").write_text(notice_text("same"), "utf-8")
    (tmp_path / "c.md").write_text(notice_text("other"), "utf-8")
    (tmp_path / "d.md").write_text("---\nbroken: [\n---\n", "utf-8")
    res = load_folder(tmp_path, catalogue=CAT, tz=TZ)
    assert list(res.notices) == ["other"]
    messages = [e.describe() for e in res.errors]
    assert any("duplicate id 'same'" in m and "a.md" in m for m in messages)
    assert any("d.md" in m and "malformed" in m for m in messages)


def test_hash_ignores_paper_review_and_source_but_not_content() -> None:
    base = parse(notice_text())
    reviewed = parse(
        notice_text(
            extra="""
        review:
          reviewer: 李明
          date: 2026-11-20
          version: 0123456789abcdef
        """
        )
    )
    assert content_hash(canonical(base)) == content_hash(canonical(reviewed))  # type: ignore[arg-type]
    edited = parse(notice_text(body="正文第一段。\n\n正文第二段！"))
    assert content_hash(canonical(base)) != content_hash(canonical(edited))  # type: ignore[arg-type]


def test_local_attachment_bytes_are_part_of_the_version(tmp_path: Path) -> None:
    (tmp_path / "list.csv").write_text("姓名,学院\n王晓,文学院\n", "utf-8")
    text = notice_text(extra="attachments:\n  - {title: 名单, file: list.csv}")
    a = parse_notice(text.encode(), file="x.md", catalogue=CAT, tz=TZ, base_dir=tmp_path)
    (tmp_path / "list.csv").write_text("姓名,学院\n王晓,理学院\n", "utf-8")
    b = parse_notice(text.encode(), file="x.md", catalogue=CAT, tz=TZ, base_dir=tmp_path)
    assert a.attachments[0].sha256 != b.attachments[0].sha256
    assert content_hash(canonical(a)) != content_hash(canonical(b))
    e = error(notice_text(extra="attachments:\n  - {file: missing.pdf}"), base_dir=tmp_path)
    assert e.field == "attachments.0"


def test_canonical_round_trip() -> None:
    n = parse(notice_text(expires_at="2026-12-04 18:00+08:00"))
    back = from_canonical(canonical(n), TZ)  # type: ignore[arg-type]
    assert canonical(back) == canonical(n)  # type: ignore[arg-type]
    assert back.publish_at == n.publish_at  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- properties

printable = st.text(
    st.characters(
        blacklist_categories=("Cs", "Co", "Cc"), blacklist_characters="\u2028\u2029\x85\ufeff"
    ),
    min_size=1,
    max_size=80,
).filter(lambda s: s.strip() != "" and not any(is_bad_char(c) for c in s))


@settings(max_examples=150, deadline=None)
@given(
    title=printable,
    body=st.text(min_size=1, max_size=400).filter(
        lambda s: s.strip() != "" and not any(is_bad_char(c) for c in s)
    ),
)
def test_any_clean_title_and_body_round_trip_through_the_parser(title: str, body: str) -> None:
    import yaml

    fm = yaml.safe_dump(
        {
            "id": "p",
            "title": title,
            "category": "zsks",
            "item": 7,
            "department": "招生就业处",
            "publish_at": "2026-11-26T09:00:00+08:00",
        },
        allow_unicode=True,
    )
    body_n = body.replace("\r\n", "\n").replace("\r", "\n")
    if body_n.strip("\n").strip() == "" or "\n---" in "\n" + body_n:
        return
    raw = f"---\n{fm}---\n{body}".encode()
    n = parse_notice(raw, file="p.md", catalogue=CAT, tz=TZ)
    assert n.title == title.strip()
    assert n.body == body_n.strip("\n")
    # the canonical form is a fixed point of parse → canonical → from_canonical
    assert canonical(from_canonical(canonical(n), TZ)) == canonical(n)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.printable + "中文，。\x00\x07\x1b\ufffe\ue000", max_size=60))
def test_parser_never_crashes_on_arbitrary_front_matter(text: str) -> None:
    raw = f"---\n{text}\n---\nbody\n".encode("utf-8", "surrogatepass")
    try:
        parse_notice(raw, file="f.md", catalogue=CAT, tz=TZ)
    except NoticeError as e:
        assert e.file == "f.md"


@pytest.mark.parametrize(
    ("front", "expect"),
    [
        ("summary: &a [*a, *a]", "aliases"),
        ("summary: " + "[" * 5000 + "]" * 5000, "nested more than"),
        ("tags: &t [a]\nchannels: *t", "aliases"),
    ],
)
def test_hostile_yaml_is_that_files_error(front: str, expect: str) -> None:
    text = notice_text().replace("summary: 摘要。", front)
    assert expect in error(text).message


@pytest.mark.parametrize(
    "when", ["0001-01-01 00:00+08:00", "1900-12-31 09:00+08:00", "9999-01-01 00:00+08:00"]
)
def test_dates_outside_1970_2200_are_refused(when: str) -> None:
    err = error(notice_text(publish_at=when))
    assert err.field == "publish_at" and "1970–2200" in err.message


def test_crasher_files_beside_good_notices(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text(notice_text("good"), "utf-8")
    crashers = {
        "alias.md": notice_text("a").replace("summary: 摘要。", "summary: &a [*a, *a]"),
        "deep.md": notice_text("d").replace("summary: 摘要。", "summary: " + "[" * 5000),
        "old.md": notice_text("o", publish_at="0001-01-01 00:00+08:00"),
    }
    for name, text in crashers.items():
        (tmp_path / name).write_text(text, "utf-8")
    res = load_folder(tmp_path, catalogue=CAT, tz=TZ)
    assert list(res.notices) == ["good"]
    assert sorted(Path(e.file or "").name for e in res.errors) == sorted(crashers)

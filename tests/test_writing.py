"""The console's writer: what it composes parses back to the same notice (property), 公示 ends
counted in Chinese working days with 调休, uploads never become paths."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.notices.catalogue import default_catalogue
from publisher.notices.editor import (
    Draft,
    compose,
    parse_links,
    safe_filename,
)
from publisher.notices.files import parse_notice
from publisher.notices.publicity import publicity_ends
from publisher.notices.workdays import add_working_days

TZ = ZoneInfo("Asia/Shanghai")
CATALOGUE = default_catalogue()
# what staff type: Chinese, Latin, digits, punctuation (full- and half-width), quotes, YAML
# look-alikes (: # - | > & * ! % @ `), spaces
CHARS = st.characters(
    categories=["Lo", "Lu", "Ll", "Nd", "Po", "Ps", "Pe", "Pd", "Sm", "Sc", "Zs"],
    exclude_characters="\u2028\u2029",
)
LINE = st.text(CHARS, min_size=1, max_size=60).map(str.strip).filter(bool)


@settings(max_examples=150, deadline=None)
@given(
    title=LINE,
    department=LINE,
    summary=st.text(CHARS, max_size=80).map(str.strip),
    contact=st.text(CHARS, max_size=40).map(str.strip),
    body=st.lists(st.text(CHARS, max_size=80), min_size=1, max_size=6).map("\n".join),
    links=st.lists(
        st.tuples(
            LINE, st.from_regex(r"https://[a-z]{1,12}\.edu\.cn/[a-z0-9]{0,8}", fullmatch=True)
        ),
        max_size=3,
    ),
    minutes=st.integers(0, 60 * 24 * 365),
)
def test_a_composed_notice_parses_back_to_the_same_fields(
    title: str,
    department: str,
    summary: str,
    contact: str,
    body: str,
    links: list[tuple[str, str]],
    minutes: int,
) -> None:
    publish = dt.datetime(2026, 1, 1, 9, 0, tzinfo=TZ) + dt.timedelta(minutes=minutes)
    body = body.strip("\n") or "正文。"
    d = Draft(
        "n1",
        title[:200],
        "zsks",
        7,
        department[:100],
        publish,
        body,
        summary,
        contact,
        publicity_ends(publish, 5),
        [],
        links,
    )
    n = parse_notice(compose(d).encode("utf-8"), file="n1.md", catalogue=CATALOGUE, tz=TZ)
    assert (n.title, n.department, n.summary, n.contact) == (
        d.title.strip(),
        d.department.strip(),
        d.summary,
        d.contact,
    )
    assert n.body.strip("\n") == body
    assert n.publish_at == publish and n.expires_at == d.expires_at
    assert [(link.title, link.url) for link in n.links] == [(t.strip(), u) for t, u in links]


def test_publicity_counts_working_days_with_the_holidays_and_their_swaps() -> None:
    # 国庆 2026: 1-7 October off, Saturday 10 October worked in exchange
    start = dt.datetime(2026, 9, 30, 9, 0, tzinfo=TZ)
    assert add_working_days(start.date(), 5) == dt.date(2026, 10, 13)
    assert publicity_ends(start, 5) == dt.datetime(2026, 10, 14, 0, 0, tzinfo=TZ)
    # an ordinary week: Friday + 5 working days is the next Friday
    assert add_working_days(dt.date(2026, 11, 27), 5) == dt.date(2026, 12, 4)


def test_uploaded_names_never_become_paths_and_links_read_either_way() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\x\\名单 2026#1.csv") == "名单_2026_1.csv"
    assert safe_filename("...") == "file"
    assert parse_links("招生网 | https://zs.example.edu.cn/\nhttps://a.example.edu.cn/x\n") == [
        ("招生网", "https://zs.example.edu.cn/"),
        ("https://a.example.edu.cn/x", "https://a.example.edu.cn/x"),
    ]

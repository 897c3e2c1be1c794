"""The 信息公开目录: 索引号 given once and never changed (also under concurrent approvals on
PostgreSQL), the metadata block on every notice page, the home page as the catalogue, and
search over what readers can see."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.notices.index_numbers import IndexScheme, check_pattern
from publisher.records.search import query_terms, snippet
from publisher.service.app import Publisher
from publisher.store import Store

from .helpers import Site, approve, approve_everything, reset_pg
from .vendors import WeComServer


def page(site: Site, nid: str) -> str:
    return site.out(f"notices/{nid}.html").read_text("utf-8")


def test_index_numbers_are_given_once_and_survive_revisions_and_rebuilds(site: Site) -> None:
    site.write("a", extra="issued_on: 2026-11-20\ndoc_no: 测大招〔2026〕3号")
    site.write("b", publish_at="2026-11-25 09:00+08:00")
    site.write("c", category="jbxx", item=2, title="测试示范大学章程")
    with site.app() as app:
        for nid in ("b", "a", "c"):
            approve(app, nid)
        app.tick()
        numbers = app.store.index_numbers()
        # in order of first approval, counted per category and year
        assert numbers == {
            "b": "XXGK-02-2026-0001",
            "a": "XXGK-02-2026-0002",
            "c": "XXGK-01-2026-0001",
        }
        html = page(site, "a")
        for label, value in (
            ("索引号", "XXGK-02-2026-0002"),
            ("生成日期", "2026-11-20"),
            ("发布日期", "2026-11-26"),
            ("文号", "测大招〔2026〕3号"),
            ("公开方式", "主动公开"),
            ("发布机构", "招生就业处"),
        ):
            assert f'<th scope="row">{label}</th><td>{value}</td>' in html
        assert "清单事项</th><td>招生考试信息 · 第 7 项" in html

        # a revision keeps its number; so does a full rebuild and a restart
        site.write("a", body="更正后的正文。", extra="issued_on: 2026-11-20")
        approve(app, "a")
        app.tick(force_build=True)
    with site.app() as app:
        app.tick(force_build=True)
        assert app.store.index_numbers() == numbers
        assert app.store.latest_approved("a").revision == 2  # type: ignore[union-attr]
    assert "XXGK-02-2026-0002" in page(site, "a") and "更正后的正文" in page(site, "a")


def test_the_pattern_is_a_setting_and_checked() -> None:
    with pytest.raises(ValueError, match="serial"):
        check_pattern("{org}-{year}")
    with pytest.raises(ValueError, match="unknown field"):
        check_pattern("{org}-{month}-{serial}")
    assert check_pattern("{org}/{year}-{serial:05d}")


def test_a_pattern_change_never_reuses_a_number(site: Site) -> None:
    site.write("a")
    site.write("b")
    with site.app() as app:
        approve(app, "a")
        first = app.store.index_numbers()["a"]
    # a new pattern whose scope differs but whose first number would equal an old one
    text = site.config.read_text("utf-8")
    site.config.write_text(
        text.replace(
            "review:", "disclosure:\n  index_pattern: 'XXGK-02-2026-{serial:04d}'\nreview:"
        ),
        "utf-8",
    )
    with site.app() as app:
        approve(app, "b")
        numbers = app.store.index_numbers()
    assert numbers["a"] == first == "XXGK-02-2026-0001"
    assert numbers["b"] == "XXGK-02-2026-0002"


@pytest.mark.postgres
@pytest.mark.slow
def test_index_numbers_are_unique_under_concurrent_approvals_on_postgresql(
    tmp_path: Path, wecom: WeComServer, pg_url: str
) -> None:
    reset_pg(pg_url)
    store = Store(pg_url)
    store.upgrade()
    store.close()
    site = Site(tmp_path)
    site.config.write_text(
        site.config.read_text("utf-8").replace("sqlite:///var/test.db", pg_url), "utf-8"
    )
    ids = [f"n{i:02d}" for i in range(24)]
    for nid in ids:
        site.write(nid)
    with site.app() as app:
        for nid in ids:
            app.review(nid)
    apps = [site.app() for _ in range(6)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(apps))

    def work(app: Publisher, mine: list[str]) -> None:
        start.wait()
        for nid in mine:
            try:
                app.approve(nid, reviewer="李明")
            except BaseException as exc:
                errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(app, ids[i :: len(apps)])) for i, app in enumerate(apps)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = apps[0].store.index_numbers()
    for app in apps:
        app.close()
    assert errors == []
    assert sorted(numbers) == ids
    assert sorted(numbers.values()) == [f"XXGK-02-2026-{i:04d}" for i in range(1, 25)]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_site(request: pytest.FixtureRequest, site: Site) -> Site:
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        reset_pg(url)
        store = Store(url)
        store.upgrade()
        store.close()
        text = site.config.read_text("utf-8")
        site.config.write_text(text.replace("sqlite:///var/test.db", url), "utf-8")
    return site


def test_search_finds_what_readers_see_and_nothing_else(any_site: Site) -> None:
    site = any_site
    site.write(
        "a", title="测试示范大学2026年国家奖学金评审结果公示", body="经评审，拟推荐王晓同学。"
    )
    site.write("b", title="测试示范大学招生章程", body="第一条 为规范招生工作，制定本章程。")
    site.write("later", title="测试示范大学奖学金评审办法", publish_at="2026-12-20 09:00+08:00")
    site.write("gone", title="测试示范大学奖学金名单", body="奖学金名单。")
    with site.app() as app:
        for nid in ("a", "b", "later", "gone"):
            approve(app, nid)
        app.tick()
        app.withdraw("gone", "名单有误", actor="test")
        app.tick()
        # a word of the body, a word of the title, and a longer phrase cut into words
        assert [r.hit.notice_id for r in app.search("王晓").results] == ["a"]
        assert [r.hit.notice_id for r in app.search("奖学金").results] == ["a"]
        assert [r.hit.notice_id for r in app.search("规范招生工作").results] == ["b"]
        assert app.search("奖学金 章程").total == 0  # every word must match
        hit = app.search("王晓").results[0]
        assert ("王晓", True) in hit.snippet.parts
        assert hit.hit.url.endswith("/notices/a.html")
        # not yet published: found once its time comes
        site.clock.advance(30 * 86400)
        assert {r.hit.notice_id for r in app.search("奖学金").results} == {"a", "later"}
        # a revision replaces the old text in the index
        site.write("b", title="测试示范大学招生章程", body="第一条 修订后的条文。")
        approve(app, "b")
        app.tick()
        assert app.search("规范招生工作").total == 0
        assert app.search("修订").total == 1


@pytest.mark.slow
def test_search_pages_and_counts_only_what_readers_see(any_site: Site) -> None:
    """130 notices match; the 100 that rank best are not yet published (they say the word
    ten times), one of the rest is withdrawn but still in the index: the count and the
    pages hold exactly the 29 readers can see, each once, best first."""
    site = any_site
    for i in range(100):
        site.write(
            f"later{i:03d}",
            title=f"测试示范大学第{i}批助学金评审办法",
            body="助学金" * 10,
            publish_at="2027-03-01 09:00+08:00",
        )
    for i in range(30):
        site.write(
            f"now{i:02d}",
            title=f"测试示范大学第{i}号通知",
            body="国家助学金评审工作已经完成，" + "其他事项另行通知，" * (i + 1),
        )
    with site.app() as app:
        approve_everything(app)
        app.tick()
        app.withdraw("now05", "有误", actor="test")  # the index learns of it on the next pass
        seen = []
        for page in (1, 2, 3):
            result = app.search("助学金", page=page)
            assert result.total == 29
            seen += [r.hit.notice_id for r in result.results]
        assert len(seen) == len(set(seen)) == 29
        assert set(seen) == {f"now{i:02d}" for i in range(30)} - {"now05"}
        # bm25: the shorter body (the word a larger share of it) ranks first
        assert seen[:3] == ["now00", "now01", "now02"]


QUERY = st.text(
    alphabet=st.sampled_from(list("奖学金王晓 \"*:^-()ANDORNOTnear\\'&|!{}[]0123456789abc")),
    max_size=40,
)


def test_any_query_is_words_never_syntax(site: Site) -> None:
    """Whatever a reader types, the database sees quoted words: no syntax error, no operator."""
    site.write("a", body="王晓 abc 123")
    with site.app() as app:
        approve(app, "a")
        app.tick()

        @settings(max_examples=150, deadline=None)
        @given(q=QUERY)
        def typed(q: str) -> None:
            result = app.search(q)
            words = [w for w, _ in query_terms(q)]
            assert result.total in (0, 1)
            if words and all(w in ("王晓", "abc", "123") for w in words):
                assert result.total == 1

        typed()


@given(text=st.text(max_size=300), terms=st.lists(st.text(min_size=1, max_size=4), max_size=3))
def test_a_snippet_is_a_piece_of_the_text_with_the_matches_marked(
    text: str, terms: list[str]
) -> None:
    s = snippet(text, terms)
    joined = "".join(t for t, _ in s.parts).strip("…")
    assert joined in " ".join(text.split())
    for t, marked in s.parts:
        if marked:
            assert any(t.lower() in x.lower() or x.lower() in t.lower() for x in terms)


def test_index_scheme_fields(site: Site) -> None:
    settings_ = site.settings()
    scheme = IndexScheme(
        "{org}/{category_slug}{item}-{year}-{serial:03d}", "G{1}", settings_.catalogue, settings_.tz
    )
    site.write("a", extra="issued_on: 2025-12-30")
    from publisher.notices.files import load_file

    notice = load_file(
        site.root / "items" / "a.md",
        site.root / "items",
        catalogue=settings_.catalogue,
        tz=settings_.tz,
    )
    scope, render = scheme.for_notice(notice)
    assert render(7) == "G{1}/zsks07-2025-007"  # the year of 生成日期, braces kept literally
    assert scope != render(7)

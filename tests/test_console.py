"""The console's guards, over real HTTP (the site's server on a loopback port): logins, rate
limits, CSRF, roles, session expiry, safe redirects."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from publisher.service.accounts import Accounts
from publisher.service.app import Publisher
from publisher.web.console import console_app
from publisher.web.server import Server

from .helpers import Site
from .vendors import free_port


@contextmanager
def serving(site: Site) -> Iterator[tuple[Publisher, httpx.Client]]:
    (site.root / "public").mkdir(exist_ok=True)
    app = site.app()
    server = Server(site.root / "public", "127.0.0.1", free_port(), console=console_app(app))
    server.start()
    try:
        with app, httpx.Client(base_url=server.url, follow_redirects=False) as client:
            yield app, client
    finally:
        server.stop()


@pytest.fixture
def console(site: Site) -> Iterator[tuple[Site, Publisher, httpx.Client]]:
    site.write("n1")
    with serving(site) as (app, client):
        accounts = Accounts(app.store, app.clock)
        accounts.add("王芳", ("reviewer",), "correct-horse-1", "test")
        accounts.add("游客", ("viewer",), "correct-horse-2", "test")
        app.sync()
        yield site, app, client


def token(client: httpx.Client, path: str = "/admin/login") -> str:
    r = client.get(path)
    m = re.search(r'name="csrftoken" value="([^"]+)"', r.text)
    assert m, r.text[:500]
    return m[1]


def login(client: httpx.Client, name: str, password: str, next_: str = "") -> int:
    r = client.post(
        "/admin/login",
        data={"csrftoken": token(client), "name": name, "password": password, "next": next_},
    )
    return r.status_code


def test_nothing_but_the_login_page_without_a_session(console: tuple) -> None:
    _, _, client = console
    for path in ("/admin/", "/admin/notices/n1", "/admin/audit", "/admin/audit.csv"):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/admin/login")
    assert client.get("/admin/login").status_code == 200
    r = client.post("/admin/notices/n1/signoff", data={"version": "x"})
    assert r.status_code in (303, 403)  # no session: never a sign-off


def test_wrong_passwords_are_rate_limited(console: tuple) -> None:
    _, app, client = console
    for _ in range(5):
        assert login(client, "王芳", "wrong-password") == 401
    r = client.post(
        "/admin/login",
        data={"csrftoken": token(client), "name": "王芳", "password": "correct-horse-1"},
    )
    assert r.status_code == 401 and "too many failed logins" in r.text
    events = [e["event"] for e in app.store.audit_events(limit=20)]
    assert events.count("console.login.failed") == 6


def test_a_post_without_the_csrf_token_is_refused(console: tuple) -> None:
    _, app, client = console
    assert login(client, "王芳", "correct-horse-1") == 303
    page = client.get("/admin/notices/n1").text
    version = re.search(r'name="version" value="([0-9a-f]+)"', page)
    assert version
    r = client.post("/admin/notices/n1/signoff", data={"version": version[1]})
    assert r.status_code == 403
    assert app.store.approvals_of(version[1]) == []
    # the same form with its token goes through
    r = client.post(
        "/admin/notices/n1/signoff",
        data={"version": version[1], "csrftoken": token(client, "/admin/notices/n1")},
    )
    assert r.status_code == 303
    assert [a.reviewer for a in app.store.approvals_of(version[1])] == ["王芳"]
    assert app.store.approvals_of(version[1])[0].ran_by == "console:王芳"


def test_a_viewer_cannot_sign_off_not_even_by_a_forged_post(console: tuple) -> None:
    _, app, client = console
    assert login(client, "游客", "correct-horse-2") == 303
    page = client.get("/admin/notices/n1").text
    assert "签批（" not in page and 'action="/admin/notices/n1/signoff"' not in page
    sha = app.store.notice("n1").current_sha
    r = client.post(
        "/admin/notices/n1/signoff",
        data={"version": sha, "csrftoken": token(client, "/admin/notices/n1")},
    )
    assert r.status_code == 403 and "无权限" in r.text
    assert app.store.approvals_of(sha) == []


@pytest.mark.slow
def test_a_session_expires_and_ends_with_a_new_password(make_site: object) -> None:
    site = make_site()  # type: ignore[operator]
    text = site.config.read_text("utf-8")
    site.config.write_text(text + "console: {session: 1s}\n", "utf-8")
    with serving(site) as (app, client):
        Accounts(app.store, app.clock).add("王芳", ("reviewer",), "correct-horse-1", "test")
        assert login(client, "王芳", "correct-horse-1") == 303
        assert client.get("/admin/").status_code == 200
        time.sleep(2.2)
        assert client.get("/admin/").status_code == 303  # the signed cookie is too old
        assert login(client, "王芳", "correct-horse-1") == 303
        Accounts(app.store, app.clock).set_password("王芳", "another-horse-9", "admin")
        assert client.get("/admin/").status_code == 303  # a new password ends old sessions


def test_login_never_redirects_off_the_console(console: tuple) -> None:
    _, _, client = console
    for target in ("//evil.example/", "https://evil.example/", "/admin/\\evil", "/feeds/"):
        r = client.post(
            "/admin/login",
            data={
                "csrftoken": token(client),
                "name": "王芳",
                "password": "correct-horse-1",
                "next": target,
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/admin/", target


def test_the_console_pages_carry_a_strict_policy_and_no_cache(console: tuple) -> None:
    _, _, client = console
    login(client, "王芳", "correct-horse-1")
    r = client.get("/admin/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "unsafe-inline" not in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    login_answer = client.post(
        "/admin/login",
        data={"csrftoken": token(client), "name": "王芳", "password": "correct-horse-1"},
    )
    session = [c for c in login_answer.headers.get_list("set-cookie") if "publisher_console" in c]
    assert session and "httponly" in session[0].lower() and "samesite=strict" in session[0].lower()


def test_user_command_creates_accounts_with_a_one_time_password(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    from publisher.cli import main

    config = str(site.config)
    assert main(["--config", config, "user", "add", "李明", "--role", "reviewer"]) == 0
    printed = capsys.readouterr().out
    password = re.search(r"one-time password: (\S+)", printed)
    assert password and len(password[1]) >= 12
    with site.app() as app:
        row = app.store.account("李明")
        assert row is not None and password[1] not in row.password_hash
        assert (
            Accounts(app.store, app.clock).authenticate("李明", password[1], "cli").name == "李明"
        )
    assert main(["--config", config, "user", "add", "x", "--role", "boss"]) == 1
    assert "unknown role boss" in capsys.readouterr().err
    assert main(["--config", config, "user", "list"]) == 0
    assert "李明" in capsys.readouterr().out and Path(config).is_file()


def test_batch_approve_push_and_resume_from_the_console(site: Site, wecom: object) -> None:
    site.write("n1")
    site.write(
        "n2", title="测试示范大学复试通知", body="报名：[入口](https://bm.evil-example.com/)"
    )
    with serving(site) as (app, client):
        accounts = Accounts(app.store, app.clock)
        accounts.add("王芳", ("reviewer",), "correct-horse-1", "test")
        accounts.add("周红", ("publisher",), "correct-horse-4", "test")
        app.sync()
        assert login(client, "王芳", "correct-horse-1") == 303
        listing = client.get("/admin/?state=待审").text
        assert 'name="id" value="n1"' in listing and 'name="id" value="n2"' in listing
        r = client.post(
            "/admin/batch-approve",
            data={"csrftoken": token(client, "/admin/"), "id": ["n1", "n2"]},
        )
        assert r.status_code == 200
        assert "已签批（1/1）" in r.text and "link-domain" in r.text
        assert app.store.latest_approved("n1") is not None
        assert app.store.latest_approved("n2") is None  # a finding needs a reason, one by one
        client.post("/admin/logout", data={"csrftoken": token(client, "/admin/")})

        assert login(client, "周红", "correct-horse-4") == 303
        plan = client.get("/admin/notices/n1/push")
        assert plan.status_code == 200 and "group" in plan.text
        assert wecom.received == []  # type: ignore[attr-defined]  # a preview sends nothing
        done = client.post(
            "/admin/notices/n1/push", data={"csrftoken": token(client, "/admin/notices/n1/push")}
        )
        assert done.status_code == 200 and "已立即发送" in done.text
        assert len(wecom.received) == 1  # type: ignore[attr-defined]
        app.store.pause_channel("group", "key rejected", app.clock.now(), None)
        page = client.get("/admin/channels").text
        assert "已暂停：key rejected" in page and "20 次/63 秒" in page  # 60 s and the margin
        r = client.post(
            "/admin/channels/group/retry", data={"csrftoken": token(client, "/admin/channels")}
        )
        assert r.status_code == 303
        assert not app.store.channel_state("group").paused(app.clock.now())
        actors = {e["actor"] for e in app.store.audit_events(limit=50)}
        assert {"王芳", "周红"} <= actors


def test_changes_since_approval_calendar_and_filters(site: Site) -> None:
    from .helpers import approve

    site.write("n1")
    site.write(
        "n2",
        title="测试示范大学拟录取名单公示",
        publish_at="2026-11-30 09:00+08:00",
        expires_at="2026-12-07 00:00+08:00",
    )
    with serving(site) as (app, client):
        Accounts(app.store, app.clock).add("王芳", ("reviewer",), "correct-horse-1", "test")
        app.sync()
        approve(app, "n1")
        approve(app, "n2")
        site.write("n1", title="测试示范大学招生章程（修订）", body="正文第一段。\n\n新增第三段。")
        assert login(client, "王芳", "correct-horse-1") == 303
        page = client.get("/admin/notices/n1").text
        assert "与已批准版本相比的改动" in page
        assert (
            '<li class="del"><span class="sr">删除：</span><del>标题：测试示范大学招生章程</del>'
            in page
        )
        assert "<ins>标题：测试示范大学招生章程（修订）</ins>" in page
        assert "<ins>新增第三段。</ins>" in page and "<del>正文第二段。</del>" in page
        assert "与已批准版本相比" not in client.get("/admin/notices/n2").text  # unchanged
        calendar = client.get("/admin/calendar").text
        assert "2026-11-30（周一）" in calendar and "2026-12-07（周一）" in calendar
        assert calendar.index("发布") < calendar.index("公示结束")
        # the notice's link, not the bare id: a random CSRF token may hold "n2" too
        assert "/admin/notices/n2" in client.get("/admin/?category=zsks").text
        assert "/admin/notices/n2" not in client.get("/admin/?category=cwzc").text
        only_item = client.get("/admin/?item=7").text
        assert "/admin/notices/n1" in only_item and "/admin/notices/n2" in only_item
        assert "/admin/notices/n1" not in client.get("/admin/?item=8").text


def test_an_emergency_alert_is_previewed_then_put_up_and_taken_down(site: Site) -> None:
    with serving(site) as (app, client):
        Accounts(app.store, app.clock).add("周红", ("publisher",), "correct-horse-4", "test")
        assert login(client, "周红", "correct-horse-4") == 303
        data = {"text": "因台风影响，今日下午停课。", "until": "2h", "profile": "landscape"}
        r = client.post("/admin/alerts", data={**data, "csrftoken": token(client, "/admin/alerts")})
        assert r.status_code == 200 and "确认上屏" in r.text and "没有发现问题" in r.text
        assert app.alerts.listing() == []  # a preview puts nothing up
        r = client.post(
            "/admin/alerts",
            data={**data, "confirm": "1", "csrftoken": token(client, "/admin/alerts")},
        )
        assert r.status_code == 303
        (alert,) = app.alerts.listing()
        assert alert.text == data["text"] and alert.profiles == ("landscape",)
        page = client.get("/admin/alerts").text
        assert f"#{alert.id}" in page
        r = client.post(
            f"/admin/alerts/{alert.id}/clear", data={"csrftoken": token(client, "/admin/alerts")}
        )
        assert r.status_code == 303 and app.alerts.listing() == []
        bad = {"text": "请联系 13812345678", "until": "2h", "confirm": "1"}
        r = client.post("/admin/alerts", data={**bad, "csrftoken": token(client, "/admin/alerts")})
        assert r.status_code == 422 and "blocking finding" in r.text


def test_roster_seeds_accounts_and_the_console_can_live_on_its_own_address(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    from publisher.cli import main
    from publisher.runtime.daemon import Runner

    from .helpers import ROSTER

    text = site.config.read_text("utf-8").replace("review:\n", "review:\n" + ROSTER, 1)
    public, console_port = free_port(), free_port()
    site.config.write_text(text + f"console: {{port: {console_port}}}\n", "utf-8")
    assert main(["--config", str(site.config), "user", "seed"]) == 0
    said = capsys.readouterr().out
    assert said.count("one-time password") == 3 and "3 account(s)" in said
    assert main(["--config", str(site.config), "user", "seed"]) == 0
    assert "0 account(s)" in capsys.readouterr().out  # only names without an account
    (site.root / "public").mkdir()
    with site.app() as app:
        runner = Runner(app, port=public)
        assert runner.server is not None and runner.console_server is not None
        runner.server.start()
        runner.console_server.start()
        try:
            assert httpx.get(f"{runner.server.url}/admin/").status_code == 404
            r = httpx.get(f"{runner.console_server.url}/admin/")
            assert r.status_code == 303 and r.headers["location"].startswith("/admin/login")
            assert httpx.get(f"{runner.console_server.url}/feeds/all.rss.xml").status_code == 404
        finally:
            runner.server.stop()
            runner.console_server.stop()


def test_each_channel_shows_what_it_will_send_before_approval(site: Site) -> None:
    site.write("n1")
    with serving(site) as (app, client):
        Accounts(app.store, app.clock).add("游客", ("viewer",), "correct-horse-2", "test")
        app.sync()
        assert login(client, "游客", "correct-horse-2") == 303
        notice = client.get("/admin/notices/n1").text
        for channel in ("feed", "group", "screen"):
            assert f"/admin/notices/n1/channels/{channel}" in notice
        robot = client.get("/admin/notices/n1/channels/group").text
        assert "当前文件（待审版本）" in robot and "&#34;msgtype&#34;: &#34;news&#34;" in robot
        assert "测试示范大学招生章程" in robot
        assert "test-key-0123456789abcdef" not in robot  # the key is in the URL, never shown
        feed = client.get("/admin/notices/n1/channels/feed").text
        assert "notices/n1.html" in feed and "正文第一段" in feed
        screen = client.get("/admin/notices/n1/channels/screen").text
        assert "manifest.json" in screen
        assert screen.count('src="data:image/png;base64,') >= 1  # the slides, as drawn
        approved = client.get("/admin/notices/n1/channels/group?v=approved")
        assert approved.status_code == 409 and "no approved version" in approved.text
        assert app.store.deliveries_of("n1") == []  # previews send and write nothing


def test_a_preview_leaves_the_running_channels_alone(site: Site) -> None:
    """Previews render on throwaway channel instances: the live one keeps its feed plan (a
    preview on it would leave a one-notice plan behind, and the next build would redo the
    site's pages as if every other notice were new)."""
    from .helpers import approve

    site.write("n1")
    site.write("n2", title="测试示范大学学生资助政策")
    with site.app() as app:
        approve(app, "n1")
        approve(app, "n2")
        app.tick()
        feed: Any = app.channels["feed"]
        app.tick(force_build=True)
        assert not feed.planner.last_added  # an unchanged rebuild adds nothing
        app.preview("n1", "feed", proposed=True)
        app.preview("n2", "screen", proposed=True)
        report = app.tick(force_build=True)
        assert not feed.planner.last_added and not feed.planner.last_removed
        assert report.channels["feed"].changed_files == 0


def test_filters_a_failed_delivery_retried_and_its_history(site: Site, wecom: Any) -> None:
    from .helpers import approve

    site.write("n1")
    site.write("n2", title="测试示范大学学生资助政策", extra="channels: [feed, screen]")
    wecom.behaviour.force = [{"errcode": 40058, "errmsg": "invalid content"}]
    with serving(site) as (app, client):
        Accounts(app.store, app.clock).add("周红", ("publisher",), "correct-horse-4", "test")
        app.sync()
        approve(app, "n1")
        app.tick()
        assert login(client, "周红", "correct-horse-4") == 303
        group = client.get("/admin/?channel=group").text
        assert "/admin/notices/n1" in group and "/admin/notices/n2" not in group  # routes
        assert "/admin/notices/n2" in client.get("/admin/?department=招生").text
        assert "/admin/notices/n1" not in client.get("/admin/?from=2026-11-27").text
        assert "/admin/notices/n1" in client.get("/admin/?from=2026-11-26&to=2026-11-26").text
        page = client.get("/admin/notices/n1").text
        assert "经过（含各渠道的回复）" in page and "40058" in page  # the vendor's answer
        assert "重试失败的任务" in page
        before = [d.state for d in app.store.deliveries_of("n1") if d.channel == "group"]
        r = client.post(
            "/admin/notices/n1/retry", data={"csrftoken": token(client, "/admin/notices/n1")}
        )
        assert r.status_code == 303
        after = [d.state for d in app.store.deliveries_of("n1") if d.channel == "group"]
        assert before == ["failed"] and after == ["pending"]


def test_a_bad_form_value_is_a_clear_error_not_a_crash(site: Site) -> None:
    with serving(site) as (app, client):
        Accounts(app.store, app.clock).add("张编辑", ("editor",), "correct-horse-3", "test")
        assert login(client, "张编辑", "correct-horse-3") == 303
        form = {
            "id": "2027-x",
            "title": "测试示范大学复试通知",
            "department": "研究生院",
            "category": "zsks",
            "item": "7",
            "publish_at": "2026-11-27T09:00",
            "body": "正文。",
            "expires": "workdays",
            "workdays": "五",
            "csrftoken": token(client, "/admin/new"),
        }
        r = client.post("/admin/new", data=form)
        assert r.status_code == 422 and "1 to 60 working days" in r.text
        r = client.post("/admin/new", data={**form, "workdays": "5", "publish_at": "明天"})
        assert r.status_code == 422 and "cannot read the time" in r.text
        assert not (site.root / "items" / "2027-x.md").exists()


def test_the_screens_page_and_the_proof_of_play_download(site: Site) -> None:
    import json as _json

    with serving(site) as (app, client):
        Accounts(app.store, app.clock).add("王芳", ("viewer",), "correct-horse-4", "test")
        assert login(client, "王芳", "correct-horse-4") == 303
        assert "还没有屏幕报告" in client.get("/admin/screens").text
        beat = {"screen": "lobby-1", "channel": "screen", "profile": "landscape",
                "version": "", "plays": [["n1", 1, 20, 12.5]]}  # fmt: skip
        app.screens.record(_json.dumps(beat).encode(), "10.0.0.8")
        page = client.get("/admin/screens").text
        assert "lobby-1" in page and "landscape" in page and "正常" in page
        today = site.clock.now().date().isoformat()
        r = client.get(f"/admin/screens/plays.csv?since={today}&until={today}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        rows = r.text.lstrip("\ufeff").splitlines()
        assert rows[0].startswith("shown_at,screen") and rows[1].split(",")[5] == "n1"
        r = client.get("/admin/screens/plays.csv?since=yesterday&until=")
        assert r.status_code == 400 and "起止日期" in r.text

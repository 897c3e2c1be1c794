from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from publisher.model import DeliveryState, OutcomeKind

from .helpers import Site, approve
from .vendors import WeComServer, wait_for


def states(app: object, nid: str = "n1") -> dict[str, DeliveryState]:
    return {d.channel: d.state for d in app.store.deliveries_of(nid)}  # type: ignore[attr-defined]


def group(app: object, nid: str = "n1") -> object:
    return next(d for d in app.store.deliveries_of(nid) if d.channel == "group")  # type: ignore[attr-defined]


def test_one_tick_publishes_to_all_three_channels(site: Site, wecom: WeComServer) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        report = app.tick()
        assert states(app) == {"feed": "sent", "screen": "sent", "group": "sent"}
        assert report.total("sent") == 3
        article = wecom.received[0]["news"]["articles"][0]
        assert article["title"] == "测试示范大学招生章程"
        assert article["url"] == "http://127.0.0.1:8080/notices/n1.html"
        assert site.out("notices/n1.html").exists()
        assert site.out("signage/landscape/current/manifest.json").exists()
        events = [e["event"] for e in app.store.audit_events("n1")]
        assert events.count("delivery.sent") == 3 and "approved" in events


def test_rate_limit_code_honours_the_wait_for_the_whole_robot(
    site: Site, wecom: WeComServer
) -> None:
    site.write("n1")
    site.write("n2", title="第二条")
    wecom.behaviour.force = [{"errcode": 45009, "errmsg": "api freq out of limit"}]
    with site.app() as app:
        approve(app, "n1")
        approve(app, "n2")
        app.tick()
        d = group(app)
        # "too fast" is no fault of the message: the robot waits, the delivery keeps its attempts
        assert d.state == "pending" and d.attempts == 0  # type: ignore[attr-defined]
        assert d.next_attempt_at >= site.clock.now() + timedelta(seconds=60)  # type: ignore[attr-defined]
        assert app.store.channel_state("group").paused(site.clock.now())
        assert wecom.received == []  # n2 was not hammered into the limit either
        site.clock.advance(30)
        app.tick()
        assert wecom.received == []
        site.clock.advance(45)
        app.tick()
        assert len(wecom.received) == 2


def test_transient_errors_back_off_then_die_then_retry_requeues(
    site: Site, wecom: WeComServer
) -> None:
    site.write("n1")
    wecom.behaviour.force = [{"errcode": -1, "errmsg": "system busy"}] * 4
    with site.app() as app:
        approve(app, "n1")
        waits = []
        for _ in range(4):
            before = site.clock.now()
            app.tick()
            d = group(app)
            if d.state == "pending":  # type: ignore[attr-defined]
                waits.append((d.next_attempt_at - before).total_seconds())  # type: ignore[attr-defined]
                site.clock.set(d.next_attempt_at)  # type: ignore[attr-defined]
        assert group(app).state == "dead"  # type: ignore[attr-defined]
        assert len(waits) == 3 and waits[0] < waits[1] < waits[2]  # exponential
        assert states(app)["feed"] == "sent"  # the feed never waited for the robot
        assert app.retry(channel="group") == 1
        app.tick()
        assert group(app).state == "sent" and len(wecom.received) == 1  # type: ignore[attr-defined]


def test_backoff_has_bounded_jitter(site: Site) -> None:
    with site.app() as app:
        for attempt in range(1, 8):
            base = min(300.0, 10.0 * 2 ** (attempt - 1))
            values = {app.engine.backoff(attempt) for _ in range(50)}
            assert all(base * 0.8 - 1e-9 <= v <= base * 1.2 + 1e-9 for v in values)
            assert len(values) > 1  # jitter spreads retries of many deliveries


def test_bad_key_pauses_the_channel_and_the_others_go_on(
    site: Site, wecom: WeComServer, caplog: pytest.LogCaptureFixture
) -> None:
    site.write("n1")
    wecom.behaviour.key = "the-right-key-is-another-one"  # our URL's key is now wrong
    with site.app() as app, caplog.at_level(logging.ERROR):
        approve(app, "n1")
        app.tick()
        assert states(app) == {"feed": "sent", "screen": "sent", "group": "pending"}
        st = {s.name: s for s in app.status()}
        assert "93000" in st["group"].paused
        assert any("paused" in r.getMessage() for r in caplog.records)
        assert "test-key-0123456789abcdef" not in caplog.text  # the key never reaches a log
        assert "test-key-0123456789abcdef" not in st["group"].paused
        site.clock.advance(3600)
        app.tick()
        assert wecom.received == [] and group(app).attempts == 0  # type: ignore[attr-defined]
        wecom.behaviour.key = "test-key-0123456789abcdef"
        app.retry(channel="group")
        app.tick()
        assert states(app)["group"] == "sent"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"errcode": 45002, "errmsg": "too large"}, "failed"),
        ({"errcode": 40008, "errmsg": "bad type"}, "failed"),
        ({"errcode": 12345, "errmsg": "never heard of it"}, "failed"),
        ({"errcode": 0, "errmsg": "ok"}, "sent"),
        ({"errcode": 0, "errmsg": "ok", "_status": 502}, "pending"),
        ({"errcode": 93000, "errmsg": "invalid webhook url"}, "pending"),
    ],
)
def test_errcode_in_the_200_body_decides(
    site: Site, wecom: WeComServer, answer: dict, expected: str
) -> None:
    site.write("n1")
    wecom.behaviour.force = [dict(answer)]
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        assert group(app).state == expected  # type: ignore[attr-defined]


@pytest.mark.slow
def test_unknown_outcome_is_retried_once_then_held(site: Site, wecom: WeComServer) -> None:
    site.write("n1")
    wecom.behaviour.hang_seconds = 2.5  # longer than the channel's 1.5 s timeout
    with site.app() as app:
        approve(app, "n1")
        report = app.tick()
        assert report.channels["group"].outcomes == {"unknown": 1}
        assert report.channels["feed"].outcomes == {"sent": 1}  # not held up by the hang
        d = group(app)
        assert d.state == "pending" and d.unknowns == 1  # type: ignore[attr-defined]
        site.clock.set(d.next_attempt_at)  # type: ignore[attr-defined]
        app.tick()
        d = group(app)
        assert d.state == "unknown" and d.unknowns == 2  # type: ignore[attr-defined]
        counts = {s.name: s.counts for s in app.status()}
        assert counts["group"]["unknown"] == 1


def test_connection_refused_is_a_plain_retry(
    site: Site, wecom: WeComServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .vendors import free_port

    monkeypatch.setenv("TEST_WECOM_URL", f"http://127.0.0.1:{free_port()}/send?key=abcdefgh")
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        d = group(app)
        assert d.state == "pending" and d.attempts == 1 and "connect" in d.last_error  # type: ignore[attr-defined]


def test_scheduled_notice_appears_only_at_its_time(site: Site, wecom: WeComServer) -> None:
    site.write("n1", publish_at="2026-11-26 12:00+08:00")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        assert not site.out("notices/n1.html").exists() and wecom.received == []
        site.clock.set(site.clock.now().replace(hour=11, minute=59, second=59))
        app.tick()
        assert wecom.received == []
        site.clock.advance(2)
        app.tick()
        assert site.out("notices/n1.html").exists() and len(wecom.received) == 1


def test_expired_gongshi_leaves_feed_and_screens_at_the_next_tick(site: Site) -> None:
    site.write("n1", expires_at="2026-11-26 18:00+08:00")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        assert site.out("notices/n1.html").exists()
        site.clock.set(site.clock.now().replace(hour=17, minute=59, second=59))
        app.tick()
        assert site.out("notices/n1.html").exists()
        site.clock.advance(1)
        report = app.tick()
        assert report.channels["feed"].built
        assert not site.out("notices/n1.html").exists()
        assert "测试示范大学招生章程" not in site.out("feeds/all.rss.xml").read_text("utf-8")
        assert "n1" not in site.out("signage/landscape/current/manifest.json").read_text("utf-8")


def test_withdrawal_takes_it_down_at_once_and_announces(site: Site, wecom: WeComServer) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        assert site.out("notices/n1.html").exists()
        app.withdraw("n1", "发布有误", actor="李明")  # no tick in between
        assert not site.out("notices/n1.html").exists()
        assert "n1" not in site.out("signage/landscape/current/manifest.json").read_text("utf-8")
        app.tick()
        titles = [m["news"]["articles"][0]["title"] for m in wecom.received]
        assert titles == ["测试示范大学招生章程", "【撤回】测试示范大学招生章程"]
        assert app.store.audit_events("n1")[-1]["event"] in ("delivery.sent", "withdrawn")


def test_withdrawal_before_publication_cancels_everything(site: Site, wecom: WeComServer) -> None:
    site.write("n1", publish_at="2026-11-27 09:00+08:00")
    with site.app() as app:
        approve(app, "n1")
        app.withdraw("n1", "取消发布")
        site.clock.advance(timedelta(days=2))
        app.tick()
        assert set(states(app).values()) == {DeliveryState.CANCELLED}
        assert wecom.received == []


def test_revision_is_announced_as_a_correction(site: Site, wecom: WeComServer) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        app.tick()
        site.write("n1", body="更正后的正文。")
        approve(app, "n1")
        app.tick()
        titles = [m["news"]["articles"][0]["title"] for m in wecom.received]
        assert titles == ["测试示范大学招生章程", "【更正】测试示范大学招生章程"]


def test_a_crashing_channel_does_not_stop_the_others(site: Site) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")

        def boom(live: object) -> list:
            raise RuntimeError("template exploded")

        app.channels["screen"].build = boom  # type: ignore[method-assign]
        report = app.tick()
        assert "RuntimeError" in report.channels["screen"].skipped
        assert report.channels["feed"].outcomes == {"sent": 1}
        assert report.channels["group"].outcomes == {"sent": 1}


def test_outcome_kinds_are_complete() -> None:
    assert {k.value for k in OutcomeKind} == {
        "sent",
        "pending",
        "retry",
        "unknown",
        "failed",
        "disabled",
    }


def test_one_build_of_a_channel_at_a_time_whoever_asks(site: Site) -> None:
    """A pass, a withdrawal from the console and an alert can ask for a build at once; a
    state channel keeps plans between builds, so they take turns."""
    import threading
    import time as _time

    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        feed = app.channels["feed"]
        inside, most = 0, 0
        lock = threading.Lock()
        real = feed.build

        def slow_build(live: Any) -> list[str]:
            nonlocal inside, most
            with lock:
                inside += 1
                most = max(most, inside)
            _time.sleep(0.05)
            try:
                return real(live)  # type: ignore[no-any-return]
            finally:
                with lock:
                    inside -= 1

        feed.build = slow_build  # type: ignore[method-assign]
        threads = [
            threading.Thread(target=app.engine.tick, kwargs={"only": ["feed"], "force_build": True})
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert most == 1


def test_background_builds_coalesce_and_report_their_errors(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from publisher.errors import ChannelError

    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        feed = app.channels["feed"]
        real = feed.build
        gate = threading.Event()
        calls: list[int] = []
        fail = False

        def slow_build(live: Any) -> list[str]:
            calls.append(len(live))
            gate.wait(10)
            if fail:
                raise ChannelError("disk full")
            return real(live)

        monkeypatch.setattr(feed, "build", slow_build)
        app.engine.state.background = True
        first = app.tick()  # starts the build and returns at once
        assert "feed" in first.channels and not first.channels["feed"].built
        assert wait_for(lambda: calls == [1], 10)  # the build thread is drawing
        site.write("n2", title="第二条")
        approve(app, "n2")  # while the first build runs
        for _ in range(3):  # asked again while it runs: one more build, not three
            assert app.tick().channels["feed"].note == "building"
        gate.set()
        assert app.engine.state.wait(10)
        assert calls == [1, 2]  # the build after it has the notice approved meanwhile
        assert "第二条" in site.out("feeds/all.rss.xml").read_text("utf-8")
        report = app.tick().channels["feed"]  # the finished builds are reported once
        assert report.built
        gate.clear()
        fail = True
        app.engine.state.wait(0)
        app.tick(force_build=True)
        gate.set()
        assert app.engine.state.wait(10)
        # the failure reaches the next pass's report (and so /health)
        assert app.tick().channels["feed"].skipped.startswith("error: build failed: disk full")
        app.engine.state.wait(10)


def test_a_shared_output_folder_is_built_once_per_change(site: Site) -> None:
    """output.shared: one build record for the folder, so a change is built once whichever
    instance gets there first; an instance that finds the folder last written by another
    renders every file again (what it remembers writing may be stale)."""
    text = site.config.read_text("utf-8")
    site.config.write_text(text.replace("store:\n", "output: {shared: true}\nstore:\n", 1), "utf-8")
    site.write("n1")
    with site.app() as a, site.app() as b:
        b.engine.ctx.worker = "web-2:4242"  # another machine on the same shared folder
        approve(a, "n1")
        assert a.tick().channels["feed"].built
        assert not b.tick().channels["feed"].built  # already built, by a, for the folder
        feed = b.channels["feed"]
        forgot: list[bool] = []
        real = feed.forget_written
        feed.forget_written = lambda: (forgot.append(True), real())[1]  # type: ignore[method-assign]
        site.write("n2", title="第二条")
        approve(a, "n2")
        assert b.tick().channels["feed"].built  # b got there first this time
        assert forgot == [True]  # a wrote the folder last: nothing b remembers is trusted
        assert not a.tick().channels["feed"].built
    page = site.out("notices/n2.html")
    assert page.exists()

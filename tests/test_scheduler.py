from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from typing import Any

import pytest

from publisher.config import ScheduleConfig
from publisher.runtime.daemon import Runner

from .helpers import Site, approve
from .vendors import wait_for


def test_interval_job_runs_passes_on_its_own(site: Site) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        runner = Runner(app, serve=False)
        runner.start()
        try:
            assert wait_for(lambda: runner.passes.last_at is not None, 10)
            # the feed builds beside the pass, not in it
            assert wait_for(lambda: site.out("feeds/all.rss.xml").exists(), 10)
            ok, health = runner.health()
            assert ok and health["scheduler"] == "running" and health["store"] == "ok"
        finally:
            runner.stop()
        assert not runner.scheduler.running
        assert runner.health()[0] is False  # a stopped scheduler is reported unhealthy


def test_cron_job_fires_once_per_time_across_instances(site: Site) -> None:
    with site.app() as a, site.app() as b:
        ran: list[str] = []
        one, two = Runner(a, serve=False), Runner(b, serve=False)
        one.run_pass = lambda job="tick", label="", channel=None: ran.append("one")  # type: ignore[method-assign]
        two.run_pass = lambda job="tick", label="", channel=None: ran.append("two")  # type: ignore[method-assign]
        s = ScheduleConfig(name="morning", job="rebuild", cron="0 6 * * *")
        one.job(s)
        two.job(s)
        assert ran == ["one"]
        site.clock.advance(86400)
        two.job(s)
        assert ran == ["one", "two"]


def test_repeated_problems_are_logged_once(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    (site.root / "items" / "bad.md").write_text("---\nid: bad\ntitle: [\n---\n", "utf-8")
    with site.app() as app, caplog.at_level(logging.WARNING, logger="publisher"):
        runner = Runner(app, serve=False)
        runner.run_pass()
        runner.run_pass()
        runner.run_pass()
        assert sum("bad.md" in r.getMessage() for r in caplog.records) == 1
        (site.root / "items" / "bad.md").unlink()
        runner.run_pass()
        (site.root / "items" / "bad.md").write_text("---\nid: bad\n---\n", "utf-8")
        runner.run_pass()
        assert sum("bad.md" in r.getMessage() for r in caplog.records) == 2


def test_a_full_rate_window_schedules_a_wake_up(site: Site, wecom: Any) -> None:
    text = site.config.read_text("utf-8").replace(
        "      timeout: 1.5\n", "      timeout: 1.5\n      digest: false\n"
    )
    site.config.write_text(text, "utf-8")
    for i in range(21):
        site.write(f"n{i:02d}", title=f"通知{i:02d}")
    with site.app() as app:
        for i in range(21):
            approve(app, f"n{i:02d}")
        runner = Runner(app, serve=False)
        runner.scheduler.start(paused=True)  # jobs are added, none run by themselves
        try:
            tick = runner.run_pass()
            assert tick is not None and len(wecom.received) == 20
            job = runner.scheduler.get_job("wake")
            assert job is not None and job.next_run_time == tick.next_wake
            # 60 s + 5 %, and the millisecond after which the oldest send has left the window
            assert tick.next_wake - site.clock.now() <= timedelta(seconds=63.001)
        finally:
            runner.scheduler.shutdown(wait=False)


def test_metrics_in_prometheus_text(site: Site, wecom: Any) -> None:
    import httpx

    site.write("n1")
    site.write("n2", publish_at="2026-11-26 11:00+08:00")
    with site.app() as app:
        approve(app, "n1")
        approve(app, "n2")
        runner = Runner(app, port=0)
        assert runner.server is not None
        runner.server.start()
        try:
            runner.run_pass()
            text = httpx.get(runner.server.url + "/metrics").text
            health = httpx.get(runner.server.url + "/health").json()
        finally:
            runner.server.stop()
    assert 'publisher_deliveries{channel="group",state="sent"} 1' in text
    assert 'publisher_deliveries{channel="group",state="pending"} 1' in text
    assert 'publisher_queue_depth{channel="group"} 0' in text
    assert 'publisher_channel_paused{channel="group"} 0' in text
    assert 'publisher_publish_lag_seconds{channel="group",quantile="0.99"}' in text
    assert "publisher_pass_seconds" in text and "# TYPE publisher_deliveries gauge" in text
    assert health["store"] == "ok" and "last_tick" in health


def test_passes_that_keep_failing_make_health_say_so(site: Site) -> None:
    site.write("n1")
    with site.app() as app:
        approve(app, "n1")
        runner = Runner(app, serve=False)
        runner.run_pass()
        assert runner.health()[0] is False  # the scheduler is not started here
        shutil.rmtree(site.root / "public")
        (site.root / "public").write_text("a file where the output folder should be", "utf-8")
        for _ in range(Runner.FAILING_PASSES):  # the 06:00 rebuild, say, on a broken folder
            report = runner.run_pass(job="rebuild")
            assert report is not None and report.channels["feed"].skipped.startswith("error")
        _, body = runner.health()
        assert body["failing"]["passes"] == Runner.FAILING_PASSES
        assert "build failed" in body["failing"]["reason"]
        (site.root / "public").unlink()
        runner.run_pass(job="rebuild")
        assert "failing" not in runner.health()[1]

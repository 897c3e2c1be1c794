"""``publisher run``: APScheduler 3 as a timer, plus the HTTP server.

The scheduler holds no state of its own (no job store): every tick reads the store, does what
is due, and writes the outcome back. So ticks are idempotent, a restart catches up on whatever
it missed, and several instances could run side by side. Stopping (Ctrl-C, SIGTERM) lets the
running tick finish; all files are written atomically, so none is ever half-written.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from starlette.types import ASGIApp

from publisher.config import ScheduleConfig
from publisher.delivery.engine import TickReport, default_worker_id
from publisher.errors import PublisherError
from publisher.runtime.monitoring import Passes, health, metrics, status_document
from publisher.secrets import redact
from publisher.service.app import Publisher
from publisher.web.search import search_endpoint
from publisher.web.server import Server

log = logging.getLogger("publisher.runtime.daemon")


class Runner:
    def __init__(
        self,
        app: Publisher,
        *,
        serve: bool = True,
        port: int | None = None,
        host: str | None = None,
    ) -> None:
        self.app = app
        self.settings = app.settings
        self.instance = default_worker_id()
        self.stopping = threading.Event()
        self.passes = Passes()  # how the passes went: /health, /metrics
        self._lock = threading.Lock()  # one pass at a time in this process
        self._listener: threading.Thread | None = None
        self.abandoned = False  # stop() gave up waiting for a pass (a send that hangs)
        self._said: dict[str, set[str]] = {}
        self.scheduler = BackgroundScheduler(timezone=self.settings.tz)
        srv = self.settings.model.server
        self.server: Server | None = None
        if serve and srv.enabled:
            self.server = Server(
                self.settings.output_dir,
                host or srv.host,
                srv.port if port is None else port,
                health=self.health,
                status=self.status_json,
                metrics=self.metrics,
                console=None if self._console_apart() else self._console(),
                heartbeat=self.heartbeat if app.screens.enabled else None,
                vendor_event=self.vendor_event if app.takes_vendor_events else None,
                rules=app.file_rules(),
                search=self._search(),
            )
        self.console_server: Server | None = None
        if serve and self._console_apart():
            con = self.settings.model.console
            assert con.port is not None
            self.console_server = Server(
                self.settings.output_dir,
                con.host or srv.host,
                con.port,
                health=self.health,
                console=self._console(),
                files=False,
            )

    def _console_apart(self) -> bool:
        con = self.settings.model.console
        return con.enabled and con.port is not None

    def _console(self) -> ASGIApp | None:
        if not self.settings.model.console.enabled:
            return None
        from publisher.web.console import (
            console_app,  # the web console's libraries load only when served
        )

        return console_app(self.app)

    def _search(self) -> Callable[[Any], Any] | None:
        """The site's search page, where a channel writes the site's pages to match it."""
        template = self.app.site_template("search")
        if template is None:
            return None
        return search_endpoint(
            self.app.search,
            self.app.templates,
            self.settings.site,
            {slug: c.name for slug, c in self.settings.catalogue.categories.items()},
            template,
        )

    # ---------------------------------------------------------------- jobs

    def trigger(self, s: ScheduleConfig) -> Any:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(s.timezone or self.settings.model.site.timezone)
        if s.cron:
            return CronTrigger.from_crontab(s.cron, timezone=tz)
        assert s.interval is not None
        return IntervalTrigger(seconds=s.interval, timezone=tz)

    def job(self, s: ScheduleConfig) -> None:
        if self.stopping.is_set():
            return
        now = self.app.clock.now()
        if s.cron:
            # a cron job fires once per fire time across every instance sharing the store
            fire = now.astimezone(UTC).replace(second=0, microsecond=0)
            if not self.app.claim_fire(s.name, fire, self.instance):
                log.debug("schedule %s at %s already run by another instance", s.name, fire)
                return
        self.run_pass(job=s.job, label=s.name, channel=s.channel)

    def run_pass(
        self, job: str = "tick", label: str = "tick", channel: str | None = None
    ) -> TickReport | None:
        with self._lock:
            try:
                # a deleted or replaced database stops publishing at once: the feeds stay as
                # they are instead of being rebuilt from nothing (and /health says why)
                self.app.check_store()
                self.app.guard_output()
                # a wake-up at an exact time only delivers: reading every notice file first
                # would make a 09:00 notice late by as long as the folder takes to parse
                if label not in ("wake", "notified") and job not in ("backup", "coverage"):
                    report = self.app.sync()
                    self._say(logging.WARNING, [e.describe() for e in report.errors], "notices")
                    self._say(logging.INFO, report.waiting, "waiting")
                    for nid in report.approved:
                        log.info("approved by paper review record: %s", nid)
                if job == "sync":
                    return None
                if job == "backup":
                    info = self.app.backup()
                    log.info("backup: %s (%.1f MB)", info.file, info.size / 1e6)
                    return None
                if job == "coverage":
                    sent = self.app.remind_coverage(channel)
                    log.info("coverage: reminders sent through %s", ", ".join(sent) or "no robot")
                    return None
                if job == "digest" and channel:
                    tick = TickReport(self.app.clock.now())
                    tick.channels[channel] = self.app.engine.run_digest(channel)
                else:
                    tick = self.app.tick(force_build=job == "rebuild")
            except PublisherError as exc:
                # once while it holds: a lost database would otherwise be logged every tick
                self._say(logging.ERROR, [redact(str(exc))], "failure")
                self._failed(f"{label}: {redact(str(exc))}")
                return None
            except Exception as exc:  # a pass never kills the scheduler
                log.exception("%s: unexpected error", label)
                self._failed(f"{label}: {type(exc).__name__}: {redact(str(exc))}")
                return None
            crashed = [
                f"{name}: {r.skipped}"
                for name, r in tick.channels.items()
                if r.skipped.startswith("error")
            ]
            if crashed:
                self._failed("; ".join(crashed))
            else:
                self.passes.ok()
                self._said.pop("failure", None)
            self.passes.last_at = self.app.clock.now()
            self.passes.last_report = tick
            # what the console lists as the instances and their last pass
            self.app.note_pass(self.instance, self.passes.last_at)
            if self.app.screens.enabled:
                for name in self.app.screens.check_silent():
                    log.warning("screen %s is silent; an operator was told", name)
            for name, r in tick.channels.items():
                if r.outcomes or r.changed_files:
                    log.info(
                        "%s: %s",
                        name,
                        ", ".join(
                            [f"{k} {v}" for k, v in sorted(r.outcomes.items())]
                            + ([f"{r.changed_files} file(s) written"] if r.changed_files else [])
                        ),
                    )
                self._say(logging.WARNING, [f"{name}: {r.skipped}"] if r.skipped else [], name)
            self._wake_at(tick.next_wake)
            return tick

    def _wake_at(self, when: datetime | None) -> None:
        """Come back exactly when a robot's rate window frees or a pause ends, instead of at
        the next interval tick (no idle time while work is queued)."""
        if when is None or not self.scheduler.running or self.stopping.is_set():
            return
        self.scheduler.add_job(
            self.run_pass,
            DateTrigger(run_date=when),
            id="wake",
            name="wake",
            replace_existing=True,
            kwargs={"label": "wake"},
            misfire_grace_time=300,
        )

    def _say(self, level: int, messages: list[str], topic: str) -> None:
        """Log each message once while it holds, not on every tick (a bad file would otherwise
        repeat every 30 s); a message that goes away and comes back is logged again."""
        before = self._said.get(topic, set())
        for m in messages:
            if m not in before:
                log.log(level, "%s", m)
        self._said[topic] = set(messages)

    # ---------------------------------------------------------------- health

    FAILING_PASSES = Passes.FAILING

    @property
    def failed_passes(self) -> int:
        return self.passes.failed

    def _failed(self, reason: str) -> None:
        self.passes.fail(reason)

    def heartbeat(self, body: bytes, address: str) -> dict[str, Any]:
        """A slideshow player's beat (``POST /heartbeat``): what it should play."""
        screen = self.app.screens.record(body, address)
        return {"current": self.app.screens.current(screen)}

    def vendor_event(
        self, channel: str, method: str, query: dict[str, str], body: bytes
    ) -> tuple[int, str]:
        """A vendor's push (``/hooks/CHANNEL``); a delivery it finished is looked at now."""
        status, text, nudged = self.app.vendor_event(channel, method, query, body)
        if nudged:
            self.wake_now()
        return status, text

    def health(self) -> tuple[bool, dict[str, Any]]:
        return health(self.app, self.passes, self.scheduler.running, self.instance)

    def metrics(self) -> str:
        return metrics(self.app, self.passes)

    def status_json(self) -> dict[str, Any]:
        return status_document(self.app)

    # ---------------------------------------------------------------- life cycle

    def _built(self, channel: str, when: datetime | None) -> None:
        """A background build ended: come back when its live set next changes."""
        if when is None or not self.scheduler.running or self.stopping.is_set():
            return
        self.scheduler.add_job(
            self.run_pass,
            DateTrigger(run_date=when),
            id=f"wake-{channel}",
            name=f"wake-{channel}",
            replace_existing=True,
            kwargs={"label": "wake"},
            misfire_grace_time=300,
        )

    def start(self) -> None:
        # refuse before serving anything when the output folder belongs to another store
        self.app.guard_output()
        # say how the output is kept (its own, or shared), and warn when it looks shared
        self.app.output_writers(mark=True)
        layout = self.app.output_layout()
        (log.warning if layout.startswith("warning") else log.info)("%s", layout)
        # feeds and screens build beside the passes, not in them: a screen loop that takes
        # seconds to draw never holds up a robot notice that falls due meanwhile
        self.app.engine.state.background = True
        self.app.engine.state.on_built = self._built
        if self.server:
            self.server.start()
            log.info("serving %s at %s/", self.settings.output_dir, self.server.url)
        if self.console_server:
            self.console_server.start()
            log.info("console at %s/admin/", self.console_server.url)
        for s in self.settings.model.schedules:
            self.scheduler.add_job(
                self.job,
                self.trigger(s),
                args=[s],
                id=s.name,
                name=s.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=300,
            )
        self.scheduler.start()
        listen = self.app.wakeup_listener(self.wake_now, self.stopping)
        if listen is not None:
            # another instance approved or withdrew something: go at once, do not wait a tick
            self._listener = threading.Thread(
                target=listen,
                name="listen",
                daemon=True,
            )
            self._listener.start()
        log.info(
            "scheduler started: %s",
            ", ".join(
                f"{s.name} ({s.cron or f'every {s.interval:g}s'})"
                for s in self.settings.model.schedules
            ),
        )

    def wake_now(self) -> None:
        if self.scheduler.running and not self.stopping.is_set():
            self.scheduler.add_job(
                self.run_pass,
                id="notified",
                name="notified",
                replace_existing=True,
                kwargs={"label": "notified"},
            )

    def stop(self) -> None:
        """Stop within ``delivery.shutdown_grace``: no new claims or sends; the send in hand
        finishes and is recorded; claims not started go back at once (others take them)."""
        self.stopping.set()
        self.app.engine.stopping.set()
        grace = self.settings.model.delivery.shutdown_grace
        deadline = time.monotonic() + grace
        if self._lock.acquire(timeout=grace):
            self._lock.release()
        else:
            log.warning("a pass was still running after %.0f s; leaving it to its leases", grace)
            self.abandoned = True
        # a build in progress writes whole files only; let it finish within the grace
        if not self.app.engine.state.wait(max(0.0, deadline - time.monotonic())):
            log.warning(
                "a build was still running after %.0f s; its files stay as they were", grace
            )
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.server:
            self.server.stop()
        if self.console_server:
            self.console_server.stop()
        log.info("stopped")

    def run_forever(self, on_ready: Callable[[], None] | None = None) -> None:
        def handle(signum: int, _frame: Any) -> None:
            log.info(
                "received %s; finishing the current pass and stopping", signal.Signals(signum).name
            )
            self.stopping.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, handle)
        self.start()
        # catch up at once on whatever is due, in the scheduler's threads: the main thread
        # stays free to take SIGTERM even while a robot hangs
        self.scheduler.add_job(
            self.run_pass, id="start-up", name="start-up", kwargs={"label": "start-up"}
        )
        if on_ready:
            on_ready()
        try:
            self.stopping.wait()  # signal handlers run during the wait and set the event
        finally:
            self.stop()

"""How the bot is doing, in one place for the CLI, the HTTP endpoints and the coming console:
the channel status rows (one serialiser), health, and the Prometheus exposition (written by
``prometheus_client``, so names, escaping and types follow the format)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from publisher.errors import PublisherError
from publisher.secrets import redact

if TYPE_CHECKING:  # the app imports this module; at run time it is only handed in
    from publisher.delivery.engine import TickReport
    from publisher.service.app import Publisher
    from publisher.service.readmodels import ChannelStatus
    from publisher.service.screens import ScreenHealth


def status_row(s: ChannelStatus) -> dict[str, Any]:
    """One channel's status as `publisher status --json` and /status.json give it."""
    return {
        "channel": s.name,
        "type": s.type,
        "kind": s.kind,
        "counts": s.counts,
        "paused": s.paused,
        "not_configured": s.not_configured,
        "built_at": s.built_at.isoformat() if s.built_at else None,
        "windows": [{"used": u, "allowed": a, "seconds": round(sec, 3)} for u, a, sec in s.windows],
        "rate_limited": {"hour": s.rate_limited_hour, "day": s.rate_limited_day},
        "quotas": {name: {"used": u, "allowed": a} for name, (u, a) in s.quotas.items()},
    }


def screen_row(h: ScreenHealth) -> dict[str, Any]:
    s = h.screen
    return {
        "screen": s.screen,
        "channel": s.channel,
        "profile": s.profile,
        "version": s.version,
        "current": h.current,
        "up_to_date": h.up_to_date,
        "slide": s.slide,
        "size": [s.width, s.height],
        "last_seen": s.last_seen.isoformat(),
        "silent": h.silent,
    }


def status_document(app: Publisher) -> dict[str, Any]:
    doc: dict[str, Any] = {"channels": [status_row(s) for s in app.status()]}
    if app.screens.enabled:
        doc["screens"] = [screen_row(h) for h in app.screens.health()]
    return doc


@dataclass
class Passes:
    """What the scheduler's passes came to: /health answers 503 from ``FAILING`` failed
    passes in a row on, so a monitor sees a bot that runs but does not publish."""

    FAILING: ClassVar[int] = 3
    failed: int = 0
    failure: str = ""
    last_at: datetime | None = None
    last_report: TickReport | None = None

    def fail(self, reason: str) -> None:
        self.failed += 1
        self.failure = reason[:500]

    def ok(self) -> None:
        self.failed, self.failure = 0, ""


def health(
    app: Publisher, passes: Passes, scheduler_running: bool, instance: str
) -> tuple[bool, dict[str, Any]]:
    body: dict[str, Any] = {"instance": instance}
    try:
        app.check_store()
        statuses = app.status()
        body["store"] = "ok"
    except PublisherError as exc:
        return False, {"store": redact(str(exc))}
    ok = scheduler_running
    body["scheduler"] = "running" if scheduler_running else "stopped"
    if passes.failed >= passes.FAILING:
        ok = False
        body["failing"] = {"passes": passes.failed, "reason": passes.failure}
    body["last_tick"] = passes.last_at.isoformat() if passes.last_at else None
    body["paused"] = {s.name: s.paused for s in statuses if s.paused}
    body["not_configured"] = {s.name: s.not_configured for s in statuses if s.not_configured}
    return ok, body


class _Figures:
    """A prometheus_client collector reading the store at each scrape (nothing is counted in
    memory: several instances share the store, and a restart loses nothing)."""

    def __init__(self, app: Publisher, passes: Passes) -> None:
        self.app = app
        self.passes = passes

    def collect(self) -> Iterator[Metric]:
        figures = self.app.figures()
        deliveries = GaugeMetricFamily(
            "publisher_deliveries", "Deliveries by channel and state.", labels=["channel", "state"]
        )
        for channel, states in sorted(figures.counts.items()):
            for state, n in sorted(states.items()):
                deliveries.add_metric([channel, state], n)
        yield deliveries
        depth = GaugeMetricFamily(
            "publisher_queue_depth", "Deliveries due now and not yet done.", labels=["channel"]
        )
        due = figures.due
        for channel in self.app.settings.channels:
            depth.add_metric([channel], due.get(channel, 0))
        yield depth
        interrupted = CounterMetricFamily(
            "publisher_interrupted_sends",
            "Sends that began and were never recorded (a worker died in between): "
            "possible duplicates.",
            labels=["channel"],
        )
        for channel, n in sorted(figures.interrupted.items()):
            interrupted.add_metric([channel], n)
        yield interrupted
        paused = GaugeMetricFamily(
            "publisher_channel_paused", "1 while a channel is paused.", labels=["channel"]
        )
        statuses = self.app.status()
        for s in statuses:
            paused.add_metric([s.name], int(bool(s.paused)))
        yield paused
        used = GaugeMetricFamily(
            "publisher_rate_window_used",
            "Sends in each robot rate window now (the store's count, all instances).",
            labels=["channel", "seconds"],
        )
        allowed = GaugeMetricFamily(
            "publisher_rate_window_allowed",
            "Sends each robot rate window allows.",
            labels=["channel", "seconds"],
        )
        replies = GaugeMetricFamily(
            "publisher_rate_limit_replies",
            "Replies that said 'too fast' (45009, 130101, 9499, 429 …), by period.",
            labels=["channel", "period"],
        )
        for s in statuses:
            for u, a, sec in s.windows:
                used.add_metric([s.name, f"{sec:g}"], u)
                allowed.add_metric([s.name, f"{sec:g}"], a)
            if s.kind == "message":
                replies.add_metric([s.name, "hour"], s.rate_limited_hour)
                replies.add_metric([s.name, "day"], s.rate_limited_day)
        quota = GaugeMetricFamily(
            "publisher_daily_quota_used",
            "Uses of each daily vendor quota today (China time), all instances.",
            labels=["channel", "quota"],
        )
        quota_allowed = GaugeMetricFamily(
            "publisher_daily_quota_allowed", "Each daily vendor quota.", labels=["channel", "quota"]
        )
        for s in statuses:
            for name, (u, a) in sorted(s.quotas.items()):
                quota.add_metric([s.name, name], u)
                quota_allowed.add_metric([s.name, name], a)
        yield used
        yield allowed
        yield replies
        yield quota
        yield quota_allowed
        lag = Metric("publisher_publish_lag_seconds", "Due time to sent, last hour.", "summary")
        for channel, lags in sorted(figures.lags.items()):
            lags.sort()
            for q in (0.5, 0.99):
                value = lags[min(len(lags) - 1, int(q * len(lags)))]
                lag.add_sample(lag.name, {"channel": channel, "quantile": str(q)}, value)
            lag.add_sample(lag.name + "_count", {"channel": channel}, len(lags))
            lag.add_sample(lag.name + "_sum", {"channel": channel}, sum(lags))
        yield lag
        if self.app.screens.enabled:
            yield from _screen_figures(self.app.screens.health())
        if self.passes.last_report is not None:
            seconds = GaugeMetricFamily(
                "publisher_pass_seconds",
                "Time each channel took in the last pass.",
                labels=["channel"],
            )
            for name, r in sorted(self.passes.last_report.channels.items()):
                seconds.add_metric([name], r.seconds)
            yield seconds
        if self.passes.last_at is not None:
            yield GaugeMetricFamily(
                "publisher_last_pass_timestamp_seconds",
                "When the last pass ended.",
                value=self.passes.last_at.timestamp(),
            )


def _screen_figures(screens: list[ScreenHealth]) -> Iterator[Metric]:
    seen = GaugeMetricFamily(
        "publisher_screen_last_heartbeat_timestamp_seconds",
        "When each slideshow player last reported.",
        labels=["screen", "channel", "profile"],
    )
    info = GaugeMetricFamily(
        "publisher_screen_version_info",
        "1 for the bundle version each screen plays; up_to_date says if it is the current one.",
        labels=["screen", "version", "up_to_date"],
    )
    silent = GaugeMetricFamily(
        "publisher_screen_silent",
        "1 while a screen is silent longer than allowed in its hours.",
        labels=["screen"],
    )
    for h in screens:
        s = h.screen
        seen.add_metric([s.screen, s.channel, s.profile], s.last_seen.timestamp())
        info.add_metric([s.screen, s.version, str(h.up_to_date).lower()], 1)
        silent.add_metric([s.screen], int(h.silent))
    yield seen
    yield info
    yield silent


def metrics(app: Publisher, passes: Passes) -> str:
    """The Prometheus text exposition of the figures above."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Figures(app, passes))
    return generate_latest(registry).decode("utf-8")

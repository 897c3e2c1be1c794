"""Where each channel stands, for `publisher status`, /status.json, /metrics and the console."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from publisher.channel import (
    CountsQuotas,
    MessageChannel,
)
from publisher.delivery.operator import replies_key
from publisher.secrets import redact
from publisher.service.base import ServiceBase
from publisher.service.readmodels import ChannelStatus

log = logging.getLogger("publisher")


@dataclass
class DeliveryFigures:
    """The store's delivery figures at one moment, for ``/metrics``."""

    counts: dict[str, dict[str, int]]  # channel → state → deliveries
    due: dict[str, int]  # channel → due now and not done
    interrupted: dict[str, int]  # channel → sends begun and never recorded
    lags: dict[str, list[float]]  # channel → publish lags (seconds) in the last hour


class StatusJob(ServiceBase):
    def figures(self) -> DeliveryFigures:
        now = self.clock.now()
        return DeliveryFigures(
            self.store.delivery_counts(),
            self.store.queue_depth(now),
            self.store.interrupted_counts(),
            self.store.publish_lags(now - timedelta(hours=1)),
        )

    def instances(self) -> list[tuple[str, datetime]]:
        """Each instance sharing the store, with its last pass."""
        return self.store.instances(self.clock.now())

    def audit_events(self, notice_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The audit trail, newest first (of one notice, or of everything)."""
        return self.store.audit_events(notice_id, limit=limit)

    def audit(self, event: str, actor: str, **fields: Any) -> None:
        """Record what a person did through a front end (an event name of the front end's
        own, e.g. ``console.push``); the service records the rest itself."""
        self.store.audit(self.clock.now(), event, actor=actor, **fields)

    def status(self) -> list[ChannelStatus]:
        counts = self.store.delivery_counts()
        out = []
        now = self.clock.now()
        for name, spec in self.settings.channels.items():
            ch = self.channels.get(name)
            st = self.store.channel_state(name)
            cs = ChannelStatus(
                name, spec.type, ch.kind if ch else "-", counts.get(name, {}), built_at=st.built_at
            )
            if not spec.enabled:
                cs.not_configured = "disabled in config"
            elif ch is not None and (reason := ch.unavailable()):
                cs.not_configured = reason
            if st.paused(now):
                until = (
                    f" until {st.paused_until.astimezone(self.settings.tz):%H:%M:%S}"
                    if st.paused_until
                    else ""
                )
                cs.paused = redact(st.pause_reason) + until
            if isinstance(ch, MessageChannel) and not cs.not_configured:
                wnow = self.engine.ctx.window_now()
                cs.windows = self.store.window_use(ch.robot_key, ch.rate_limits, wnow)
                key = replies_key(name)
                day, hour = (
                    used
                    for used, _, _ in self.store.window_use(
                        key, [(1_000_000, 86_400.0), (1_000_000, 3600.0)], wnow
                    )
                )
                cs.rate_limited_day, cs.rate_limited_hour = day, hour
                cs.quotas = ch.quota_use() if isinstance(ch, CountsQuotas) else {}
            out.append(cs)
        return out

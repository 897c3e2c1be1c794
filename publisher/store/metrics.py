"""The figures behind /metrics and /health: queue depth, publish lag, interrupted sends."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from publisher.model import Action, DeliveryState
from publisher.store.base import StoreBase
from publisher.store.schema import (
    deliveries,
)


class MetricsQueries(StoreBase):
    def queue_depth(self, now: datetime) -> dict[str, int]:
        """Deliveries due now and not yet done, per channel."""
        with self.tx() as conn:
            rows = conn.execute(
                select(deliveries.c.channel, func.count())
                .where(
                    deliveries.c.state.in_([DeliveryState.PENDING, DeliveryState.CLAIMED]),
                    deliveries.c.due_at <= now,
                )
                .group_by(deliveries.c.channel)
            ).all()
        return {ch: int(n) for ch, n in rows}

    def publish_lags(self, since: datetime) -> dict[str, list[float]]:
        """Seconds from due to sent, per channel, for deliveries sent since ``since``."""
        with self.tx() as conn:
            rows = conn.execute(
                select(deliveries.c.channel, deliveries.c.due_at, deliveries.c.sent_at).where(
                    deliveries.c.state == DeliveryState.SENT,
                    deliveries.c.sent_at >= since,
                    deliveries.c.action == Action.PUBLISH,
                )
            ).all()
        out: dict[str, list[float]] = {}
        for ch, due, sent in rows:
            out.setdefault(ch, []).append(max(0.0, (sent - due).total_seconds()))
        return out

    def interrupted_counts(self) -> dict[str, int]:
        with self.tx() as conn:
            rows = conn.execute(
                select(deliveries.c.channel, func.sum(deliveries.c.interrupted)).group_by(
                    deliveries.c.channel
                )
            ).all()
        return {ch: int(n or 0) for ch, n in rows}

    def instances(self, now: datetime) -> list[tuple[str, datetime]]:
        """Every instance whose last pass was within a week, newest first."""
        seen = []
        for name, when in self.metas("instance:").items():
            try:
                at = datetime.fromisoformat(when)
            except ValueError:
                continue
            if at > now - timedelta(days=7):
                seen.append((name, at))
        return sorted(seen, key=lambda x: x[1], reverse=True)

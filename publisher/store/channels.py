"""State of each channel: its live set, when that changes by itself, its last build,
and pauses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from publisher.model import Action, DeliveryState
from publisher.secrets import redact
from publisher.store.base import StoreBase
from publisher.store.rows import (
    ChannelStateRow,
    LiveVersion,
    _version,
)
from publisher.store.schema import (
    builds,
    channel_state,
    deliveries,
    notices,
    signage_alerts,
    versions,
)
from publisher.store.versions import with_index


@dataclass(frozen=True)
class BuildRecord:
    fingerprint: str
    built_at: datetime
    instance: str


class ChannelQueries(StoreBase):
    def live_versions(self, channel: str, now: datetime) -> list[LiveVersion]:
        """For each notice routed to ``channel``: its newest approved version, when it is live
        now (published, not expired, not withdrawn)."""
        latest = (
            select(versions.c.notice_id, func.max(versions.c.revision).label("rev"))
            .where(versions.c.approved_at.is_not(None))
            .group_by(versions.c.notice_id)
            .subquery()
        )
        routed = select(deliveries.c.sha256).where(
            deliveries.c.channel == channel,
            deliveries.c.action == Action.PUBLISH,
            deliveries.c.state.not_in([DeliveryState.CANCELLED]),
        )
        stmt = (
            with_index()
            .join(
                latest,
                and_(
                    latest.c.notice_id == versions.c.notice_id, latest.c.rev == versions.c.revision
                ),
            )
            .join(notices, notices.c.id == versions.c.notice_id)
            .where(
                notices.c.withdrawn_at.is_(None),
                versions.c.publish_at <= now,
                or_(versions.c.expires_at.is_(None), versions.c.expires_at > now),
                versions.c.sha256.in_(routed),
            )
            .order_by(versions.c.publish_at.desc(), versions.c.notice_id)
        )
        with self.tx() as conn:
            rows = conn.execute(stmt).all()
            prev: dict[str, str] = {}
            if rows:
                older = conn.execute(
                    select(versions.c.notice_id, versions.c.sha256, versions.c.revision)
                    .where(
                        versions.c.notice_id.in_([r.notice_id for r in rows]),
                        versions.c.approved_at.is_not(None),
                    )
                    .order_by(versions.c.revision)
                ).all()
                current = {r.notice_id: r.revision for r in rows}
                for o in older:
                    if o.revision < current[o.notice_id]:
                        prev[o.notice_id] = o.sha256
        return [LiveVersion(_version(r), prev.get(r.notice_id)) for r in rows]

    def next_change(self, channel: str, now: datetime) -> datetime | None:
        """The next moment the live set of ``channel`` changes by itself: an approved version
        reaching its publish time, a live one expiring, a signage alert starting or ending."""
        routed = select(deliveries.c.sha256).where(
            deliveries.c.channel == channel,
            deliveries.c.action == Action.PUBLISH,
            deliveries.c.state.not_in([DeliveryState.CANCELLED, DeliveryState.SUPERSEDED]),
        )
        with self.tx() as conn:
            publish = conn.execute(
                select(func.min(versions.c.publish_at)).where(
                    versions.c.sha256.in_(routed),
                    versions.c.approved_at.is_not(None),
                    versions.c.publish_at > now,
                )
            ).scalar()
            expire = conn.execute(
                select(func.min(versions.c.expires_at)).where(
                    versions.c.sha256.in_(routed),
                    versions.c.approved_at.is_not(None),
                    versions.c.expires_at > now,
                )
            ).scalar()
            alert = conn.execute(
                select(func.min(signage_alerts.c.until)).where(
                    signage_alerts.c.cleared_at.is_(None), signage_alerts.c.until > now
                )
            ).scalar()
            start = conn.execute(
                select(func.min(signage_alerts.c.starts)).where(
                    signage_alerts.c.cleared_at.is_(None), signage_alerts.c.starts > now
                )
            ).scalar()
        times = [t for t in (publish, expire, alert, start) if t is not None]
        return min(times) if times else None

    def channel_state(self, channel: str) -> ChannelStateRow:
        with self.tx() as conn:
            row = conn.execute(
                select(channel_state).where(channel_state.c.channel == channel)
            ).first()
        if row is None:
            return ChannelStateRow(channel, None, None, "", None, None)
        return ChannelStateRow(
            row.channel,
            row.paused_at,
            row.paused_until,
            row.pause_reason,
            row.build_fingerprint,
            row.built_at,
        )

    def _upsert_channel(self, conn: Connection, channel: str, **values: Any) -> None:
        res = conn.execute(
            update(channel_state).where(channel_state.c.channel == channel).values(**values)
        )
        if res.rowcount == 0:
            conn.execute(insert(channel_state).values(channel=channel, **values))

    def pause_channel(
        self, channel: str, reason: str, now: datetime, until: datetime | None = None
    ) -> None:
        with self.tx() as conn:
            self._upsert_channel(
                conn, channel, paused_at=now, paused_until=until, pause_reason=redact(reason)
            )
            self._audit(
                conn,
                now,
                "channel.paused",
                channel=channel,
                reason=redact(reason),
                until=until.isoformat() if until else None,
            )

    def resume_channel(self, channel: str, now: datetime, actor: str = "") -> bool:
        with self.tx() as conn:
            row = conn.execute(
                select(channel_state.c.paused_at).where(channel_state.c.channel == channel)
            ).first()
            if row is None or row.paused_at is None:
                return False
            self._upsert_channel(conn, channel, paused_at=None, paused_until=None, pause_reason="")
            self._audit(conn, now, "channel.resumed", channel=channel, actor=actor)
            return True

    def settle_built(self, channel: str, shas: Sequence[str], now: datetime) -> int:
        """Deliveries of a state channel that gave up (a full disk made every build fail) are
        sent once a build carries their version; → how many."""
        if not shas:
            return 0
        with self.tx() as conn:
            res = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.channel == channel,
                    deliveries.c.action == Action.PUBLISH,
                    deliveries.c.state.in_([DeliveryState.DEAD, DeliveryState.FAILED]),
                    deliveries.c.sha256.in_(list(shas)),
                )
                .values(state=DeliveryState.SENT, sent_at=now, updated_at=now, last_error="")
            )
            return int(res.rowcount or 0)

    def forget_builds(self) -> None:
        """Make every state channel build again at its next pass, in every location (the
        output may show more than this store knows: a restored backup, an adopted folder)."""
        with self.tx() as conn:
            conn.execute(update(channel_state).values(build_fingerprint=None))
            conn.execute(delete(builds))

    def build_record(self, channel: str, location: str) -> BuildRecord | None:
        """What ``location`` (an instance's output folder) last built of ``channel``."""
        with self.tx() as conn:
            row = conn.execute(
                select(builds).where(builds.c.channel == channel, builds.c.location == location)
            ).first()
        return BuildRecord(row.fingerprint, row.built_at, row.instance) if row else None

    def set_build(
        self,
        channel: str,
        fingerprint: str,
        now: datetime,
        changed: Sequence[str],
        location: str = "",
        instance: str = "",
    ) -> None:
        with self.tx() as conn:
            # built_at stays on the channel (status shows when any instance last built it)
            self._upsert_channel(conn, channel, build_fingerprint=fingerprint, built_at=now)
            if location:
                values = dict(fingerprint=fingerprint, built_at=now, instance=instance[:100])
                res = conn.execute(
                    update(builds)
                    .where(builds.c.channel == channel, builds.c.location == location)
                    .values(**values)
                )
                if res.rowcount == 0:
                    try:
                        with conn.begin_nested():
                            conn.execute(
                                insert(builds).values(
                                    channel=channel, location=location[:300], **values
                                )
                            )
                    except IntegrityError:  # another instance of the same location was first
                        conn.execute(
                            update(builds)
                            .where(builds.c.channel == channel, builds.c.location == location)
                            .values(**values)
                        )
            if changed:
                self._audit(
                    conn,
                    now,
                    "build",
                    channel=channel,
                    fingerprint=fingerprint[:16],
                    files=len(changed),
                )

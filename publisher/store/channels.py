"""State of each channel: its live set, when that changes by itself, its last build,
and pauses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)
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


@dataclass(frozen=True)
class BuildStart:
    """Whether a build may write its output location (``start_build``): ``why`` not, and
    ``last_writer``, the instance that wrote there last (another one: what this process
    remembers writing may be stale)."""

    ok: bool
    why: str = ""
    last_writer: str = ""


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
        output may show more than this store knows: a restored backup, an adopted folder).
        The build numbers stay: a build still at work keeps losing to newer ones."""
        with self.tx() as conn:
            conn.execute(update(channel_state).values(build_fingerprint=None))
            conn.execute(update(builds).values(fingerprint=""))

    def build_record(self, channel: str, location: str) -> BuildRecord | None:
        """What ``location`` (an instance's output folder) last built of ``channel``."""
        with self.tx() as conn:
            row = conn.execute(
                select(builds).where(builds.c.channel == channel, builds.c.location == location)
            ).first()
        if row is None or not row.fingerprint:
            return None
        return BuildRecord(row.fingerprint, row.built_at, row.instance)

    # ------------------------------------------------- builds overtaking builds (tickets)
    #
    # A build takes a ticket before it reads the live set (so a later ticket saw at least as
    # much), asks ``start_build`` before it writes (the newest ticket that began writing is
    # the one allowed to), asks ``build_superseded`` before each file, and records with
    # ``set_build(ticket=…)`` only while no newer one began. Across processes and machines
    # sharing a folder, a slow build of an older live set so never overwrites a newer one.

    def _build_where(self, channel: str, location: str) -> ColumnElement[bool]:
        return and_(builds.c.channel == channel, builds.c.location == location[:300])

    def build_ticket(self, channel: str, location: str, now: datetime) -> int:
        """The next number of a build of ``channel`` at ``location`` (taken before it reads
        the live set: a build with a higher number read the store later)."""
        where = self._build_where(channel, location)
        with self.tx() as conn:
            got = conn.execute(
                update(builds)
                .where(where)
                .values(ticket=builds.c.ticket + 1)
                .returning(builds.c.ticket)
            ).scalar()
            if got is not None:
                return int(got)
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(builds).values(
                            channel=channel,
                            location=location[:300],
                            fingerprint="",
                            built_at=now,
                            instance="",
                            ticket=1,
                        )
                    )
                return 1
            except IntegrityError:  # another instance of the location numbered one first
                got = conn.execute(
                    update(builds)
                    .where(where)
                    .values(ticket=builds.c.ticket + 1)
                    .returning(builds.c.ticket)
                ).scalar()
                assert got is not None  # the row that was in the way
                return int(got)

    def start_build(
        self,
        channel: str,
        location: str,
        ticket: int,
        fingerprint: str,
        instance: str,
        now: datetime,
        *,
        alive: float,
        overtake: bool = False,
    ) -> BuildStart:
        """May build ``ticket`` (of ``fingerprint``) write ``location`` now? Not when a newer
        build already began there; nor when another instance is still at work (it said so
        within ``alive`` seconds) on exactly the same output, unless ``overtake`` (a
        withdrawal, an alert: never wait for anyone). Otherwise it becomes the writer."""
        where = self._build_where(channel, location)
        with self.tx() as conn:
            stmt = select(builds).where(where)
            if self.dialect == "postgresql":
                stmt = stmt.with_for_update()
            row = conn.execute(stmt).first()
            if row is None:  # numbered, then forgotten by hand: write, nobody else is
                return BuildStart(True)
            if row.writing > ticket:
                return BuildStart(False, "a newer build of this folder began")
            at_work = (
                row.writing != ticket
                and row.writing_at is not None
                and row.writing_at > now - timedelta(seconds=alive)
                and row.writing_instance != instance
            )
            if at_work and not overtake and row.writing_fingerprint == fingerprint:
                return BuildStart(False, f"{row.writing_instance} is building the same")
            conn.execute(
                update(builds)
                .where(where)
                .values(
                    writing=ticket,
                    writing_fingerprint=fingerprint,
                    writing_instance=instance[:100],
                    writing_at=now,
                )
            )
            return BuildStart(True, last_writer=row.writing_instance or row.instance)

    def build_superseded(self, channel: str, location: str, ticket: int) -> bool:
        """A newer build than ``ticket`` began writing ``location`` (this one must stop)."""
        with self.read() as conn:
            writing = conn.execute(
                select(builds.c.writing).where(self._build_where(channel, location))
            ).scalar()
        return writing is not None and int(writing) > ticket

    def building(self, channel: str, location: str, ticket: int, now: datetime) -> bool:
        """A long build says it is still at work (others do not take it for dead); False
        when a newer build began meanwhile."""
        with self.tx() as conn:
            res = conn.execute(
                update(builds)
                .where(self._build_where(channel, location), builds.c.writing == ticket)
                .values(writing_at=now)
            )
            return bool(res.rowcount)

    def end_build(self, channel: str, location: str, ticket: int) -> None:
        """Build ``ticket`` stopped without recording (overtaken, failed): not at work."""
        with self.tx() as conn:
            conn.execute(
                update(builds)
                .where(self._build_where(channel, location), builds.c.writing == ticket)
                .values(writing_at=None)
            )

    def set_build(
        self,
        channel: str,
        fingerprint: str,
        now: datetime,
        changed: Sequence[str],
        location: str = "",
        instance: str = "",
        ticket: int | None = None,
    ) -> bool:
        """Record a finished build; with its ``ticket``, only while no newer build of the
        location began (→ False: nothing recorded, the newer one will be)."""
        with self.tx() as conn:
            if ticket is not None and location:
                res = conn.execute(
                    update(builds)
                    .where(self._build_where(channel, location), builds.c.writing == ticket)
                    .values(
                        fingerprint=fingerprint,
                        built_at=now,
                        instance=instance[:100],
                        writing_at=None,
                    )
                )
                if not res.rowcount:
                    return False
                location = ""  # recorded
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
        return True

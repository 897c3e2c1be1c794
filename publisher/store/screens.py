"""Screens (players of the signage slideshow) and the proof-of-play log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update

from publisher.model import Play, Screen
from publisher.store.base import StoreBase
from publisher.store.schema import plays, screens


class ScreenQueries(StoreBase):
    def record_heartbeat(
        self, screen: Screen, shown: Sequence[Play], now: datetime, max_screens: int
    ) -> bool:
        """Note a screen's heartbeat and the slides it showed since the last one; False (and
        nothing written) when it is a new screen beyond ``max_screens``."""
        with self.tx() as conn:
            row = conn.execute(
                select(screens.c.silent_since).where(screens.c.screen == screen.screen)
            ).first()
            values = dict(
                channel=screen.channel,
                profile=screen.profile,
                version=screen.version,
                slide=screen.slide,
                width=screen.width,
                height=screen.height,
                address=screen.address,
                last_seen=now,
                silent_since=None,
            )
            if row is None:
                count = conn.execute(select(func.count()).select_from(screens)).scalar_one()
                if count >= max_screens:
                    return False
                conn.execute(insert(screens).values(screen=screen.screen, first_seen=now, **values))
                self._audit(conn, now, "screen.new", screen=screen.screen, profile=screen.profile)
            else:
                conn.execute(
                    update(screens).where(screens.c.screen == screen.screen).values(**values)
                )
                if row.silent_since is not None:
                    self._audit(conn, now, "screen.back", screen=screen.screen)
            if shown:
                conn.execute(
                    insert(plays),
                    [
                        dict(
                            screen=screen.screen,
                            channel=screen.channel,
                            profile=screen.profile,
                            version=screen.version,
                            notice_id=p.notice_id,
                            page=p.page,
                            shown_at=p.shown_at,
                            seconds=p.seconds,
                        )
                        for p in shown
                    ],
                )
            return True

    def screens(self) -> list[Screen]:
        with self.read() as conn:
            rows = conn.execute(select(screens).order_by(screens.c.screen)).all()
        return [
            Screen(
                r.screen,
                r.channel,
                r.profile,
                r.version,
                r.slide,
                r.width,
                r.height,
                r.address,
                r.first_seen,
                r.last_seen,
                r.silent_since,
            )
            for r in rows
        ]

    def mark_silent(self, screen: str, since: datetime, now: datetime) -> bool:
        """Note that an operator was told ``screen`` went silent (once per silence: False if
        another instance already did)."""
        with self.tx() as conn:
            res = conn.execute(
                update(screens)
                .where(screens.c.screen == screen, screens.c.silent_since.is_(None))
                .values(silent_since=now)
            )
            if res.rowcount:
                self._audit(conn, now, "screen.silent", screen=screen, since=since.isoformat())
            return bool(res.rowcount)

    def forget_screen(self, screen: str, now: datetime, actor: str) -> bool:
        with self.tx() as conn:
            res = conn.execute(delete(screens).where(screens.c.screen == screen))
            if res.rowcount:
                self._audit(conn, now, "screen.forgotten", screen=screen, actor=actor)
            return bool(res.rowcount)

    def plays(
        self, since: datetime, until: datetime, screen: str | None = None
    ) -> list[tuple[str, str, str, str, Play]]:
        """(screen, channel, profile, version, play) shown in [since, until), oldest first."""
        stmt = (
            select(plays)
            .where(plays.c.shown_at >= since, plays.c.shown_at < until)
            .order_by(plays.c.shown_at, plays.c.id)
        )
        if screen is not None:
            stmt = stmt.where(plays.c.screen == screen)
        with self.read() as conn:
            rows = conn.execute(stmt).all()
        return [
            (
                r.screen,
                r.channel,
                r.profile,
                r.version,
                Play(r.notice_id, r.page, r.shown_at, r.seconds),
            )
            for r in rows
        ]

    def prune_plays(self, before: datetime) -> int:
        with self.tx() as conn:
            return int(conn.execute(delete(plays).where(plays.c.shown_at < before)).rowcount)

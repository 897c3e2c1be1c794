"""Robots' rate windows, shared by every instance through the store."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from .base import StoreBase
from .schema import (
    rate_windows,
)

DAY = 86_400.0


class RateLimitQueries(StoreBase):
    def _window(self, conn: Connection, robot: str, horizon: float, ts: float) -> list[float]:
        stmt = select(rate_windows.c.sends).where(rate_windows.c.robot == robot)
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).first()
        if row is None:
            return []
        return sorted(t for t in json.loads(row.sends) if t > ts - horizon)

    def take_token(
        self, robot: str, limits: Sequence[tuple[int, float]], now: datetime
    ) -> datetime | None:
        """Count a send to ``robot`` if every limit (sends per seconds) allows one now.

        None when the send may go; otherwise the time the next one may. The window lives in
        the store, so every instance sharing it keeps one robot within its limits together.
        """
        if not limits:
            return None
        ts = now.timestamp()
        horizon = max(seconds for _, seconds in limits)
        if self.dialect == "postgresql":  # make sure a row exists to lock
            with contextlib.suppress(IntegrityError), self.tx() as conn:
                if (
                    conn.execute(
                        select(rate_windows.c.robot).where(rate_windows.c.robot == robot)
                    ).first()
                    is None
                ):
                    conn.execute(insert(rate_windows).values(robot=robot, sends="[]"))
        with self.tx() as conn:
            sends = self._window(conn, robot, horizon, ts)
            free_at: float | None = None
            for count, seconds in limits:
                recent = [t for t in sends if t > ts - seconds]
                if len(recent) >= count:
                    # the next send may go when the count-th latest leaves the window
                    at = recent[-count] + seconds
                    free_at = at if free_at is None else max(free_at, at)
            if free_at is not None:
                return datetime.fromtimestamp(free_at, UTC)
            sends.append(ts)
            data = json.dumps([round(t, 6) for t in sends])
            res = conn.execute(
                update(rate_windows).where(rate_windows.c.robot == robot).values(sends=data)
            )
            if res.rowcount == 0:
                conn.execute(insert(rate_windows).values(robot=robot, sends=data))
            return None

    def rate_budget(self, robot: str, limits: Sequence[tuple[int, float]], now: datetime) -> int:
        """How many sends ``robot`` may take right now (without taking them)."""
        if not limits:
            return 1_000_000
        ts = now.timestamp()
        with self.tx() as conn:
            sends = self._window(conn, robot, max(s for _, s in limits), ts)
        return max(
            0, min(count - sum(1 for t in sends if t > ts - seconds) for count, seconds in limits)
        )


class StoreQuotas:
    """Daily vendor quotas (``publisher.channel.Quotas``) kept in the rate windows table:
    one row per quota and calendar day in the site's zone, so every instance counts the same
    uses and a new day starts afresh."""

    def __init__(self, store: RateLimitQueries, tz: tzinfo) -> None:
        self.store = store
        self.tz = tz

    def _key(self, key: str, now: datetime) -> str:
        return f"quota:{key}:{now.astimezone(self.tz).date().isoformat()}"

    def take(self, key: str, limit: int, now: datetime) -> bool:
        return self.store.take_token(self._key(key, now), [(limit, 2 * DAY)], now) is None

    def used(self, key: str, limit: int, now: datetime) -> int:
        return limit - self.store.rate_budget(self._key(key, now), [(limit, 2 * DAY)], now)

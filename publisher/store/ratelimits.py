"""Robots' rate windows, shared by every instance through the store.

A window is the list of recent send times of one robot (a row, locked while a send is taken:
``FOR UPDATE`` on PostgreSQL, the write lock of ``BEGIN IMMEDIATE`` on SQLite). Its arithmetic
runs on the database's clock when the caller passes no time, so instances whose clocks
disagree still count one timeline. Why the margin makes the vendor's count hold is in
``RateLimitQueries.take``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from sqlalchemy import Connection, bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from publisher.store.base import StoreBase
from publisher.store.schema import (
    rate_windows,
)

DAY = 86_400.0


@dataclass(frozen=True)
class Taken:
    """A take: ``stamp`` (the send's place in the window) when it may go, else ``free_at``."""

    stamp: float | None
    free_at: datetime | None


# built once: a send reads and writes its robot's window twice, and building and hashing
# the statements each time cost more than running them
_NOW_PG = text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")
_NOW_SQLITE = text("SELECT (julianday('now') - 2440587.5) * 86400.0")
_WINDOW = select(rate_windows.c.sends).where(rate_windows.c.robot == bindparam("b_robot"))
_WINDOW_LOCKED = _WINDOW.with_for_update()
_SAVE = (
    update(rate_windows)
    .where(rate_windows.c.robot == bindparam("b_robot"))
    .values(sends=bindparam("b_sends"))
)


def _row_key(robot: str) -> str:
    return robot if len(robot) <= 64 else "h:" + hashlib.sha256(robot.encode()).hexdigest()[:60]


class RateLimitQueries(StoreBase):
    def db_time(self, conn: Connection) -> float:
        """The database's clock, as Unix seconds (one clock for every instance)."""
        stmt = _NOW_PG if self.dialect == "postgresql" else _NOW_SQLITE
        return float(conn.execute(stmt).scalar_one())

    def _window(self, conn: Connection, robot: str, horizon: float, ts: float) -> list[float]:
        stmt = _WINDOW_LOCKED if self.dialect == "postgresql" else _WINDOW
        row = conn.execute(stmt, {"b_robot": _row_key(robot)}).first()
        if row is None:
            return []
        return sorted(t for t in json.loads(row.sends) if t > ts - horizon)

    def _save(self, conn: Connection, robot: str, sends: list[float]) -> None:
        data = json.dumps([round(t, 6) for t in sends])
        key = _row_key(robot)
        res = conn.execute(_SAVE, {"b_robot": key, "b_sends": data})
        if res.rowcount == 0:
            conn.execute(insert(rate_windows).values(robot=key, sends=data))

    def _ensure_row(self, robot: str) -> None:
        if self.dialect != "postgresql":  # SQLite's write lock covers the insert
            return
        key = _row_key(robot)
        known: set[str] = self.__dict__.setdefault("_window_rows", set())
        if key in known:  # rows are never deleted: once seen, it is there to lock
            return
        with contextlib.suppress(IntegrityError), self.tx() as conn:
            if (
                conn.execute(
                    select(rate_windows.c.robot).where(rate_windows.c.robot == key)
                ).first()
                is None
            ):
                conn.execute(insert(rate_windows).values(robot=key, sends="[]"))
        known.add(key)

    def take(
        self, robot: str, limits: Sequence[tuple[int, float]], now: datetime | None = None
    ) -> Taken:
        """Count a send to ``robot`` if every limit (``count`` sends per ``seconds``) allows
        one now (``now``: the caller's time; None: the database's).

        Why it holds at the vendor: a send is counted at its take (stamp t) and arrives at the
        vendor at most ``m`` later (network, jitter), where each window here is the vendor's
        ``W`` plus that margin ``m``. Suppose ``count + 1`` arrivals fell inside one vendor
        window ``[x, x + W]``: their takes all lie in ``[x - m, x + W]``, so when the last of
        them was taken the others' stamps were within ``W + m`` before it, and it was
        refused. Stamps are moved later (``used``) when a send is known to be done, which only
        narrows what the next take sees.
        """
        if not limits:
            return Taken(0.0, None)
        self._ensure_row(robot)
        with self.tx() as conn:
            return self.take_in(conn, robot, limits, now)

    def take_in(
        self,
        conn: Connection,
        robot: str,
        limits: Sequence[tuple[int, float]],
        now: datetime | None = None,
    ) -> Taken:
        """``take`` inside the caller's transaction (the outbox takes a send and marks its
        delivery in one); on PostgreSQL the caller makes sure the row exists first
        (``_ensure_row``), as ``take`` does."""
        if not limits:
            return Taken(0.0, None)
        horizon = max(seconds for _, seconds in limits)
        # the time is read after the row is locked: takes are ordered as they happen
        every = self._window(conn, robot, float("inf"), 0.0)
        ts = round(self.db_time(conn) if now is None else now.timestamp(), 6)
        sends = [t for t in every if t > ts - horizon]
        free_at: float | None = None
        for count, seconds in limits:
            recent = [t for t in sends if t >= ts - seconds]
            if len(recent) >= count:
                # the next send may go when the count-th latest has left the window
                # (a millisecond after: a send exactly on the edge still counts)
                at = recent[-count] + seconds + 0.001
                free_at = at if free_at is None else max(free_at, at)
        if free_at is not None:
            return Taken(None, datetime.fromtimestamp(free_at, UTC))
        sends.append(ts)
        self._save(conn, robot, sends)
        return Taken(ts, None)

    def take_token(
        self, robot: str, limits: Sequence[tuple[int, float]], now: datetime | None = None
    ) -> datetime | None:
        """None when the send may go (and it is counted); else when the next one may."""
        return self.take(robot, limits, now).free_at

    def used(self, robot: str, stamp: float, now: datetime | None = None) -> None:
        """The send taken at ``stamp`` is done: it stands in the window at the time it ended
        (its arrival at the vendor lies between the two), so a slow request cannot let the
        next sends bunch up behind it."""
        with self.tx() as conn:
            self.used_in(conn, robot, stamp, now)

    def used_in(
        self, conn: Connection, robot: str, stamp: float, now: datetime | None = None
    ) -> None:
        """``used`` inside the caller's transaction (the outbox records an outcome and moves
        its send's stamp in one)."""
        sends = self._window(conn, robot, float("inf"), 0.0)
        if stamp not in sends:
            return  # already out of every window
        ts = round(self.db_time(conn) if now is None else now.timestamp(), 6)
        sends[sends.index(stamp)] = max(stamp, ts)
        self._save(conn, robot, sorted(sends))

    def rate_budget(
        self, robot: str, limits: Sequence[tuple[int, float]], now: datetime | None = None
    ) -> int:
        """How many sends ``robot`` may take right now (without taking them)."""
        if not limits:
            return 1_000_000
        return max(0, min(count - used for used, count, _ in self.window_use(robot, limits, now)))

    def window_use(
        self, robot: str, limits: Sequence[tuple[int, float]], now: datetime | None = None
    ) -> list[tuple[int, int, float]]:
        """Each window of ``robot`` now: (sends in it, sends allowed, seconds)."""
        if not limits:
            return []
        with self.tx() as conn:
            ts = self.db_time(conn) if now is None else now.timestamp()
            sends = self._window(conn, robot, max(s for _, s in limits), ts)
        return [(sum(1 for t in sends if t >= ts - s), c, s) for c, s in limits]


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

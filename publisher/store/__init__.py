"""The store: every query the program makes, in one package (no SQL strings elsewhere).

SQLite (one machine, WAL, ``BEGIN IMMEDIATE``) and PostgreSQL (several instances,
``FOR UPDATE SKIP LOCKED``) differ only in how deliveries are claimed (see ``outbox.py``).
"""

from __future__ import annotations

from .outbox import OutboxQueries
from .rows import (
    ApprovalResult,
    ApprovalRow,
    ChannelStateRow,
    LiveVersion,
    NoticeRow,
    VersionRow,
)
from .timing import TimingQueries
from .versions import VersionQueries


class Store(VersionQueries, OutboxQueries, TimingQueries):
    """All queries of the program, on one SQLAlchemy engine."""


__all__ = [
    "ApprovalResult",
    "ApprovalRow",
    "ChannelStateRow",
    "LiveVersion",
    "NoticeRow",
    "Store",
    "VersionRow",
]

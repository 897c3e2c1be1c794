"""The store: every query the program makes, in one package (no SQL strings elsewhere).

SQLite (one machine, WAL, ``BEGIN IMMEDIATE``) and PostgreSQL (several instances,
``FOR UPDATE SKIP LOCKED``) differ only in how deliveries are claimed (see ``outbox.py``).
"""

from __future__ import annotations

from .accounts import AccountQueries, AccountRow
from .alerts import SignageAlertQueries
from .catalogue import CatalogueQueries, SearchDocRow, SearchHit
from .channels import ChannelQueries
from .metrics import MetricsQueries
from .outbox import OutboxQueries
from .ratelimits import RateLimitQueries
from .rows import (
    ApprovalResult,
    ApprovalRow,
    ChannelStateRow,
    LiveVersion,
    NoticeRow,
    VersionRow,
)
from .screens import ScreenQueries
from .versions import VersionQueries


class Store(
    VersionQueries,
    OutboxQueries,
    ChannelQueries,
    RateLimitQueries,
    SignageAlertQueries,
    MetricsQueries,
    AccountQueries,
    CatalogueQueries,
    ScreenQueries,
):
    """All queries of the program, on one SQLAlchemy engine, one mixin per topic."""


__all__ = [
    "AccountRow",
    "ApprovalResult",
    "ApprovalRow",
    "ChannelStateRow",
    "LiveVersion",
    "NoticeRow",
    "SearchDocRow",
    "SearchHit",
    "Store",
    "VersionRow",
]

"""The store: every query the program makes, in one package (no SQL strings elsewhere).

SQLite (one machine, WAL, ``BEGIN IMMEDIATE``) and PostgreSQL (several instances,
``FOR UPDATE SKIP LOCKED``) differ only in how deliveries are claimed (see ``outbox.py``).
"""

from __future__ import annotations

from publisher.store.accounts import AccountQueries, AccountRow
from publisher.store.alerts import SignageAlertQueries
from publisher.store.catalogue import CatalogueQueries, SearchDocRow, SearchHit
from publisher.store.channels import ChannelQueries
from publisher.store.metrics import MetricsQueries
from publisher.store.outbox import OutboxQueries
from publisher.store.ratelimits import RateLimitQueries
from publisher.store.rows import (
    ApprovalResult,
    ApprovalRow,
    ChannelStateRow,
    LiveVersion,
    NoticeRow,
    VersionRow,
)
from publisher.store.screens import ScreenQueries
from publisher.store.versions import VersionQueries


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

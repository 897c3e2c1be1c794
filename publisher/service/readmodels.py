"""What the front ends show, read from the store: the service's read models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from publisher.delivery.engine import TickReport
from publisher.errors import NoticeError
from publisher.model import Delivery, Notice
from publisher.store import ApprovalRow, NoticeRow, VersionRow
from publisher.store import backup as backups


@dataclass
class SyncReport:
    loaded: int = 0
    new_versions: list[str] = field(default_factory=list)
    errors: list[NoticeError] = field(default_factory=list)
    approved: list[str] = field(default_factory=list)  # by a paper review record
    withdrawn: list[str] = field(default_factory=list)  # by a withdrawal record in items/
    waiting: list[str] = field(default_factory=list)  # notes on notices that wait for review


@dataclass
class ChannelStatus:
    name: str
    type: str
    kind: str
    counts: dict[str, int]
    paused: str = ""
    not_configured: str = ""
    built_at: datetime | None = None
    # a robot's rate windows now: (sends in the window, sends allowed, seconds), and the
    # "too fast" replies its target gave in the last hour and the last day
    windows: list[tuple[int, int, float]] = field(default_factory=list)
    rate_limited_hour: int = 0
    rate_limited_day: int = 0
    quotas: dict[str, tuple[int, int]] = field(default_factory=dict)  # today: (used, allowed)


@dataclass
class NoticeSummary:
    """A notice as lists show it (CLI, console): its current version and where it stands."""

    id: str
    title: str
    publish_at: datetime | None
    state: str  # awaiting review …, approved rN (live, scheduled, expired, file changed), withdrawn
    category: str = ""
    item: int = 0
    approved_publish_at: datetime | None = None  # of the newest approved version
    approved_expires_at: datetime | None = None


@dataclass
class VersionDetail:
    version: VersionRow
    current: bool  # the version the file held when last read
    paper_records: list[dict[str, Any]]
    approvals: list[ApprovalRow]


@dataclass
class NoticeDetail:
    """One notice as `publisher show` (and the console) present it, from the store only."""

    row: NoticeRow
    notice: Notice | None  # its current version, as stored
    channels: list[str]  # where that version is routed
    versions: list[VersionDetail]
    deliveries: list[Delivery]
    history: list[dict[str, Any]]


@dataclass
class PushReport:
    notice_id: str
    sha256: str
    channels: dict[str, str]  # channel → what happened / would happen
    tick: TickReport | None = None


@dataclass
class RestoreReport:
    info: backups.BackupInfo
    kept: Path | None  # the database that was replaced, kept beside it
    withdrawn: list[str]  # withdrawn again by their records in items/
    adopted: int  # sends in the output's ledger the backup did not know of
    approve_again: list[str]  # sent after the backup, their approval lost with it
    owner: str  # a warning when the output was published from another store, else ""

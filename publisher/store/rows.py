"""What the store's queries return: plain rows, no SQLAlchemy objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from publisher.model import Action, Delivery, DeliveryState

OPEN_STATES = (DeliveryState.PENDING, DeliveryState.CLAIMED)


@dataclass(frozen=True)
class NoticeRow:
    id: str
    source: str
    current_sha: str | None
    first_seen_at: datetime
    withdrawn_at: datetime | None
    withdraw_reason: str | None


@dataclass(frozen=True)
class VersionRow:
    sha256: str
    notice_id: str
    canonical: str
    title: str
    publish_at: datetime
    expires_at: datetime | None
    seen_at: datetime
    approved_at: datetime | None
    revision: int | None
    index_no: str = ""  # the notice's 索引号, where the query asked for it


@dataclass(frozen=True)
class ApprovalRow:
    reviewer: str
    opinion: str
    form_no: str
    reviewed_on: str | None
    source: str
    allowances: list[dict[str, str]]
    approved_at: datetime
    ran_by: str = ""  # the OS account (CLI) or file (paper record) behind the sign-off


@dataclass(frozen=True)
class ApprovalResult:
    signoffs: int
    required: int
    approved_now: bool  # this sign-off completed the approval
    deliveries: list[int]


@dataclass(frozen=True)
class ChannelStateRow:
    channel: str
    paused_at: datetime | None
    paused_until: datetime | None
    pause_reason: str
    build_fingerprint: str | None
    built_at: datetime | None

    def paused(self, now: datetime) -> bool:
        return self.paused_at is not None and (self.paused_until is None or self.paused_until > now)


@dataclass(frozen=True)
class LiveVersion:
    version: VersionRow
    previous_sha: str | None


def _delivery(row: Any) -> Delivery:
    return Delivery(
        row.id,
        row.notice_id,
        row.sha256,
        row.channel,
        Action(row.action),
        DeliveryState(row.state),
        row.due_at,
        row.attempts,
        row.next_attempt_at,
        row.last_error,
        row.parts_sent,
        row.unknowns,
        row.ref,
        row.pending_ref,
    )


def _version(row: Any) -> VersionRow:
    return VersionRow(
        row.sha256,
        row.notice_id,
        row.canonical,
        row.title,
        row.publish_at,
        row.expires_at,
        row.seen_at,
        row.approved_at,
        row.revision,
        row._mapping.get("index_no") or "",
    )

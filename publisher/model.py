"""Plain data shared by the core and the channels. Imports nothing of ours."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from markdown_it.token import Token


class Clock(Protocol):
    """Where every part of the program gets the time (tests move a manual one)."""

    def now(self) -> datetime: ...


# ---------------------------------------------------------------------------- notices


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class Attachment:
    title: str
    href: str  # a URL, or a path relative to the notice file's folder
    media_type: str = ""
    size: int | None = None
    sha256: str = ""  # local files only: their bytes are part of the approved version
    # the bytes read (once) when the notice file was loaded: the ones hashed, scanned and
    # stored; None for URLs and for notices rebuilt from the store
    data: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def is_local(self) -> bool:
        return not self.href.startswith(("http://", "https://"))

    @property
    def filename(self) -> str:
        return self.href.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class PaperReview:
    """A review made on paper and copied into the notice's front matter: evidence, which signs
    only where the site opts in (``review.paper_records: approve``), and never past a finding.
    """

    reviewers: tuple[str, ...]
    date: date
    opinion: str
    form_no: str
    version: str  # the sha256 (or a prefix of at least 8 hex digits) the paper form approved


@dataclass(frozen=True)
class Notice:
    """One notice (公开事项) as its file says, after validation."""

    id: str
    title: str
    category: str  # catalogue slug, e.g. "zsks"
    item: int  # 清单 item number
    department: str
    summary: str
    body: str
    publish_at: datetime
    expires_at: datetime | None = None
    contact: str = ""
    url: str = ""  # the notice's page on the school's own portal, if any
    links: tuple[Link, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    channels: tuple[str, ...] | None = None  # per-notice route override
    tags: tuple[str, ...] = ()
    source: str = ""  # file path, for messages only (not part of the content hash)
    paper_review: PaperReview | None = None  # not part of the content hash
    # 生成日期: the date the document was signed or produced; the 20-working-day clock of the
    # 清单 starts here (optional: without it the clock cannot be checked)
    issued_on: date | None = None
    doc_no: str = ""  # 文号, e.g. 南山大发〔2026〕12号 (optional)
    # on campus screens only within this window (inside the live time), and pinned first
    screens_from: datetime | None = None
    screens_until: datetime | None = None
    screens_priority: str = ""  # "pinned" or "" (normal)
    lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class SentRef:
    """What a target answered when it took one notice version (a WeCom app's msgid, a 公众号
    publish's ids), and when; ``pending`` when it had accepted the message but not finished
    (a 公众号 publish still under way when the notice was withdrawn)."""

    ref: str
    at: datetime
    pending: bool = False


@dataclass(frozen=True)
class PublishedNotice:
    """What a channel is handed: an approved version, exactly as approved, plus derived views."""

    notice: Notice
    sha256: str
    url: str  # where the full text can be read
    html: str  # the body rendered from Markdown (safe HTML)
    approved_at: datetime
    revision: int  # 1 for the first approved version of this notice
    category_name: str
    item_text: str
    previous_sha256: str | None = None
    index_no: str = ""  # 索引号, given once at the notice's first approval
    # set for a withdrawal's announcement: when and why (what it says instead of the text)
    withdrawn_at: datetime | None = None
    withdraw_reason: str = ""
    # set for a withdrawal's announcement: what this channel's target said when it took the
    # notice (message ids, an article's id), so the withdrawal can take it back
    sent: tuple[SentRef, ...] = ()
    # the body's Markdown tokens, parsed once for every channel (empty: parse the body)
    tokens: tuple[Token, ...] = field(default=(), compare=False, repr=False)

    @property
    def id(self) -> str:
        return self.notice.id

    @property
    def is_revision(self) -> bool:
        return self.revision > 1

    @property
    def updated_at(self) -> datetime:
        """The time readers should see as 'updated': the approval of this version."""
        return max(self.approved_at, self.notice.publish_at)


@dataclass(frozen=True)
class Alert:
    """An emergency message for screens (`publisher signage alert`), in front of everything
    until it ends or is cleared."""

    id: int
    text: str
    starts: datetime
    until: datetime
    profiles: tuple[str, ...] = ()  # empty: every screen


@dataclass(frozen=True)
class ChecklistItem:
    """One 清单 item as channels see it (the catalogue, without its parsing)."""

    no: int
    category: str  # slug
    category_label: str  # 二、招生考试信息
    text: str


@dataclass(frozen=True)
class SiteInfo:
    name: str
    school_name: str
    base_url: str
    timezone: ZoneInfo
    language: str = "zh-CN"


# ---------------------------------------------------------------------------- review


class Severity(enum.StrEnum):
    BLOCK = "block"
    WARN = "warn"


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    field: str = "body"
    line: int | None = None
    column: int | None = None
    excerpt: str = ""  # already masked where it shows personal data

    def position(self) -> str:
        if self.line is None:
            return self.field
        return f"{self.field} {self.line}:{self.column or 1}"


# ---------------------------------------------------------------------------- delivery


class OutcomeKind(enum.StrEnum):
    SENT = "sent"
    PENDING = "pending"  # accepted, not finished (a 公众号 publish): look again after `after`
    RETRY = "retry"
    UNKNOWN = "unknown"
    FAILED = "failed"
    DISABLED = "disabled"


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to; see DESIGN.md 'Outcomes of one delivery attempt'."""

    kind: OutcomeKind
    reason: str = ""
    after: float | None = None  # seconds the target asked us to wait (RETRY) or pause (DISABLED)
    # what the target said it did (a message id, an article's ids): kept with the delivery so
    # that a withdrawal can take the message back; for PENDING, what to look at next time
    ref: str = ""
    # RETRY only: False when the wait is no fault of this message (a daily quota used up),
    # so waiting days for the quota does not use up the delivery's attempts
    counted: bool = True
    # RETRY only: the target said "too fast" (a rate-limit reply: 45009, 130101, 9499, 429),
    # which the windows should have prevented; counted, shown, and told to a person
    limited: bool = False

    @classmethod
    def sent(cls, reason: str = "", ref: str = "") -> Outcome:
        return cls(OutcomeKind.SENT, reason, ref=ref)

    @classmethod
    def pending(cls, ref: str, reason: str, after: float) -> Outcome:
        return cls(OutcomeKind.PENDING, reason, after, ref=ref)

    @classmethod
    def retry(
        cls, reason: str, after: float | None = None, counted: bool = True, limited: bool = False
    ) -> Outcome:
        return cls(OutcomeKind.RETRY, reason, after, counted=counted, limited=limited)

    @classmethod
    def unknown(cls, reason: str) -> Outcome:
        return cls(OutcomeKind.UNKNOWN, reason)

    @classmethod
    def failed(cls, reason: str) -> Outcome:
        return cls(OutcomeKind.FAILED, reason)

    @classmethod
    def disabled(cls, reason: str, after: float | None = None) -> Outcome:
        return cls(OutcomeKind.DISABLED, reason, after)


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # waiting for publish_at or its next attempt
    CLAIMED = "claimed"  # a worker holds it until lease_until
    SENT = "sent"
    FAILED = "failed"  # the content cannot go as is; needs a person
    UNKNOWN = "unknown"  # may have arrived; held for a person (on_unknown: hold)
    DEAD = "dead"  # attempts used up; `publisher retry` requeues
    SUPERSEDED = "superseded"  # a newer approved version replaced it before it went out
    CANCELLED = "cancelled"  # withdrawn before it went out


class Action(enum.StrEnum):
    PUBLISH = "publish"
    WITHDRAW = "withdraw"


@dataclass(frozen=True)
class Delivery:
    id: int
    notice_id: str
    sha256: str
    channel: str
    action: Action
    state: DeliveryState
    due_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str = ""
    parts_sent: int = 0  # parts of a multi-part message already accepted by the target
    unknowns: int = 0  # attempts whose outcome was unknown (timeout after sending)
    # what the target answered for the parts sent (one line each); see Outcome.ref
    ref: str = ""
    # an accepted message not yet finished (Outcome.pending): the channel looks at it again
    pending_ref: str = ""

    @property
    def link(self) -> str:
        """Where the target shows what was sent, when it said (a 公众号 article's URL)."""
        for line in self.ref.splitlines():
            if line.startswith("{"):
                try:
                    url = json.loads(line).get("url", "")
                except (ValueError, AttributeError):
                    continue
                if isinstance(url, str) and url.startswith(("https://", "http://")):
                    return url
        return ""


@dataclass(frozen=True)
class Play:
    """One slide a screen showed (proof of play): which notice, which page, when, how long."""

    notice_id: str
    page: int
    shown_at: datetime
    seconds: float


@dataclass(frozen=True)
class Screen:
    """A player of the signage slideshow, as its last heartbeat left it."""

    screen: str  # the player's own name (?screen=lobby-1) or the one it made up
    channel: str
    profile: str
    version: str  # the bundle version it plays
    slide: str  # notice id:page on screen at the heartbeat
    width: int
    height: int
    address: str
    first_seen: datetime
    last_seen: datetime
    silent_since: datetime | None = None  # an operator was told it went silent


@dataclass(frozen=True)
class Tombstone:
    """A notice withdrawn after it was published: its page says 已撤回, when and why (not
    its title: whatever made it be withdrawn may be in the title too)."""

    notice_id: str
    withdrawn_at: datetime
    reason: str

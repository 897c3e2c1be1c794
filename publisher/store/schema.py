"""Tables of the store (SQLAlchemy Core). Migrations in ``migrations/`` create exactly these;
a test compares the two so they cannot drift apart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware (UTC) datetimes out, on SQLite and PostgreSQL alike.

    SQLite has no zone-aware type: values are stored as naive UTC text in one fixed format, so
    comparisons in SQL (due_at <= now) are correct string comparisons.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"the store only takes zone-aware datetimes, got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only

notices = Table(
    "notices",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("source", Text, nullable=False, server_default=""),
    Column("current_sha", String(64), nullable=True),  # newest version seen in the file
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("withdrawn_at", UTCDateTime, nullable=True),
    Column("withdraw_reason", Text, nullable=True),
    # covers the "not withdrawn" test of a search without reading ``source``
    Index("ix_notices_withdrawn", "id", "withdrawn_at"),
)

versions = Table(
    "versions",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("notice_id", String(100), ForeignKey("notices.id"), nullable=False, index=True),
    Column("canonical", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("category", String(32), nullable=False),
    Column("item", Integer, nullable=False),
    Column("publish_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("seen_at", UTCDateTime, nullable=False),
    Column("approved_at", UTCDateTime, nullable=True),  # set when the sign-offs are complete
    Column("revision", Integer, nullable=True),  # 1, 2, … in order of approval
)

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
)

reviews = Table(
    "reviews",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("notice_id", String(100), nullable=False, index=True),
    Column("sha256", String(64), ForeignKey("versions.sha256"), nullable=False),
    Column("reviewed_at", UTCDateTime, nullable=False),
    Column("findings", Text, nullable=False),  # JSON list
    Column("blocking", Integer, nullable=False),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("notice_id", String(100), nullable=False, index=True),
    Column("sha256", String(64), ForeignKey("versions.sha256"), nullable=False),
    Column("reviewer", Text, nullable=False),
    Column("opinion", Text, nullable=False, server_default=""),
    Column("form_no", Text, nullable=False, server_default=""),
    Column("reviewed_on", String(10), nullable=True),  # the date on a paper form
    Column("source", String(16), nullable=False),  # cli | paper
    Column("allowances", Text, nullable=False, server_default="[]"),  # JSON [{rule, reason}]
    Column("approved_at", UTCDateTime, nullable=False),
    # who ran the approval: the OS account for the CLI, "file:<path>" for an accepted paper
    # record; the reviewer column is the identity that signed
    Column("ran_by", Text, nullable=False, server_default=""),
    UniqueConstraint("sha256", "reviewer"),
)

# paper review records found in notice files: evidence attached to the version they name, shown
# to reviewers; they approve nothing unless review.paper_records is "approve"
paper_records = Table(
    "paper_records",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("notice_id", String(100), nullable=False, index=True),
    Column("sha256", String(64), ForeignKey("versions.sha256"), nullable=False),
    Column("reviewers", Text, nullable=False),  # JSON list of names as written
    Column("reviewed_on", String(10), nullable=False),
    Column("opinion", Text, nullable=False, server_default=""),
    Column("form_no", Text, nullable=False, server_default=""),
    Column("source", Text, nullable=False),  # the notice file
    Column("recorded_at", UTCDateTime, nullable=False),
    UniqueConstraint("sha256", "form_no", "reviewed_on"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("notice_id", String(100), nullable=False, index=True),
    Column("sha256", String(64), ForeignKey("versions.sha256"), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("parts_sent", Integer, nullable=False, server_default="0"),
    Column("unknowns", Integer, nullable=False, server_default="0"),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("claimed_by", String(100), nullable=True),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    # a send that began and was never recorded (the worker died) may have arrived: counted
    Column("send_started_at", UTCDateTime, nullable=True),
    Column("interrupted", Integer, nullable=False, server_default="0"),
    # what the target answered (message ids, one line per part), and an accepted message
    # still under way (a 公众号 publish being checked): see Outcome.ref
    Column("ref", Text, nullable=False, server_default=""),
    Column("pending_ref", Text, nullable=False, server_default=""),
    UniqueConstraint("sha256", "channel", "action"),
    Index("ix_deliveries_claim", "channel", "state", "next_attempt_at"),
)

channel_state = Table(
    "channel_state",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("paused_at", UTCDateTime, nullable=True),
    Column("paused_until", UTCDateTime, nullable=True),  # NULL with paused_at set: until resumed
    Column("pause_reason", Text, nullable=False, server_default=""),
    Column("build_fingerprint", String(64), nullable=True),
    Column("built_at", UTCDateTime, nullable=True),
)

# what each output location last built, per state channel: every instance that serves keeps
# its own folder current (location = machine + folder), or one record for a shared folder.
# Builds of a location are numbered (``ticket``, taken before the build reads what it is made
# of, so a later ticket read later); ``writing`` is the ticket of the newest build that began
# writing there: an older one stops and never records (a slow build of an older live set never
# overwrites a newer one, across processes). ``writing_at`` says it is still at work (NULL once
# it ended), ``writing_instance`` who it is (the last instance that wrote the folder).
builds = Table(
    "builds",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("location", String(300), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # "" while nothing complete is recorded
    Column("built_at", UTCDateTime, nullable=False),
    Column("instance", String(100), nullable=False),
    Column("ticket", BigInteger, nullable=False, server_default="0"),
    Column("writing", BigInteger, nullable=False, server_default="0"),
    Column("writing_fingerprint", String(64), nullable=False, server_default=""),
    Column("writing_instance", String(100), nullable=False, server_default=""),
    Column("writing_at", UTCDateTime, nullable=True),
)

rate_windows = Table(
    "rate_windows",
    metadata,
    Column("robot", String(64), primary_key=True),  # sha256 of the robot's URL, not the URL
    Column("sends", Text, nullable=False, server_default="[]"),  # JSON: recent send times, epoch
)

signage_alerts = Table(
    "signage_alerts",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("text", Text, nullable=False),
    Column("starts", UTCDateTime, nullable=False),
    Column("until", UTCDateTime, nullable=False),
    Column("profiles", Text, nullable=False, server_default="[]"),  # JSON; empty: every screen
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", Text, nullable=False, server_default=""),
    Column("cleared_at", UTCDateTime, nullable=True),
    Column("cleared_by", Text, nullable=True),
)


# players of the signage slideshow: the last heartbeat of each screen, and what it showed
screens = Table(
    "screens",
    metadata,
    Column("screen", String(64), primary_key=True),
    Column("channel", String(100), nullable=False),
    Column("profile", String(100), nullable=False),
    Column("version", String(32), nullable=False, server_default=""),
    Column("slide", String(200), nullable=False, server_default=""),
    Column("width", Integer, nullable=False, server_default="0"),
    Column("height", Integer, nullable=False, server_default="0"),
    Column("address", String(64), nullable=False, server_default=""),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("silent_since", UTCDateTime, nullable=True),  # an operator was told at this time
)

plays = Table(
    "plays",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("screen", String(64), nullable=False),
    Column("channel", String(100), nullable=False),
    Column("profile", String(100), nullable=False),
    Column("version", String(32), nullable=False),
    Column("notice_id", String(100), nullable=False),
    Column("page", Integer, nullable=False),
    Column("shown_at", UTCDateTime, nullable=False),
    Column("seconds", Float, nullable=False, server_default="0"),
    Index("ix_plays_shown_at", "shown_at"),
    Index("ix_plays_screen_shown", "screen", "shown_at"),
)


def delivery_key(sha256: str, channel: str, action: str) -> ColumnElement[bool]:
    """The one delivery a (version, channel, action) can have (the unique constraint)."""
    return and_(
        deliveries.c.sha256 == sha256,
        deliveries.c.channel == channel,
        deliveries.c.action == action,
    )


def delivery_row(
    notice_id: str, sha256: str, channel: str, action: str, due: datetime, now: datetime
) -> dict[str, Any]:
    """The values of a new delivery, due at ``due`` (the caller may change the state)."""
    return dict(
        notice_id=notice_id,
        sha256=sha256,
        channel=channel,
        action=action,
        state="pending",
        due_at=due,
        next_attempt_at=due,
        attempts=0,
        created_at=now,
        updated_at=now,
    )


ticks = Table(
    "ticks",
    metadata,
    Column("schedule", String(100), primary_key=True),
    Column("fire_time", UTCDateTime, primary_key=True),
    Column("instance", String(100), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("event", String(32), nullable=False),
    Column("notice_id", String(100), nullable=True, index=True),
    Column("sha256", String(64), nullable=True),
    Column("channel", String(64), nullable=True),
    Column("delivery_id", BigInteger, nullable=True),
    Column("actor", Text, nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default="{}"),  # JSON
)

# facts about the database itself; "store_id" names this database, so an output folder
# written from it can tell a restored backup (same id) from a new, empty database
store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# console accounts: who may do what in the browser (roles: see publisher/accounts.py)
accounts = Table(
    "accounts",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("roles", Text, nullable=False),  # comma-separated
    Column("password_hash", Text, nullable=False),  # argon2id, never the password
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime, nullable=True),
)

# failed console logins, for rate limiting by account and by client address
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("account", String(100), nullable=False, index=True),
    Column("client", String(100), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False, index=True),
)

# 索引号: one per notice, given at its first approval and never changed. A serial counts up
# within a scope (what the pattern says without the serial: organisation, category, year);
# taking it is one atomic upsert, so concurrent approvals on PostgreSQL never share a number.
index_numbers = Table(
    "index_numbers",
    metadata,
    Column("notice_id", String(100), ForeignKey("notices.id"), primary_key=True),
    Column("index_no", String(100), nullable=False, unique=True),
    Column("scope", String(100), nullable=False),
    Column("serial", Integer, nullable=False),
    Column("assigned_at", UTCDateTime, nullable=False),
    UniqueConstraint("scope", "serial"),
)

index_counters = Table(
    "index_counters",
    metadata,
    Column("scope", String(100), primary_key=True),
    Column("last", Integer, nullable=False),
)

# the search index: one row per approved, not withdrawn notice, for its newest approved version.
# ``tokens`` is its visible text cut into words (Chinese has no spaces between words); SQLite
# searches it through an FTS5 table (search_fts, created by the migrations, its rowid is
# ``doc_id``), PostgreSQL through a GIN index on array_to_tsvector(string_to_array(tokens, ' ')).
# ix_search_docs_visible lets a search that matches most notices rank, filter and count them
# without reading the wide rows.
search_docs = Table(
    "search_docs",
    metadata,
    Column("notice_id", String(100), ForeignKey("notices.id"), primary_key=True),
    Column("doc_id", Integer, nullable=True, unique=True),  # SQLite only
    Column("sha256", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("department", Text, nullable=False),
    Column("category", String(32), nullable=False),
    Column("item", Integer, nullable=False),
    Column("publish_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("url", Text, nullable=False),
    Column("text", Text, nullable=False),  # what readers see, for snippets
    Column("tokens", Text, nullable=False),
    Index("ix_search_docs_visible", "doc_id", "publish_at", "expires_at", "notice_id"),
    Index("ix_search_docs_publish_at", "publish_at"),
    Index("ix_search_docs_expires_at", "expires_at"),
)

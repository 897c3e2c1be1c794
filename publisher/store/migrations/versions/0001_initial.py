"""initial schema: notices, versions, blobs, reviews, approvals, deliveries, channel state,
ticks and the append-only audit log

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import ID, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("source", sa.Text, nullable=False, server_default=""),
        sa.Column("current_sha", sa.String(64), nullable=True),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("withdrawn_at", UTCDateTime, nullable=True),
        sa.Column("withdraw_reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notices"),
    )
    op.create_table(
        "versions",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("notice_id", sa.String(100), nullable=False),
        sa.Column("canonical", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("item", sa.Integer, nullable=False),
        sa.Column("publish_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("seen_at", UTCDateTime, nullable=False),
        sa.Column("approved_at", UTCDateTime, nullable=True),
        sa.Column("revision", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("sha256", name="pk_versions"),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name="fk_versions_notice_id_notices"
        ),
    )
    op.create_index("ix_versions_notice_id", "versions", ["notice_id"])
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_blobs"),
    )
    op.create_table(
        "reviews",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("notice_id", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("reviewed_at", UTCDateTime, nullable=False),
        sa.Column("findings", sa.Text, nullable=False),
        sa.Column("blocking", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reviews"),
        sa.ForeignKeyConstraint(["sha256"], ["versions.sha256"], name="fk_reviews_sha256_versions"),
    )
    op.create_index("ix_reviews_notice_id", "reviews", ["notice_id"])
    op.create_table(
        "approvals",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("notice_id", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("reviewer", sa.Text, nullable=False),
        sa.Column("opinion", sa.Text, nullable=False, server_default=""),
        sa.Column("form_no", sa.Text, nullable=False, server_default=""),
        sa.Column("reviewed_on", sa.String(10), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("allowances", sa.Text, nullable=False, server_default="[]"),
        sa.Column("approved_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        sa.ForeignKeyConstraint(
            ["sha256"], ["versions.sha256"], name="fk_approvals_sha256_versions"
        ),
        sa.UniqueConstraint("sha256", "reviewer", name="uq_approvals_sha256_reviewer"),
    )
    op.create_index("ix_approvals_notice_id", "approvals", ["notice_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("notice_id", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("parts_sent", sa.Integer, nullable=False, server_default="0"),
        sa.Column("unknowns", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_until", UTCDateTime, nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["sha256"], ["versions.sha256"], name="fk_deliveries_sha256_versions"
        ),
        sa.UniqueConstraint(
            "sha256", "channel", "action", name="uq_deliveries_sha256_channel_action"
        ),
    )
    op.create_index("ix_deliveries_notice_id", "deliveries", ["notice_id"])
    op.create_index("ix_deliveries_claim", "deliveries", ["channel", "state", "next_attempt_at"])
    op.create_table(
        "channel_state",
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("paused_at", UTCDateTime, nullable=True),
        sa.Column("paused_until", UTCDateTime, nullable=True),
        sa.Column("pause_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("build_fingerprint", sa.String(64), nullable=True),
        sa.Column("built_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("channel", name="pk_channel_state"),
    )
    op.create_table(
        "ticks",
        sa.Column("schedule", sa.String(100), nullable=False),
        sa.Column("fire_time", UTCDateTime, nullable=False),
        sa.Column("instance", sa.String(100), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("schedule", "fire_time", name="pk_ticks"),
    )
    op.create_table(
        "audit",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("notice_id", sa.String(100), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("delivery_id", sa.BigInteger, nullable=True),
        sa.Column("actor", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_notice_id", "audit", ["notice_id"])

    # The audit log is append-only: the database itself refuses edits and deletions.
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_no_{verb.lower()} BEFORE {verb} ON audit "
                "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_append_only ON audit")
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
    for table in (
        "audit",
        "ticks",
        "channel_state",
        "deliveries",
        "approvals",
        "reviews",
        "blobs",
        "versions",
        "notices",
    ):
        op.drop_table(table)

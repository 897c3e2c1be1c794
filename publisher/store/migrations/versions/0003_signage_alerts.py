"""signage alerts: emergency messages in front of everything on chosen screens

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import ID, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signage_alerts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("starts", UTCDateTime, nullable=False),
        sa.Column("until", UTCDateTime, nullable=False),
        sa.Column("profiles", sa.Text, nullable=False, server_default="[]"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False, server_default=""),
        sa.Column("cleared_at", UTCDateTime, nullable=True),
        sa.Column("cleared_by", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_signage_alerts"),
    )


def downgrade() -> None:
    op.drop_table("signage_alerts")

"""builds: what each output location last built, per state channel (instances with folders
of their own each keep theirs current; the fingerprint in channel_state was shared, so an
instance that had not claimed a delivery thought its folder already built)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "builds",
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("location", sa.String(300), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("built_at", UTCDateTime, nullable=False),
        sa.Column("instance", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("channel", "location", name="pk_builds"),
    )


def downgrade() -> None:
    op.drop_table("builds")

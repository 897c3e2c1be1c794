"""screens and plays: the slideshow players' heartbeats and the proof-of-play log

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import ID, UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "screens",
        sa.Column("screen", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("profile", sa.String(100), nullable=False),
        sa.Column("version", sa.String(32), nullable=False, server_default=""),
        sa.Column("slide", sa.String(200), nullable=False, server_default=""),
        sa.Column("width", sa.Integer, nullable=False, server_default="0"),
        sa.Column("height", sa.Integer, nullable=False, server_default="0"),
        sa.Column("address", sa.String(64), nullable=False, server_default=""),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("silent_since", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("screen", name="pk_screens"),
    )
    op.create_table(
        "plays",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("screen", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("profile", sa.String(100), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("notice_id", sa.String(100), nullable=False),
        sa.Column("page", sa.Integer, nullable=False),
        sa.Column("shown_at", UTCDateTime, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_plays"),
    )
    op.create_index("ix_plays_shown_at", "plays", ["shown_at"])
    op.create_index("ix_plays_screen_shown", "plays", ["screen", "shown_at"])


def downgrade() -> None:
    op.drop_table("plays")
    op.drop_table("screens")

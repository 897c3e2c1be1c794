"""rate windows: the recent sends of each robot, shared by every instance

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("robot", sa.String(64), nullable=False),
        sa.Column("sends", sa.Text, nullable=False, server_default="[]"),
        sa.PrimaryKeyConstraint("robot", name="pk_rate_windows"),
    )


def downgrade() -> None:
    op.drop_table("rate_windows")

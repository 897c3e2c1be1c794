"""send marks: when a send to a message channel began, and how often one was interrupted

A delivery whose send began but whose outcome was never recorded (the worker died in between)
may have reached its target; the engine counts such cases.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("send_started_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("interrupted", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("interrupted")
        batch.drop_column("send_started_at")

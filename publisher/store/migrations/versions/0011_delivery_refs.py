"""deliveries.ref and deliveries.pending_ref: what a target answered when it took a message
(a WeCom app's msgid, a 公众号 article's ids), so that a withdrawal can take it back, and an
accepted message still under way (a 公众号 publish being checked)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("ref", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("pending_ref", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("pending_ref")
        batch.drop_column("ref")

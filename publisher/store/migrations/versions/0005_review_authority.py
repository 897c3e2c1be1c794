"""review authority: who ran each approval; paper review records kept as evidence

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import ID, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("ran_by", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "paper_records",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("notice_id", sa.String(100), nullable=False, index=True),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("versions.sha256"), nullable=False),
        sa.Column("reviewers", sa.Text, nullable=False),
        sa.Column("reviewed_on", sa.String(10), nullable=False),
        sa.Column("opinion", sa.Text, nullable=False, server_default=""),
        sa.Column("form_no", sa.Text, nullable=False, server_default=""),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("sha256", "form_no", "reviewed_on"),
    )


def downgrade() -> None:
    op.drop_table("paper_records")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("ran_by")

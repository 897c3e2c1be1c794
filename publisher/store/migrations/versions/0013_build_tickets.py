"""builds.ticket and builds.writing…: builds of an output location are numbered before they read
what they are made of, and the newest one that began writing is noted, so that a slow build of
an older live set stops instead of overwriting a newer one (another process's withdrawal)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("builds") as batch:
        batch.add_column(sa.Column("ticket", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("writing", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("writing_fingerprint", sa.String(64), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("writing_instance", sa.String(100), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("writing_at", UTCDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("builds") as batch:
        batch.drop_column("writing_at")
        batch.drop_column("writing_instance")
        batch.drop_column("writing_fingerprint")
        batch.drop_column("writing")
        batch.drop_column("ticket")

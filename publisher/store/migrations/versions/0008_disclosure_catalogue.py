"""索引号 (index numbers and their counters) and the full-text search index

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "index_numbers",
        sa.Column("notice_id", sa.String(100), sa.ForeignKey("notices.id"), primary_key=True),
        sa.Column("index_no", sa.String(100), nullable=False, unique=True),
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("serial", sa.Integer, nullable=False),
        sa.Column("assigned_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("scope", "serial"),
    )
    op.create_table(
        "index_counters",
        sa.Column("scope", sa.String(100), primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )
    op.create_table(
        "search_docs",
        sa.Column("notice_id", sa.String(100), sa.ForeignKey("notices.id"), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("department", sa.Text, nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("item", sa.Integer, nullable=False),
        sa.Column("publish_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("tokens", sa.Text, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        # words are cut before they get here (space-separated); unicode61 then only splits on
        # the spaces and folds case
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "notice_id UNINDEXED, tokens, tokenize = 'unicode61 remove_diacritics 0')"
        )
    else:
        op.execute(
            "CREATE INDEX ix_search_docs_tsv ON search_docs "
            "USING gin (array_to_tsvector(string_to_array(tokens, ' ')))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE search_fts")
    op.drop_table("search_docs")
    op.drop_table("index_counters")
    op.drop_table("index_numbers")

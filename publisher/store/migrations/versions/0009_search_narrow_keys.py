"""Search that stays fast when a word is in every notice: an integer key per search document
(the FTS5 rowid on SQLite, so ranking never reads the stored text) and covering indexes for
the visibility test (publish and expiry times, withdrawal).

The search tables hold only what ``Publisher.index_catalogue`` derives from the store, so they
are dropped and made again; the next pass refills them.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from publisher.store.schema import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _drop_search(sqlite: bool) -> None:
    if sqlite:
        op.execute("DROP TABLE search_fts")
    else:
        op.execute("DROP INDEX ix_search_docs_tsv")
    op.drop_table("search_docs")


def _search_docs(*extra: sa.Column) -> None:  # type: ignore[type-arg]
    op.create_table(
        "search_docs",
        sa.Column("notice_id", sa.String(100), sa.ForeignKey("notices.id"), primary_key=True),
        *extra,
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


def _gin() -> None:
    op.execute(
        "CREATE INDEX ix_search_docs_tsv ON search_docs "
        "USING gin (array_to_tsvector(string_to_array(tokens, ' ')))"
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _drop_search(sqlite)
    _search_docs(sa.Column("doc_id", sa.Integer, nullable=True, unique=True))
    op.create_index(
        "ix_search_docs_visible",
        "search_docs",
        ["doc_id", "publish_at", "expires_at", "notice_id"],
    )
    # the few documents readers cannot see, found without a scan (SQLite's count)
    op.create_index("ix_search_docs_publish_at", "search_docs", ["publish_at"])
    op.create_index("ix_search_docs_expires_at", "search_docs", ["expires_at"])
    op.create_index("ix_notices_withdrawn", "notices", ["id", "withdrawn_at"])
    if sqlite:
        # rowid = search_docs.doc_id; words are cut before they get here (space-separated),
        # unicode61 only splits on the spaces and folds case
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "tokens, tokenize = 'unicode61 remove_diacritics 0')"
        )
    else:
        _gin()


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index("ix_notices_withdrawn", "notices")
    _drop_search(sqlite)
    _search_docs()
    if sqlite:
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "notice_id UNINDEXED, tokens, tokenize = 'unicode61 remove_diacritics 0')"
        )
    else:
        _gin()

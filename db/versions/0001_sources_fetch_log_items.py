"""sources, fetch log and items

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("url", sa.String(2000), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("follow_comments", sa.Boolean(), nullable=False),
        sa.Column("parent_url", sa.String(2000)),
        sa.Column("etag", sa.String(500)),
        sa.Column("last_modified", sa.String(100)),
        sa.Column("last_status", sa.Text()),
        sa.Column("last_fetched_at", TZ),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "fetch_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer(),
            sa.ForeignKey("sources.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("items_new", sa.Integer(), nullable=False),
        sa.Column("items_duplicate", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("warning", sa.Text()),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer(),
            sa.ForeignKey("sources.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("guid", sa.String(2000), nullable=False),
        sa.Column("url", sa.String(2000), unique=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(500)),
        sa.Column("published_at", TZ, index=True),
        sa.Column("fetched_at", TZ, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column(
            "parent_item_id",
            sa.Integer(),
            sa.ForeignKey("items.id", ondelete="SET NULL"),
            index=True,
        ),
        sa.Column("parent_url", sa.String(2000), index=True),
        sa.Column("comments_url", sa.String(2000)),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("language", sa.String(16)),
        sa.Column("language_confidence", sa.Float()),
        sa.UniqueConstraint("source_id", "guid", name="uq_items_source_guid"),
    )


def downgrade() -> None:
    op.drop_table("items")
    op.drop_table("fetch_log")
    op.drop_table("sources")

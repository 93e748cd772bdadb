"""indexes for the dashboard and HTTP API: items newest first, overall and per source

Revision ID: 0009
Revises: 0005
Create Date: 2026-11-25
"""

from alembic import op

revision = "0009"
down_revision = "0005"
branch_labels = None
depends_on = None

ITEM_TIME = "coalesce(published_at, fetched_at)"


def upgrade() -> None:
    op.execute(f"CREATE INDEX ix_items_time ON items ({ITEM_TIME}, id)")
    op.execute(f"CREATE INDEX ix_items_source_time ON items (source_id, {ITEM_TIME}, id)")


def downgrade() -> None:
    op.drop_index("ix_items_source_time", table_name="items")
    op.drop_index("ix_items_time", table_name="items")

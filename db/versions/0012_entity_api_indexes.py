"""entity API indexes: an entity's mentioned items from the index alone, rollups by day

Revision ID: 0012_entity_api_indexes
Revises: 0011_model_backends
Create Date: 2026-11-26

``ix_entity_mentions_entity_item`` (entity, item) replaces ``ix_entity_mentions_entity_id``:
the items that mention an entity (``/api/items?entity=``) are read from the index without the
table. ``ix_entity_daily_day`` serves the entity list's window (``/api/entities?days=``).
"""

from alembic import op

revision = "0012_entity_api_indexes"
down_revision = "0011_model_backends"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_entity_mentions_entity_item", "entity_mentions", ["entity_id", "item_id"])
    op.drop_index("ix_entity_mentions_entity_id", table_name="entity_mentions")
    op.create_index("ix_entity_daily_day", "entity_daily", ["day"])


def downgrade() -> None:
    op.drop_index("ix_entity_daily_day", table_name="entity_daily")
    op.create_index("ix_entity_mentions_entity_id", "entity_mentions", ["entity_id"])
    op.drop_index("ix_entity_mentions_entity_item", table_name="entity_mentions")

"""entities: watchlist with aliases, mentions, entity-level scores, scans, daily rollups

Revision ID: 0006_entities
Revises: 0009
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_entities"
down_revision = "0009"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _fk(table: str, **kw) -> sa.ForeignKey:
    return sa.ForeignKey(f"{table}.id", ondelete="CASCADE", **kw)


def upgrade() -> None:
    op.create_table(
        "entities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("ticker", sa.String(32)),
        sa.Column("exchange", sa.String(32)),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_entities_ticker", "entities", ["ticker"])
    op.create_table(
        "entity_aliases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entity_id", sa.Integer(), _fk("entities"), nullable=False),
        sa.Column("alias", sa.String(300), nullable=False),
        sa.UniqueConstraint("entity_id", "alias", name="uq_entity_aliases_alias"),
    )
    op.create_table(
        "entity_mentions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), _fk("items"), nullable=False),
        sa.Column("entity_id", sa.Integer(), _fk("entities"), nullable=False),
        sa.Column("in_source", sa.Boolean(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.Column("matched", sa.String(300), nullable=False),
        sa.Column("how", sa.String(16), nullable=False),
        sa.UniqueConstraint(
            "item_id", "entity_id", "in_source", "start", name="uq_entity_mentions_position"
        ),
    )
    op.create_index("ix_entity_mentions_entity_id", "entity_mentions", ["entity_id"])
    op.create_table(
        "entity_scores",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), _fk("items"), nullable=False),
        sa.Column("entity_id", sa.Integer(), _fk("entities"), nullable=False),
        sa.Column(
            "model_version_id", sa.Integer(), sa.ForeignKey("model_versions.id"), nullable=False
        ),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("prob_negative", sa.Float(), nullable=False),
        sa.Column("prob_neutral", sa.Float(), nullable=False),
        sa.Column("prob_positive", sa.Float(), nullable=False),
        sa.Column("top_tokens", sa.JSON(), nullable=False),
        sa.Column("scored_at", TZ, nullable=False),
        sa.UniqueConstraint(
            "item_id", "entity_id", "model_version_id", name="uq_entity_scores_item_entity_model"
        ),
    )
    op.create_index("ix_entity_scores_entity_id", "entity_scores", ["entity_id"])
    op.create_index("ix_entity_scores_model_version_id", "entity_scores", ["model_version_id"])
    op.create_table(
        "entity_scans",
        sa.Column("item_id", sa.Integer(), _fk("items"), primary_key=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("scanned_at", TZ, nullable=False),
    )
    op.create_table(
        "entity_daily",
        sa.Column("entity_id", sa.Integer(), _fk("entities"), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("mentions", sa.Integer(), nullable=False),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.Column("mean_score", sa.Float()),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.Column("neutral", sa.Integer(), nullable=False),
        sa.Column("positive", sa.Integer(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("entity_daily")
    op.drop_table("entity_scans")
    op.drop_index("ix_entity_scores_model_version_id", table_name="entity_scores")
    op.drop_index("ix_entity_scores_entity_id", table_name="entity_scores")
    op.drop_table("entity_scores")
    op.drop_index("ix_entity_mentions_entity_id", table_name="entity_mentions")
    op.drop_table("entity_mentions")
    op.drop_table("entity_aliases")
    op.drop_index("ix_entities_ticker", table_name="entities")
    op.drop_table("entities")

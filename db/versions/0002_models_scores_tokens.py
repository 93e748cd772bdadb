"""model versions, scores and their top-attended tokens

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("artifact_path", sa.String(2000), nullable=False),
        sa.Column("artifact_sha256", sa.String(64)),
        sa.Column("metrics", sa.JSON()),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("kind", "version", name="uq_model_versions_kind_version"),
    )
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "item_id",
            sa.Integer(),
            sa.ForeignKey("items.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "model_version_id",
            sa.Integer(),
            sa.ForeignKey("model_versions.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("prob_negative", sa.Float(), nullable=False),
        sa.Column("prob_neutral", sa.Float(), nullable=False),
        sa.Column("prob_positive", sa.Float(), nullable=False),
        sa.Column("scored_at", TZ, nullable=False),
        sa.UniqueConstraint("item_id", "model_version_id", name="uq_scores_item_model"),
    )
    op.create_table(
        "score_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "score_id",
            sa.Integer(),
            sa.ForeignKey("scores.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("word", sa.String(200), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.UniqueConstraint("score_id", "rank", name="uq_score_tokens_rank"),
    )
    op.create_index("ix_score_tokens_word", "score_tokens", ["word"])


def downgrade() -> None:
    op.drop_index("ix_score_tokens_word", table_name="score_tokens")
    op.drop_table("score_tokens")
    op.drop_table("scores")
    op.drop_table("model_versions")

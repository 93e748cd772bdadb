"""translations of non-English items; source-language words of attended tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "translations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "item_id",
            sa.Integer(),
            sa.ForeignKey("items.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column(
            "model_version_id",
            sa.Integer(),
            sa.ForeignKey("model_versions.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("source_language", sa.String(16), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("alignment", sa.JSON()),
        sa.Column("translated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("score_tokens", recreate="never") as batch:
        batch.add_column(sa.Column("source_word", sa.String(200)))
        batch.add_column(sa.Column("source_start", sa.Integer()))
        batch.add_column(sa.Column("source_end", sa.Integer()))


def downgrade() -> None:
    with op.batch_alter_table("score_tokens", recreate="never") as batch:
        batch.drop_column("source_end")
        batch.drop_column("source_start")
        batch.drop_column("source_word")
    op.drop_table("translations")

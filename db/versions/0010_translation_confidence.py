"""translation confidence: the translator's own probability of its output, per translation

Revision ID: 0010_translation_confidence
Revises: 0008_alerts
Create Date: 2026-11-25

Translations stored before this revision keep a NULL confidence (unknown, never flagged).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_translation_confidence"
down_revision = "0008_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("translations", recreate="never") as batch:
        batch.add_column(sa.Column("confidence", sa.Float()))


def downgrade() -> None:
    with op.batch_alter_table("translations", recreate="never") as batch:
        batch.drop_column("confidence")

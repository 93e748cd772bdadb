"""model backends: which code reads a registered model, its source languages, its files' sha256

Revision ID: 0011_model_backends
Revises: 0010_translation_confidence
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_model_backends"
down_revision = "0010_translation_confidence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions", recreate="never") as batch:
        batch.add_column(
            sa.Column("backend", sa.String(32), nullable=False, server_default="focusdig")
        )
        batch.add_column(sa.Column("languages", sa.JSON()))
        batch.add_column(sa.Column("files", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("model_versions", recreate="never") as batch:
        batch.drop_column("files")
        batch.drop_column("languages")
        batch.drop_column("backend")

"""model registry: lineage, training-data fingerprint, code version, promotion time

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions", recreate="never") as batch:
        batch.add_column(sa.Column("parent_version", sa.String(100)))
        batch.add_column(sa.Column("data_fingerprint", sa.String(64)))
        batch.add_column(sa.Column("code_version", sa.String(100)))
        batch.add_column(sa.Column("promoted_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("model_versions", recreate="never") as batch:
        batch.drop_column("promoted_at")
        batch.drop_column("code_version")
        batch.drop_column("data_fingerprint")
        batch.drop_column("parent_version")

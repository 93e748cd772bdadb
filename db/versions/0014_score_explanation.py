"""score explanation: how each stored score's words were weighted

Revision ID: 0014_score_explanation
Revises: 0013_item_text_search
Create Date: 2026-11-27

``scores.explanation`` and ``entity_scores.explanation`` name the word-level explanation of the
model that stored the row (``flow`` or ``pooling`` for focusdig's model, ``rollout`` or ``cls``
for a Hugging Face classification model; ``FOCUSDIG_EXPLANATION``). Rows stored before this
revision keep NULL: not recorded (focusdig's model weighted words by its pooling weights until
2026-11-27, by their attention flow after, under the same model versions).

On SQLite both tables are altered in place (``recreate="never"``), never copied and recreated:
dropping ``scores`` to recreate it would delete its ``score_tokens`` (ON DELETE CASCADE, with
foreign keys on). The downgrade therefore needs ``ALTER TABLE ... DROP COLUMN`` (SQLite 3.35).
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_score_explanation"
down_revision = "0013_item_text_search"
branch_labels = None
depends_on = None

TABLES = ("scores", "entity_scores")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, recreate="never") as batch:
            batch.add_column(sa.Column("explanation", sa.String(16)))


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, recreate="never") as batch:
            batch.drop_column("explanation")

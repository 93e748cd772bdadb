"""alerts (once per subject, kind, direction and window day) and their delivery outbox

Revision ID: 0008_alerts
Revises: 0006_entities
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_alerts"
down_revision = "0006_entities"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("sources.id", ondelete="SET NULL")),
        sa.Column("entity_id", sa.Integer(), sa.ForeignKey("entities.id", ondelete="SET NULL")),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("window_day", sa.Date(), nullable=False),
        sa.Column("window_start", TZ, nullable=False),
        sa.Column("window_end", TZ, nullable=False),
        sa.Column("baseline_start", TZ, nullable=False),
        sa.Column("baseline_mean", sa.Float(), nullable=False),
        sa.Column("current_mean", sa.Float(), nullable=False),
        sa.Column("baseline_count", sa.Integer(), nullable=False),
        sa.Column("current_count", sa.Integer(), nullable=False),
        sa.Column("z", sa.Float(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint(
            "subject_kind", "subject", "kind", "direction", "window_day", name="uq_alerts_once"
        ),
    )
    op.create_index("ix_alerts_source_id", "alerts", ["source_id"])
    op.create_index("ix_alerts_entity_id", "alerts", ["entity_id"])
    op.create_index("ix_alerts_window_end", "alerts", ["window_end"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "alert_id",
            sa.Integer(),
            sa.ForeignKey("alerts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("target_label", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_attempt_at", TZ),
        sa.Column("claimed_until", TZ),
        sa.Column("delivered_at", TZ),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("alert_id", "target", name="uq_alert_deliveries_target"),
    )
    op.create_index("ix_alert_deliveries_alert_id", "alert_deliveries", ["alert_id"])
    op.create_index("ix_alert_deliveries_status", "alert_deliveries", ["status"])


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_table("alerts")

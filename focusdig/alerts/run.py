"""One alert run: detect over every subject, store what is new, deliver what is pending."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from focusdig.alerts.deliver import DeliveryReport, deliver_pending
from focusdig.alerts.detect import DAY, Thresholds, window_end
from focusdig.alerts.store import (
    alerts_by_id,
    entity_histories,
    find_candidates,
    record_alerts,
    source_histories,
)
from focusdig.database import session_scope
from focusdig.queries import as_utc
from focusdig.schema import utcnow
from focusdig.settings import Settings


@dataclass
class AlertReport:
    """What one run found and delivered."""

    checked: int = 0  # subjects with items in the checked span
    new: list[dict] = field(default_factory=list)  # alerts created by this run
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    def to_dict(self) -> dict:
        return {
            "checked": self.checked,
            "new": self.new,
            "delivered": self.delivery.delivered,
            "failed": self.delivery.failed,
            "pending": self.delivery.pending,
            "errors": self.delivery.errors,
        }


def check_alerts(
    engine: Engine,
    settings: Settings,
    thresholds: Thresholds | None = None,
    now: datetime | None = None,
) -> tuple[int, list[int]]:
    """Detect over the window ending at the last whole hour before ``now`` (default: now) and
    store new alerts with their outbox rows; returns (subjects checked, new alert ids)."""
    thresholds = thresholds or settings.alert_thresholds
    now = window_end(as_utc(now or utcnow()))
    since = now - thresholds.window - thresholds.baseline_days * DAY
    with session_scope(engine) as session:
        threshold = settings.min_translation_confidence
        histories = source_histories(session, since, now, threshold) + entity_histories(
            session, since, now, threshold
        )
    candidates = find_candidates(histories, now, thresholds)
    with session_scope(engine) as session:
        created = record_alerts(session, candidates, settings.alert_webhooks)
    return len(histories), created


def run_alerts(
    engine: Engine,
    settings: Settings,
    thresholds: Thresholds | None = None,
    now: datetime | None = None,
    deliver: bool = True,
) -> AlertReport:
    """Check for new alerts, then post every pending delivery (unless ``deliver`` is False)."""
    checked, created = check_alerts(engine, settings, thresholds, now)
    report = AlertReport(checked)
    if deliver:
        report.delivery = deliver_pending(engine, settings)
    if created:
        with session_scope(engine) as session:
            report.new = alerts_by_id(session, created)
    return report

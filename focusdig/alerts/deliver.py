"""Webhook delivery of alerts from the outbox: signed JSON posts, retried, never twice.

Each outbox row (``alert_deliveries``) is claimed with a short lease by a conditional update,
so two runs never post it at once; it is marked delivered when the webhook answers 2xx, and
then never sent again. A failure (receiver down, timeout, 5xx, or any other answer) leaves it
pending with its error, for the next run. Should a run die between the receiver's answer and
the commit, the row is posted again once its lease ends: receivers that must not see an alert
twice drop repeats by the ``X-Focusdig-Delivery`` header (or the payload's ``id``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpcore
import httpx
from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.orm import selectinload

from focusdig import __version__
from focusdig.alerts.store import alert_dict, target_key
from focusdig.database import session_scope
from focusdig.netsafety import (
    BlockedAddressError,
    NetworkPolicy,
    check_url,
    deadline,
    guarded_client,
)
from focusdig.schema import Alert, AlertDelivery, utcnow
from focusdig.settings import Settings

SCHEMA = "focusdig.alert/1"
SIGNATURE_HEADER = "X-Focusdig-Signature"
SIGNATURE_TOLERANCE = 300  # seconds a receiver should accept a signature's timestamp for
BACKOFF_FACTOR = 4


class WebhookRefused(ValueError):
    """A webhook URL that focusdig will not post to, with the reason."""


def check_webhook_url(url: str, policy: NetworkPolicy) -> None:
    """Refuse a webhook URL that is not http(s), or whose host is (or resolves to) a loopback,
    private, link-local or otherwise non-public address the policy does not allow: the rule
    feeds follow (``focusdig.netsafety``; ``FOCUSDIG_ALLOW_PRIVATE_NETWORKS=1`` lifts it). The
    client of :func:`webhook_client` checks again at the address it connects to."""
    try:
        check_url(url, policy)
    except (ValueError, BlockedAddressError) as exc:
        raise WebhookRefused(f"{target_key(url)[1]}: {exc}") from None
    except httpcore.ConnectError:
        pass  # a name that does not resolve now is a failed post (kept pending), not a refusal


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _slack_escape(text: str) -> str:
    """Slack reads ``<…>`` as links and mentions (``<!channel>``): feed text must not."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def alert_text(alert: dict) -> str:
    """One plain line (then the driving items' titles) that chat receivers show as is."""
    hours = (alert["window_end"] - alert["window_start"]).total_seconds() / 3600
    ended = alert["window_end"].strftime("%Y-%m-%d %H:%M UTC")
    what = f"{alert['subject_kind']} {alert['subject']}"
    if alert["kind"] == "volume_spike":
        line = (
            f"focusdig: volume spike for {what}: {alert['count']} items in the {hours:g} h to "
            f"{ended}, against {alert['baseline_mean']:.1f} expected (z {alert['z']:+.1f})"
        )
    else:
        line = (
            f"focusdig: {alert['direction']} sentiment shift for {what}: mean score "
            f"{alert['current_mean']:+.2f} over {alert['count']} items in the {hours:g} h to "
            f"{ended}, against {alert['baseline_mean']:+.2f} before (z {alert['z']:+.1f})"
        )
    titles = [" ".join(str(i["title"]).split())[:140] for i in alert["items"][:3]]
    return _slack_escape("\n".join([line, *(f"• {t}" for t in titles if t)]))


def payload(alert: dict) -> dict:
    """The JSON body posted for an alert: the alert object, ``schema`` and ``text``."""
    return {"schema": SCHEMA, **alert, "text": alert_text(alert)}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t." + body>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str,
    body: bytes,
    header: str,
    now: float | None = None,
    tolerance: int = SIGNATURE_TOLERANCE,
) -> bool:
    """What a receiver checks: the HMAC matches and the timestamp is recent (no replays)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(
        sign(secret, timestamp, body), f"t={timestamp},v1={fields.get('v1', '')}"
    )


@dataclass(frozen=True)
class PostResult:
    ok: bool
    attempts: int
    error: str | None = None


def _retryable(status: int) -> bool:
    return status >= 500 or status in (408, 429)


def post(
    client: httpx.Client,
    url: str,
    body: dict,
    settings: Settings,
    delivery_id: str,
    sleep: Callable[[float], None] = time.sleep,
) -> PostResult:
    """POST one payload, retrying network errors, timeouts, 408, 429 and 5xx with backoff;
    each attempt is signed afresh (its own timestamp) when a secret is set."""
    data = json.dumps(body, ensure_ascii=False, default=_json_default).encode()
    error = ""
    attempts = 0
    for attempt in range(settings.alert_retries + 1):
        if attempt:
            sleep(settings.alert_backoff * BACKOFF_FACTOR ** (attempt - 1))
        attempts += 1
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"focusdig/{__version__}",
            "X-Focusdig-Delivery": delivery_id,
        }
        if settings.alert_secret:
            headers[SIGNATURE_HEADER] = sign(settings.alert_secret, int(time.time()), data)
        try:
            with deadline(settings.alert_timeout):  # the whole post, however slow the receiver
                response = client.post(url, content=data, headers=headers)
        except BlockedAddressError as exc:
            return PostResult(False, attempts, f"refused: {exc}")
        except (httpx.HTTPError, httpcore.TimeoutException) as exc:
            error = f"{type(exc).__name__}: {exc}"
            continue
        if 200 <= response.status_code < 300:
            return PostResult(True, attempts)
        error = f"HTTP {response.status_code}"
        if not _retryable(response.status_code):
            break
    return PostResult(False, attempts, error)


def webhook_client(settings: Settings) -> httpx.Client:
    """The HTTP client for webhooks: every connection checked against the network policy at
    the address it connects to (``focusdig.netsafety``), the timeout, no redirects."""
    return guarded_client(
        settings.network_policy,
        timeout=httpx.Timeout(settings.alert_timeout),
        follow_redirects=False,
    )


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    delivered: int = 0
    failed: int = 0
    pending: int = 0  # rows of the configured webhooks still pending after this pass
    errors: dict[str, str] = field(default_factory=dict)  # webhook (scheme://host) -> error


def _lease(settings: Settings) -> timedelta:
    """How long a claimed row is ours: longer than every attempt and pause of one post."""
    waits = sum(settings.alert_backoff * BACKOFF_FACTOR**k for k in range(settings.alert_retries))
    return timedelta(seconds=(settings.alert_retries + 1) * settings.alert_timeout + waits + 60)


def _claim(engine: Engine, delivery_id: int, lease: timedelta) -> bool:
    """Take the row for this run unless it is delivered or another run holds its lease."""
    now = utcnow()
    with session_scope(engine) as session:
        claimed = session.execute(
            update(AlertDelivery)
            .where(
                AlertDelivery.id == delivery_id,
                AlertDelivery.status == "pending",
                or_(AlertDelivery.claimed_until.is_(None), AlertDelivery.claimed_until < now),
            )
            .values(claimed_until=now + lease)
        )
        return claimed.rowcount == 1


def _settle(engine: Engine, delivery_id: int, result: PostResult) -> None:
    now = utcnow()
    values = {
        "attempts": AlertDelivery.attempts + result.attempts,
        "last_attempt_at": now,
        "last_error": result.error,
        "claimed_until": None,
    }
    if result.ok:
        values.update(status="delivered", delivered_at=now)
    with session_scope(engine) as session:
        session.execute(update(AlertDelivery).where(AlertDelivery.id == delivery_id).values(values))


def deliver_pending(
    engine: Engine,
    settings: Settings,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Post every pending outbox row of the configured webhooks, oldest first.

    A webhook that fails (after its retries) is not tried again in this pass: its other rows
    stay pending for the next run. Rows of webhooks no longer configured stay as they are.
    """
    report = DeliveryReport()
    urls = {target_key(url)[0]: url for url in settings.alert_webhooks}
    if not urls:
        return report
    with session_scope(engine) as session:
        rows = session.execute(
            select(AlertDelivery.id, AlertDelivery.target, AlertDelivery.alert_id)
            .where(AlertDelivery.status == "pending", AlertDelivery.target.in_(list(urls)))
            .order_by(AlertDelivery.id)
        ).all()
    down: set[str] = set()
    lease = _lease(settings)
    own_client = client is None
    client = client or webhook_client(settings)
    try:
        for delivery_id, target, alert_id in rows:
            if target in down or not _claim(engine, delivery_id, lease):
                continue
            url = urls[target]
            try:
                check_webhook_url(url, settings.network_policy)
            except WebhookRefused as exc:
                result = PostResult(False, 0, f"refused: {exc}")
            else:
                with session_scope(engine) as session:
                    alert = session.scalar(
                        select(Alert)
                        .options(selectinload(Alert.deliveries))
                        .where(Alert.id == alert_id)
                    )
                    body = payload(alert_dict(alert))
                result = post(client, url, body, settings, f"{alert_id}-{target[:16]}", sleep)
            _settle(engine, delivery_id, result)
            if result.ok:
                report.delivered += 1
            else:
                report.failed += 1
                report.errors[target_key(url)[1]] = result.error or "failed"
                down.add(target)
    finally:
        if own_client:
            client.close()
    with session_scope(engine) as session:
        report.pending = session.scalar(
            select(func.count())
            .select_from(AlertDelivery)
            .where(AlertDelivery.status == "pending", AlertDelivery.target.in_(list(urls)))
        )
    return report


def send_test(
    settings: Settings, client: httpx.Client | None = None
) -> list[tuple[str, str | None]]:
    """Post a sample payload (``"test": true``) to every configured webhook, outside the
    outbox; returns (scheme://host, error or None when it answered 2xx) per webhook."""
    now = utcnow().replace(microsecond=0)
    sample = {
        "id": 0,
        "subject_kind": "source",
        "subject": "focusdig-test",
        "source": "focusdig-test",
        "entity": None,
        "kind": "sentiment_shift",
        "direction": "negative",
        "window_start": now - timedelta(hours=24),
        "window_end": now,
        "baseline_start": now - timedelta(days=15),
        "baseline_mean": 0.1,
        "current_mean": -0.4,
        "baseline_count": 140,
        "count": 12,
        "z": -4.2,
        "items": [],
        "created_at": now,
        "delivered_at": None,
        "pending_deliveries": 0,
    }
    body = {**payload(sample), "test": True}
    body["text"] = "focusdig test alert: this webhook is set up (nothing happened)"
    results: list[tuple[str, str | None]] = []
    own_client = client is None
    client = client or webhook_client(settings)
    try:
        for url in dict.fromkeys(settings.alert_webhooks):
            label = target_key(url)[1]
            try:
                check_webhook_url(url, settings.network_policy)
            except WebhookRefused as exc:
                results.append((label, f"refused: {exc}"))
                continue
            result = post(client, url, body, settings, "test")
            results.append((label, None if result.ok else result.error))
    finally:
        if own_client:
            client.close()
    return results

"""Alerts in the database: the subjects' recent items, new alerts with their outbox rows, lists.

A subject is a source (its items, each with its newest score) or a watched entity (the items
that mention it, each with its newest score toward that entity). An item whose translation is
flagged (low confidence, ``focusdig.translation``) counts as an item but its score does not:
it takes part in volume spikes, not in sentiment shifts. An item's time is its
published time, else its fetch time (:data:`focusdig.schema.item_time`).

Entities are read item by item, like sources, not from their daily rollups: the window is the
last 24 hours rather than a calendar day, and the shift test needs the spread of single
scores, which a rollup row does not keep. The rollups tell how far back an entity's history
goes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import and_, exists, func, select, tuple_
from sqlalchemy.orm import Session, selectinload

from focusdig.alerts.detect import (
    SENTIMENT_SHIFT,
    Finding,
    Series,
    Thresholds,
    detect,
    overlaps_earlier,
    window_series,
)
from focusdig.database import insert_unless_present, serialize_writers
from focusdig.queries import as_utc, newest_entity_score, newest_score
from focusdig.schema import (
    Alert,
    AlertDelivery,
    Entity,
    EntityDay,
    EntityMention,
    EntityScore,
    Item,
    Score,
    ScoreToken,
    Source,
    item_time,
)
from focusdig.settings import DEFAULT_MIN_TRANSLATION_CONFIDENCE
from focusdig.translation import trusted_score

LOCK = "alerts"  # writers of alerts take it: the overlap check then sees every stored alert

DRIVERS = 5  # items kept with an alert
TOP_WORDS = 5  # words kept per item


@dataclass(frozen=True)
class Subject:
    """What an alert is about: a source or an entity, by name."""

    kind: str  # source | entity
    id: int
    name: str


@dataclass
class History:
    """A subject's items of the checked span: (time, score or None, item id)."""

    subject: Subject
    events: list[tuple[datetime, float | None, int]] = field(default_factory=list)
    first_seen: datetime | None = None  # the span's start when it has older items, else None


@dataclass(frozen=True)
class Candidate:
    """A finding of one subject in one window, with the window's items that drove it."""

    subject: Subject
    series: Series
    finding: Finding
    driver_ids: tuple[int, ...]


def source_histories(
    session: Session,
    since: datetime,
    until: datetime,
    min_confidence: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE,
) -> list[History]:
    """Every source with items in ``[since, until)``: their times and newest scores (none for
    an item whose translation's confidence is below ``min_confidence``: flagged)."""
    rows = session.execute(
        select(Source.id, Source.name, item_time, trusted_score(Score.score, min_confidence))
        .add_columns(Item.id)
        .join(Item, Item.source_id == Source.id)
        .outerjoin(Score, (Score.item_id == Item.id) & newest_score())
        .where(item_time >= since, item_time < until)
        .order_by(Source.id, item_time)
    )
    histories: dict[int, History] = {}
    for source_id, name, at, score, item_id in rows:
        history = histories.setdefault(source_id, History(Subject("source", source_id, name)))
        history.events.append((as_utc(at), score, item_id))
    if histories:
        older = session.scalars(
            select(Source.id).where(
                Source.id.in_(list(histories)),
                exists().where(Item.source_id == Source.id, item_time < since),
            )
        )
        for source_id in older:
            histories[source_id].first_seen = since
    return list(histories.values())


def entity_histories(
    session: Session,
    since: datetime,
    until: datetime,
    min_confidence: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE,
) -> list[History]:
    """Every watched entity mentioned by items in ``[since, until)``: their times and newest
    scores toward the entity (None while unscored, or when the item's translation is flagged:
    confidence below ``min_confidence``)."""
    mentioned = (
        select(EntityMention.entity_id, EntityMention.item_id)
        .join(Item, Item.id == EntityMention.item_id)
        .where(item_time >= since, item_time < until)
        .distinct()
        .subquery()
    )
    rows = session.execute(
        select(Entity.id, Entity.name, item_time, trusted_score(EntityScore.score, min_confidence))
        .add_columns(Item.id)
        .join(mentioned, mentioned.c.entity_id == Entity.id)
        .join(Item, Item.id == mentioned.c.item_id)
        .outerjoin(
            EntityScore,
            and_(
                EntityScore.item_id == Item.id,
                EntityScore.entity_id == Entity.id,
                newest_entity_score(),
            ),
        )
        .order_by(Entity.id, item_time)
    )
    histories: dict[int, History] = {}
    for entity_id, name, at, score, item_id in rows:
        history = histories.setdefault(entity_id, History(Subject("entity", entity_id, name)))
        history.events.append((as_utc(at), score, item_id))
    if histories:
        first_days = session.execute(
            select(EntityDay.entity_id, func.min(EntityDay.day))
            .where(EntityDay.entity_id.in_(list(histories)))
            .group_by(EntityDay.entity_id)
        )
        for entity_id, first_day in first_days:
            if first_day < since.date():  # mentioned on a day before the checked span
                histories[entity_id].first_seen = since
    return list(histories.values())


def _drivers(series: Series, finding: Finding, history: History) -> tuple[int, ...]:
    """The window's items that drove a finding: the most extreme scores in its direction for a
    shift, the newest items for a spike."""
    in_window = [
        (at, score, item_id)
        for at, score, item_id in history.events
        if series.window_start <= at < series.window_end
    ]
    if finding.kind == SENTIMENT_SHIFT:
        sign = -1 if finding.direction == "negative" else 1
        scored = [e for e in in_window if e[1] is not None]
        chosen = sorted(scored, key=lambda e: (-sign * e[1], -e[0].timestamp()))
    else:
        chosen = sorted(in_window, key=lambda e: e[0], reverse=True)
    return tuple(item_id for _, _, item_id in chosen[:DRIVERS])


def find_candidates(
    histories: list[History], now: datetime, thresholds: Thresholds
) -> list[Candidate]:
    """Run the detector over each subject's history for the window ending ``now``."""
    candidates = []
    for history in histories:
        events = [(at, score) for at, score, _ in history.events]
        series = window_series(events, now, thresholds, history.first_seen)
        for finding in detect(series, thresholds):
            drivers = _drivers(series, finding, history)
            candidates.append(Candidate(history.subject, series, finding, drivers))
    return candidates


def _top_words(session: Session, item_ids: list[int]) -> dict[int, list[dict]]:
    """The newest score's top words of each item, best first."""
    newest = session.execute(
        select(Score.item_id, Score.id).where(Score.item_id.in_(item_ids), newest_score())
    ).all()
    score_item = {score_id: item_id for item_id, score_id in newest}
    words: dict[int, list[dict]] = defaultdict(list)
    if score_item:
        rows = session.execute(
            select(ScoreToken.score_id, ScoreToken.word, ScoreToken.weight)
            .where(ScoreToken.score_id.in_(list(score_item)), ScoreToken.rank < TOP_WORDS)
            .order_by(ScoreToken.score_id, ScoreToken.rank)
        )
        for score_id, word, weight in rows:
            words[score_item[score_id]].append({"word": word, "weight": round(weight, 4)})
    return words


def _entity_scores(
    session: Session, entity_id: int, item_ids: list[int]
) -> dict[int, tuple[float, list[dict], str | None]]:
    """Each item's newest score toward the entity, with that score's top words and the
    explanation they come from."""
    rows = session.execute(
        select(
            EntityScore.item_id,
            EntityScore.score,
            EntityScore.top_tokens,
            EntityScore.explanation,
        ).where(
            EntityScore.entity_id == entity_id,
            EntityScore.item_id.in_(item_ids),
            newest_entity_score(),
        )
    )
    return {
        item_id: (
            score,
            [{"word": t["word"], "weight": round(t["weight"], 4)} for t in tokens[:TOP_WORDS]],
            explanation,
        )
        for item_id, score, tokens, explanation in rows
    }


def driver_items(session: Session, subject: Subject, item_ids: list[int]) -> list[dict]:
    """Title, link, time, score, top words and their explanation (e.g. "flow") of each item,
    in the given order: the item's newest score for a source, its newest score toward the
    entity for an entity."""
    if not item_ids:
        return []
    rows = session.execute(
        select(
            Item.id,
            Source.name,
            Item.title,
            Item.text,
            Item.url,
            item_time,
            Score.score,
            Score.explanation,
        )
        .join(Source, Source.id == Item.source_id)
        .outerjoin(Score, (Score.item_id == Item.id) & newest_score())
        .where(Item.id.in_(item_ids))
    )
    found = {row[0]: row for row in rows}
    if subject.kind == "entity":
        toward = _entity_scores(session, subject.id, item_ids)
    else:
        words = _top_words(session, item_ids)
        toward = {i: (found[i][6], words.get(i, []), found[i][7]) for i in found}
    drivers = []
    for item_id in item_ids:
        if item_id not in found:
            continue  # removed since it was read
        _, source, title, text, url, at, _, _ = found[item_id]
        score, top_words, explanation = toward.get(item_id, (None, [], None))
        drivers.append(
            {
                "id": item_id,
                "source": source,
                "title": title or text[:200],
                "url": url,
                "time": as_utc(at).isoformat(),
                "score": None if score is None else round(score, 4),
                "top_words": top_words,
                "explanation": explanation,
            }
        )
    return drivers


def target_key(url: str) -> tuple[str, str]:
    """(SHA-256 of a webhook URL, its scheme and host for display): URLs such as Slack's carry
    a secret in their path, so the database never holds them."""
    parts = urlsplit(url)
    label = f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")
    return hashlib.sha256(url.encode()).hexdigest(), label


def _recent_alert_ends(
    session: Session, candidates: list[Candidate]
) -> dict[tuple[str, str, str, str], datetime]:
    """The newest window end of earlier alerts of each candidate's subject, kind, direction."""
    keys = {
        (c.subject.kind, c.subject.name, c.finding.kind, c.finding.direction) for c in candidates
    }
    earliest = min(c.series.window_start for c in candidates)
    rows = session.execute(
        select(
            Alert.subject_kind, Alert.subject, Alert.kind, Alert.direction, Alert.window_end
        ).where(
            tuple_(Alert.subject_kind, Alert.subject, Alert.kind, Alert.direction).in_(keys),
            Alert.window_end > earliest,
        )
    )
    ends: dict[tuple[str, str, str, str], datetime] = {}
    for kind, subject, alert_kind, direction, end in rows:
        key = (kind, subject, alert_kind, direction)
        ends[key] = max(ends.get(key, as_utc(end)), as_utc(end))
    return ends


def insert_alert(session: Session, candidate: Candidate) -> int | None:
    """Store one alert unless its unique key (subject, kind, direction, window day) is taken:
    the new id, or None. Atomic on both engines (``INSERT … ON CONFLICT DO NOTHING``)."""
    c, f = candidate, candidate.finding
    return insert_unless_present(
        session,
        Alert,
        {
            "subject_kind": c.subject.kind,
            "subject": c.subject.name,
            "source_id": c.subject.id if c.subject.kind == "source" else None,
            "entity_id": c.subject.id if c.subject.kind == "entity" else None,
            "kind": f.kind,
            "direction": f.direction,
            "window_day": c.series.window_end.date(),
            "window_start": c.series.window_start,
            "window_end": c.series.window_end,
            "baseline_start": c.series.baseline_start,
            "baseline_mean": f.baseline_mean,
            "current_mean": f.current_mean,
            "baseline_count": f.baseline_count,
            "current_count": f.current_count,
            "z": f.z,
            "items": driver_items(session, c.subject, list(c.driver_ids)),
        },
    )


def record_alerts(
    session: Session, candidates: list[Candidate], webhooks: tuple[str, ...]
) -> list[int]:
    """Store the candidates as alerts, each with one pending outbox row per webhook; returns the
    new alerts' ids. Call on a fresh session: it takes the alerts' writer lock first.

    A candidate whose window overlaps an earlier alert of the same subject, kind and direction
    is that event seen again and is skipped. The lock makes that check see every alert stored
    before; the unique key is what guarantees one alert per subject, kind, direction and window
    day whatever happens.
    """
    if not candidates:
        return []
    serialize_writers(session, LOCK)
    ends = _recent_alert_ends(session, candidates)
    targets = [target_key(url) for url in dict.fromkeys(webhooks)]
    created = []
    for c in candidates:
        key = (c.subject.kind, c.subject.name, c.finding.kind, c.finding.direction)
        if overlaps_earlier(c.series.window_start, ends.get(key)):
            continue
        alert_id = insert_alert(session, c)
        if alert_id is None:
            continue
        ends[key] = c.series.window_end
        created.append(alert_id)
        for target, label in targets:
            session.add(AlertDelivery(alert_id=alert_id, target=target, target_label=label))
    session.flush()
    return created


def alert_dict(alert: Alert) -> dict:
    """An alert as the CLI, the API and the webhooks show it (see the README's schema)."""
    deliveries = alert.deliveries
    pending = sum(d.status == "pending" for d in deliveries)
    delivered = [as_utc(d.delivered_at) for d in deliveries if d.delivered_at is not None]
    return {
        "id": alert.id,
        "subject_kind": alert.subject_kind,
        "subject": alert.subject,
        "source": alert.subject if alert.subject_kind == "source" else None,
        "entity": alert.subject if alert.subject_kind == "entity" else None,
        "kind": alert.kind,
        "direction": alert.direction,
        "window_start": as_utc(alert.window_start),
        "window_end": as_utc(alert.window_end),
        "baseline_start": as_utc(alert.baseline_start),
        "baseline_mean": alert.baseline_mean,
        "current_mean": alert.current_mean,
        "baseline_count": alert.baseline_count,
        "count": alert.current_count,
        "z": alert.z,
        "items": alert.items,
        "created_at": as_utc(alert.created_at),
        "delivered_at": max(delivered) if delivered and not pending else None,
        "pending_deliveries": pending,
    }


def alerts_by_id(session: Session, ids: list[int]) -> list[dict]:
    """These alerts, in id order."""
    query = select(Alert).options(selectinload(Alert.deliveries)).where(Alert.id.in_(ids))
    return [alert_dict(a) for a in session.scalars(query.order_by(Alert.id))]


def list_alerts(
    session: Session,
    since: datetime | None = None,
    limit: int | None = 100,
    subject_kind: str | None = None,
    subject: str | None = None,
) -> list[dict]:
    """Alerts newest first (by window end): those whose window ended after ``since``, of one
    kind of subject (source, entity) and one subject by name when given."""
    query = (
        select(Alert)
        .options(selectinload(Alert.deliveries))
        .order_by(Alert.window_end.desc(), Alert.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(Alert.window_end > as_utc(since))
    if subject_kind is not None:
        query = query.where(Alert.subject_kind == subject_kind)
    if subject is not None:
        query = query.where(Alert.subject == subject)
    return [alert_dict(a) for a in session.scalars(query)]

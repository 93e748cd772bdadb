"""Per entity and UTC day: mentions, mean entity score and counts per label.

A day is the item's published time, else its fetch time, in UTC. Rows are recomputed from
the mention and entity-score rows for the (entity, day) pairs a batch touched (aggregated by
the database, one query per touched day) and written with an upsert (never incremented),
inside a transaction that holds the ``entity-rollups`` writer lock
(``focusdig.database.serialize_writers``): whichever of two concurrent runs writes last has
seen every committed row, so they converge. The newest entity score of each (item, entity)
counts (a rescore by a new champion replaces the old one here). An item whose translation is
flagged (confidence below ``FOCUSDIG_MIN_TRANSLATION_CONFIDENCE``) counts as a mention but its
score does not (like alerts: volume yes, sentiment no): it is not in ``scored``,
``mean_score`` or the label counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, case, delete, func, select
from sqlalchemy.orm import Session

from focusdig.database import upsert_statement
from focusdig.schema import EntityDay, EntityMention, EntityScore, Item, utcnow
from focusdig.settings import DEFAULT_MIN_TRANSLATION_CONFIDENCE
from focusdig.translation import trusted_item

LOCK = "entity-rollups"
CHUNK = 500
LABELS = ("negative", "neutral", "positive")


def item_day(published_at: datetime | None, fetched_at: datetime) -> date:
    """The UTC day an item counts for (SQLite hands back naive datetimes, all UTC)."""
    moment = published_at or fetched_at
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _chunks(values: list, size: int = CHUNK) -> Iterable[list]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


@dataclass
class DayStats:
    """One entity's figures for one day."""

    day: date
    mentions: int
    scored: int
    mean_score: float | None
    negative: int
    neutral: int
    positive: int


def _day_rows(
    session: Session, day: date, entity_ids: list[int], min_confidence: float
) -> dict[int, dict]:
    """The rollup figures of ``entity_ids`` on ``day``, aggregated by the database: one entry
    per entity with a mention that day."""
    when = func.coalesce(Item.published_at, Item.fetched_at)
    mentioned = (
        select(EntityMention.entity_id, EntityMention.item_id)
        .join(Item, Item.id == EntityMention.item_id)
        .where(
            EntityMention.entity_id.in_(entity_ids),
            when >= _midnight(day),
            when < _midnight(day + timedelta(days=1)),
        )
        .distinct()
        .subquery()
    )
    # one row per mention pair: its newest trusted score, or none (NULL)
    newest_first = func.row_number().over(
        partition_by=(mentioned.c.item_id, mentioned.c.entity_id), order_by=EntityScore.id.desc()
    )
    pairs = (
        select(mentioned.c.entity_id, EntityScore.label, EntityScore.score)
        .add_columns(newest_first.label("rank"))
        .outerjoin(
            EntityScore,
            and_(
                EntityScore.item_id == mentioned.c.item_id,
                EntityScore.entity_id == mentioned.c.entity_id,
                trusted_item(min_confidence, EntityScore.item_id),
            ),
        )
        .subquery()
    )
    per_label = [func.sum(case((pairs.c.label == label, 1), else_=0)) for label in LABELS]
    rows = session.execute(
        select(pairs.c.entity_id, func.count(), func.count(pairs.c.score))
        .add_columns(func.sum(pairs.c.score), *per_label)
        .where(pairs.c.rank == 1)
        .group_by(pairs.c.entity_id)
    )
    return {
        entity_id: {
            "mentions": int(mentions),
            "scored": int(scored),
            "mean_score": float(total) / int(scored) if scored else None,
            **{label: int(n) for label, n in zip(LABELS, counts, strict=True)},
        }
        for entity_id, mentions, scored, total, *counts in rows
    }


def recompute(
    session: Session,
    pairs: Iterable[tuple[int, date]],
    min_confidence: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE,
) -> int:
    """Recompute the rollup rows of ``pairs`` (entity id, day) from their source rows; the
    scores of items whose translation's confidence is below ``min_confidence`` are left out.

    Call inside a transaction that took ``serialize_writers(session, LOCK)`` first.
    Returns how many rows were written (a pair with no mention left is deleted).
    """
    by_day: dict[date, set[int]] = defaultdict(set)
    for entity_id, day in pairs:
        by_day[day].add(entity_id)
    values = []
    for day, entity_ids in sorted(by_day.items()):
        for chunk in _chunks(sorted(entity_ids)):
            figures = _day_rows(session, day, chunk, min_confidence)
            gone = [e for e in chunk if e not in figures]
            if gone:
                session.execute(
                    delete(EntityDay).where(EntityDay.entity_id.in_(gone), EntityDay.day == day)
                )
            values += [
                {"entity_id": e, "day": day, **f, "updated_at": utcnow()}
                for e, f in sorted(figures.items())
            ]
    if values:  # one statement, executed for every row (no multi-row VALUES to compile)
        stmt = upsert_statement(session, EntityDay)
        updated = {c: stmt.excluded[c] for c in ("mentions", "scored", "mean_score", *LABELS)}
        updated["updated_at"] = stmt.excluded.updated_at
        session.execute(
            stmt.on_conflict_do_update(index_elements=["entity_id", "day"], set_=updated), values
        )
    return len(values)


def first_day(days: int, today: date | None = None) -> date:
    """The first day of a window of ``days`` days ending today (UTC)."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=max(1, days) - 1)


def series(session: Session, entity_id: int, days: int = 30) -> list[DayStats]:
    """One entity's days with mentions in the last ``days`` days, oldest first."""
    rows = session.scalars(
        select(EntityDay)
        .where(EntityDay.entity_id == entity_id, EntityDay.day >= first_day(days))
        .order_by(EntityDay.day)
    )
    return [
        DayStats(r.day, r.mentions, r.scored, r.mean_score, r.negative, r.neutral, r.positive)
        for r in rows
    ]


TREND_DAYS = 7  # the trend compares the last week of a window with the days before it


@dataclass(frozen=True)
class WindowFigures:
    """One entity's figures over a window of days (each scored item counting once).

    ``trend`` is the mean score of the window's last ``recent_days`` days (today included)
    minus the mean score of its days before them; None when either part has no scored item.
    """

    mentions: int
    scored: int
    mean_score: float | None
    recent_days: int
    recent_mentions: int
    recent_mean_score: float | None
    trend: float | None
    last_mentioned: date | None


def recent_days_of(days: int) -> int:
    """How many of a window's last days its trend calls recent: a week, at most half of it."""
    return min(TREND_DAYS, max(1, days) // 2)


def _mean(total: float | None, scored: int) -> float | None:
    return float(total) / scored if scored and total is not None else None


def _sums(session: Session, since: date, entity_ids: list[int] | None) -> dict[int, tuple]:
    """Per entity since ``since``: (mentions, scored, sum of scores, last day)."""
    query = (
        select(
            EntityDay.entity_id,
            func.sum(EntityDay.mentions),
            func.sum(EntityDay.scored),
            func.sum(EntityDay.mean_score * EntityDay.scored),
            func.max(EntityDay.day),
        )
        .where(EntityDay.day >= since)
        .group_by(EntityDay.entity_id)
    )
    if entity_ids is not None:
        query = query.where(EntityDay.entity_id.in_(entity_ids))
    return {
        entity_id: (int(mentions), int(scored or 0), total, last)
        for entity_id, mentions, scored, total, last in session.execute(query)
    }


def window_figures(
    session: Session, days: int = 30, entity_ids: list[int] | None = None
) -> dict[int, WindowFigures]:
    """Per entity with mentions in the last ``days`` days (of ``entity_ids``, default all):
    mentions, mean entity score and its trend, from the daily rollups."""
    recent_days = recent_days_of(days)
    window = _sums(session, first_day(days), entity_ids)
    # two narrow aggregates cost less than one with the recent part in CASE expressions
    recent = _sums(session, first_day(recent_days), entity_ids) if recent_days else {}
    figures = {}
    for entity_id, (mentions, scored, total, last) in window.items():
        r_mentions, r_scored, r_total, _ = recent.get(entity_id, (0, 0, None, None))
        recent_mean = _mean(r_total, r_scored)
        before_total = None if total is None else float(total) - float(r_total or 0.0)
        before_mean = _mean(before_total, scored - r_scored)
        trend = None
        if recent_mean is not None and before_mean is not None:
            trend = recent_mean - before_mean
        figures[entity_id] = WindowFigures(
            mentions,
            scored,
            _mean(total, scored),
            recent_days,
            r_mentions,
            recent_mean,
            trend,
            last,
        )
    return figures


def no_figures(days: int) -> WindowFigures:
    """The figures of an entity without mentions in the window."""
    return WindowFigures(0, 0, None, recent_days_of(days), 0, None, None, None)

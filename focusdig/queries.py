"""Read queries behind ``focusdig items``, ``focusdig entities``, the HTTP API and the dashboard.

An item is shown with its latest score (the newest score row of the item, as in the export),
that score's top words (and ``explanation``, how they were weighted; None: not recorded), its
translation (with its confidence, and whether that is below the threshold: flagged), its
current label and the watched entities it mentions with its newest score toward each. Lists
are newest first by the item's time (:data:`focusdig.schema.item_time`: published, else
fetched). Entities are shown with their figures over a window of UTC days, read from the daily
rollups (``entity_daily``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, select
from sqlalchemy.orm import Session, aliased

from focusdig.entities import rollups
from focusdig.entities.watchlist import find_entity
from focusdig.labels import LABELS
from focusdig.schema import (
    Entity,
    EntityAlias,
    EntityDay,
    EntityMention,
    EntityScore,
    Item,
    Label,
    ModelVersion,
    Score,
    ScoreToken,
    Source,
    Translation,
    item_time,
)
from focusdig.search import text_condition
from focusdig.settings import DEFAULT_MIN_TRANSLATION_CONFIDENCE
from focusdig.translation import is_low_confidence

COUNT_CAP = 1_000  # counting every match of a broad filter costs a scan of them all
# the items of an entity mentioned by more items than this are found by walking the items
# newest first; those of one mentioned less by reading its own items and sorting them
# (on SQLite, with a million items, the first is faster above 10,000 to 35,000)
DENSE_ENTITY = 20_000
MAX_OFFSET = 10_000  # deeper pages: narrow the filter (e.g. ``until``) instead


@dataclass(frozen=True)
class ItemFilter:
    """What to list; every field that is set narrows the list (they combine)."""

    source: str | None = None
    language: str | None = None
    label: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    entity: str | None = None  # a watched entity's name, ticker or alias: items mentioning it


@dataclass
class ItemPage:
    items: list[dict]
    total: int
    total_exact: bool


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def newest_score() -> ColumnElement[bool]:
    """True for the newest score row of its item (scores of older models stay stored)."""
    newer = aliased(Score)
    return ~exists().where(newer.item_id == Score.item_id, newer.id > Score.id)


def newest_entity_score() -> ColumnElement[bool]:
    """True for the newest entity score of its (item, entity)."""
    newer = aliased(EntityScore)
    return ~exists().where(
        newer.item_id == EntityScore.item_id,
        newer.entity_id == EntityScore.entity_id,
        newer.id > EntityScore.id,
    )


def _mentions(session: Session, entity_id: int) -> ColumnElement[bool]:
    """SQL condition: the item mentions the entity, in the form that suits how many do (as the
    daily rollups count them)."""
    mentioned = select(func.coalesce(func.sum(EntityDay.mentions), 0))
    if session.scalar(mentioned.where(EntityDay.entity_id == entity_id)) > DENSE_ENTITY:
        # common: walking the items newest first soon finds a page of them
        return exists().where(
            EntityMention.item_id == Item.id, EntityMention.entity_id == entity_id
        )
    mentioning = select(EntityMention.item_id).where(EntityMention.entity_id == entity_id)
    return Item.id.in_(mentioning)  # rare: read its items through the entity's index


def _conditions(session: Session, where: ItemFilter) -> list[ColumnElement[bool]] | None:
    """The WHERE conditions of a filter; None when it cannot match (an unknown source)."""
    conditions: list[ColumnElement[bool]] = []
    if where.source is not None:
        # the id, not a join: the per-source index then yields items already in order
        source_id = session.scalar(select(Source.id).where(Source.name == where.source))
        if source_id is None:
            return None
        conditions.append(Item.source_id == source_id)
    if where.entity is not None:
        entity = find_entity(session, where.entity)
        if entity is None:
            return None
        conditions.append(_mentions(session, entity.id))
    if where.language is not None:
        conditions.append(Item.language == where.language)
    if where.since is not None:
        conditions.append(item_time >= as_utc(where.since))
    if where.until is not None:
        conditions.append(item_time < as_utc(where.until))
    if where.q:
        conditions.append(text_condition(session, where.q))
    if where.label is not None:
        # EXISTS, not a condition on the joined score: the planner then still walks the items
        # newest first instead of reading every score with that label and sorting
        newest = aliased(Score)
        newer = aliased(Score)
        conditions.append(
            exists().where(
                newest.item_id == Item.id,
                newest.label == where.label,
                ~exists().where(newer.item_id == newest.item_id, newer.id > newest.id),
            )
        )
    return conditions


def _item_rows(session: Session, conditions: list, limit: int | None, offset: int = 0):
    # the page's ids first, then their rows: the joins below run for the page only, not for
    # every candidate that is sorted (a rare entity's items) or skipped (an offset)
    page = (
        select(Item.id)
        .where(*conditions)
        .order_by(item_time.desc(), Item.id.desc())
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    query = (
        select(
            Item.id,
            Source.name.label("source"),
            Item.kind,
            Item.url,
            Item.title,
            Item.text,
            Item.language,
            Item.published_at,
            Item.fetched_at,
            Item.parent_item_id,
            Translation.text.label("translated_text"),
            Translation.confidence.label("translation_confidence"),
            Score.id.label("score_id"),
            Score.label,
            Score.score,
            Score.prob_negative,
            Score.prob_neutral,
            Score.prob_positive,
            Score.explanation,
            ModelVersion.version.label("model_version"),
        )
        .join(page, page.c.id == Item.id)
        .join(Source, Source.id == Item.source_id)
        .outerjoin(Translation, Translation.item_id == Item.id)
        .outerjoin(Score, (Score.item_id == Item.id) & newest_score())
        .outerjoin(ModelVersion, ModelVersion.id == Score.model_version_id)
        .order_by(item_time.desc(), Item.id.desc())
    )
    return session.execute(query).mappings().all()


def _tokens_by_score(session: Session, score_ids: list[int]) -> dict[int, list[dict]]:
    tokens: dict[int, list[dict]] = defaultdict(list)
    for chunk in range(0, len(score_ids), 500):
        rows = session.scalars(
            select(ScoreToken)
            .where(ScoreToken.score_id.in_(score_ids[chunk : chunk + 500]))
            .order_by(ScoreToken.score_id, ScoreToken.rank)
        )
        for t in rows:
            tokens[t.score_id].append(
                {
                    "word": t.word,
                    "weight": t.weight,
                    "start": t.start,
                    "end": t.end,
                    "source_word": t.source_word,
                    "source_start": t.source_start,
                    "source_end": t.source_end,
                }
            )
    return tokens


def current_item_labels(session: Session, item_ids: list[int]) -> dict[int, str]:
    """The current (newest) label of each of these items that has one."""
    labels: dict[int, str] = {}
    for chunk in range(0, len(item_ids), 500):
        rows = session.execute(
            select(Label.item_id, Label.label)
            .where(Label.item_id.in_(item_ids[chunk : chunk + 500]))
            .order_by(Label.id)
        )
        labels.update({item_id: label for item_id, label in rows})
    return labels


def item_entities(session: Session, item_ids: list[int]) -> dict[int, list[dict]]:
    """Per item, the watched entities it mentions (by name), each with where it is mentioned
    and the item's newest score toward it (None while unscored)."""
    found: dict[int, dict[int, dict]] = defaultdict(dict)
    for chunk in range(0, len(item_ids), 500):
        ids = item_ids[chunk : chunk + 500]
        mentions = session.execute(
            select(EntityMention, Entity.name, Entity.ticker)
            .join(Entity, Entity.id == EntityMention.entity_id)
            .where(EntityMention.item_id.in_(ids))
            .order_by(EntityMention.in_source, EntityMention.start)
        )
        for mention, name, ticker in mentions:
            entry = found[mention.item_id].setdefault(
                mention.entity_id,
                {"name": name, "ticker": ticker, **_entity_score_fields(None), "mentions": []},
            )
            entry["mentions"].append(
                {
                    "matched": mention.matched,
                    "how": mention.how,
                    "start": mention.start,
                    "end": mention.end,
                    "in_source": mention.in_source,
                }
            )
        scores = session.execute(
            select(EntityScore, ModelVersion.version)
            .join(ModelVersion, ModelVersion.id == EntityScore.model_version_id)
            .where(EntityScore.item_id.in_(ids), newest_entity_score())
        )
        for score, version in scores:
            entry = found[score.item_id].get(score.entity_id)
            if entry is not None:  # a score is kept only with its mentions
                entry.update(_entity_score_fields(score, version))
    by_name = lambda entry: entry["name"].casefold()  # noqa: E731
    return {item_id: sorted(entries.values(), key=by_name) for item_id, entries in found.items()}


def _entity_score_fields(score: EntityScore | None, version: str | None = None) -> dict:
    if score is None:
        keys = ("label", "score", "probs", "method", "model_version")
        return {**dict.fromkeys(keys), "top_tokens": [], "explanation": None}
    return {
        "label": score.label,
        "score": score.score,
        "probs": {
            "negative": score.prob_negative,
            "neutral": score.prob_neutral,
            "positive": score.prob_positive,
        },
        "method": score.method,
        "model_version": version,
        "top_tokens": [
            {"word": t["word"], "weight": t["weight"], "start": t["start"], "end": t["end"]}
            for t in score.top_tokens
        ],
        "explanation": score.explanation,
    }


def _item_dicts(session: Session, rows, min_confidence: float) -> list[dict]:
    tokens = _tokens_by_score(session, [r["score_id"] for r in rows if r["score_id"]])
    labels = current_item_labels(session, [r["id"] for r in rows])
    entities = item_entities(session, [r["id"] for r in rows])
    items = []
    for r in rows:
        scored = r["score_id"] is not None
        items.append(
            {
                "id": r["id"],
                "source": r["source"],
                "kind": r["kind"],
                "url": r["url"],
                "title": r["title"],
                "text": r["text"],
                "language": r["language"],
                "published_at": r["published_at"] and as_utc(r["published_at"]),
                "fetched_at": as_utc(r["fetched_at"]),
                "parent_item_id": r["parent_item_id"],
                "translated_text": r["translated_text"],
                "translation_confidence": r["translation_confidence"],
                "translation_flagged": is_low_confidence(
                    r["translation_confidence"], min_confidence
                ),
                "label": r["label"],
                "score": r["score"],
                "probs": {
                    "negative": r["prob_negative"],
                    "neutral": r["prob_neutral"],
                    "positive": r["prob_positive"],
                }
                if scored
                else None,
                "top_tokens": tokens.get(r["score_id"], []),
                "explanation": r["explanation"],
                "model_version": r["model_version"],
                "user_label": labels.get(r["id"]),
                "entities": entities.get(r["id"], []),
            }
        )
    return items


def count_items(session: Session, where: ItemFilter, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many items match, counted up to ``cap``; the flag says whether the count is exact."""
    conditions = _conditions(session, where)
    if conditions is None:
        return 0, True
    matching = select(literal(1)).select_from(Item).where(*conditions).limit(cap + 1)
    count = session.scalar(select(func.count()).select_from(matching.subquery()))
    return min(count, cap), count <= cap


def list_items(
    session: Session,
    where: ItemFilter | None = None,
    limit: int | None = 50,
    offset: int = 0,
    count_cap: int = COUNT_CAP,
    min_confidence: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE,
) -> ItemPage:
    """A page of items, newest first, with the number of matching items (capped).
    Translations with a confidence below ``min_confidence`` are flagged."""
    where = where or ItemFilter()
    items = find_items(session, where, limit, offset, min_confidence)
    if not items and offset == 0:
        return ItemPage([], 0, True)
    total, exact = count_items(session, where, count_cap)
    return ItemPage(items, total, exact)


def find_items(
    session: Session,
    where: ItemFilter,
    limit: int | None = 50,
    offset: int = 0,
    min_confidence: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE,
) -> list[dict]:
    """A page of items as in :func:`list_items`, without counting the matches."""
    conditions = _conditions(session, where)
    if conditions is None:
        return []
    rows = _item_rows(session, conditions, limit, offset)
    return _item_dicts(session, rows, min_confidence)


def get_item(
    session: Session, item_id: int, min_confidence: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE
) -> dict | None:
    """One item as in :func:`list_items`, or None."""
    rows = _item_rows(session, [Item.id == item_id], 1)
    return _item_dicts(session, rows, min_confidence)[0] if rows else None


def utc_day(session: Session, moment: ColumnElement) -> ColumnElement[str]:
    """The UTC calendar day of a timestamp column as ``YYYY-MM-DD`` text, on either engine."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", moment), "YYYY-MM-DD")
    return func.substr(moment, 1, 10)  # SQLite stores UTC timestamps as ISO text


@dataclass(frozen=True)
class DayPoint:
    """One day of one source: items, mean score of the scored ones, counts per label."""

    date: date
    items: int
    mean_score: float | None
    negative: int
    neutral: int
    positive: int


def daily_by_source(session: Session, start: datetime) -> dict[str, list[DayPoint]]:
    """Per source, one point per UTC day since ``start`` that has items, oldest first."""
    day = utc_day(session, item_time).label("day")
    per_label = [func.sum(case((Score.label == name, 1), else_=0)) for name in LABELS]
    rows = session.execute(
        select(Source.name, day, func.count(Item.id), func.avg(Score.score), *per_label)
        .join(Source, Source.id == Item.source_id)
        .outerjoin(Score, (Score.item_id == Item.id) & newest_score())
        .where(item_time >= as_utc(start))
        .group_by(Source.name, day)
        .order_by(Source.name, day)
    ).all()
    series: dict[str, list[DayPoint]] = defaultdict(list)
    for name, day_text, count, mean, negative, neutral, positive in rows:
        series[name].append(
            DayPoint(
                date.fromisoformat(day_text),
                int(count),
                None if mean is None else float(mean),
                int(negative or 0),
                int(neutral or 0),
                int(positive or 0),
            )
        )
    return dict(series)


@dataclass(frozen=True)
class SourceMove:
    """A source's mean score in the recent window against the baseline before it."""

    source: str
    items_now: int
    mean_now: float
    items_before: int
    mean_before: float | None
    change: float


def source_moves(
    session: Session, now: datetime, window: timedelta, baseline: timedelta, limit: int = 5
) -> list[SourceMove]:
    """Sources whose mean score in ``[now - window, now)`` moved most against the ``baseline``
    before that window; sources without scored items in the window are left out."""
    now = as_utc(now)
    window_start = now - window
    in_window = and_(item_time >= window_start, item_time < now)
    rows = session.execute(
        select(
            Source.name,
            func.sum(case((in_window, 1), else_=0)),
            func.avg(case((in_window, Score.score))),
            func.sum(case((~in_window, 1), else_=0)),
            func.avg(case((~in_window, Score.score))),
        )
        .join(Item, Item.source_id == Source.id)
        .join(Score, (Score.item_id == Item.id) & newest_score())
        .where(item_time >= window_start - baseline, item_time < now)
        .group_by(Source.name)
    ).all()
    moves = []
    for name, n_now, mean_now, n_before, mean_before in rows:
        if not n_now:
            continue
        before = None if mean_before is None else float(mean_before)
        change = float(mean_now) - (before or 0.0)
        moves.append(SourceMove(name, int(n_now), float(mean_now), int(n_before), before, change))
    return sorted(moves, key=lambda m: (-abs(m.change), m.source))[:limit]


ENTITY_SORTS = {
    "-mentions": "most mentioned first",
    "mentions": "least mentioned first",
    "name": "by name, A to Z",
    "-name": "by name, Z to A",
    "mean_score": "most negative mean score first",
    "-mean_score": "most positive mean score first",
    "trend": "most falling trend first",
    "-trend": "most rising trend first",
}
"""The orders of the entity list: a field, ``-`` for descending; entities without that figure
(no scored mention) come last either way, ties by name."""


@dataclass
class EntityPage:
    entities: list[dict]
    total: int


def _figures_dict(figures: rollups.WindowFigures) -> dict:
    return {
        "mentions": figures.mentions,
        "scored": figures.scored,
        "mean_score": figures.mean_score,
        "recent_days": figures.recent_days,
        "recent_mentions": figures.recent_mentions,
        "recent_mean_score": figures.recent_mean_score,
        "trend": figures.trend,
        "last_mentioned": figures.last_mentioned and figures.last_mentioned.isoformat(),
    }


def _aliases(session: Session, entity_ids: list[int]) -> dict[int, list[str]]:
    aliases: dict[int, list[str]] = defaultdict(list)
    for chunk in range(0, len(entity_ids), 500):
        rows = session.execute(
            select(EntityAlias.entity_id, EntityAlias.alias)
            .where(EntityAlias.entity_id.in_(entity_ids[chunk : chunk + 500]))
            .order_by(EntityAlias.id)
        )
        for entity_id, alias in rows:
            aliases[entity_id].append(alias)
    return aliases


def _entity_order(sort: str):
    """A sort key for entity dicts: the figure (missing ones last), then the name."""
    if sort not in ENTITY_SORTS:
        raise ValueError(f"unknown sort {sort!r}; use one of {', '.join(ENTITY_SORTS)}")
    field, sign = sort.lstrip("-"), -1 if sort.startswith("-") else 1

    def key(entity: dict) -> tuple:
        name = entity["name"].casefold()
        if field == "name":
            return (name,)
        value = entity[field]
        return (value is None, 0 if value is None else sign * value, name)

    if field == "name" and sign < 0:
        return key, True
    return key, False


def list_entity_figures(
    session: Session,
    days: int = 30,
    sort: str = "-mentions",
    limit: int | None = None,
    offset: int = 0,
) -> EntityPage:
    """The watchlist with each entity's figures over the last ``days`` UTC days (today
    included): mentions, mean entity score, trend (see :class:`rollups.WindowFigures`);
    ordered by ``sort`` (one of :data:`ENTITY_SORTS`), then paged."""
    key, reverse = _entity_order(sort)
    figures = rollups.window_figures(session, days)
    empty = rollups.no_figures(days)
    rows = session.execute(
        select(Entity.id, Entity.name, Entity.ticker, Entity.exchange, Entity.origin)
    ).all()
    entities = [
        {
            "id": entity_id,
            "name": name,
            "ticker": ticker,
            "exchange": exchange,
            "origin": origin,
            **_figures_dict(figures.get(entity_id, empty)),
        }
        for entity_id, name, ticker, exchange, origin in rows
    ]
    entities.sort(key=key, reverse=reverse)
    page = entities[offset : None if limit is None else offset + limit]
    aliases = _aliases(session, [e["id"] for e in page])
    for entity in page:
        entity["aliases"] = aliases.get(entity.pop("id"), [])
    return EntityPage(page, len(entities))


def entity_figures(session: Session, entity: Entity, days: int = 30) -> dict:
    """One entity with its figures over the last ``days`` UTC days and its daily series (one
    row per day with mentions, oldest first): what ``focusdig entities show --json`` prints."""
    figures = rollups.window_figures(session, days, [entity.id]).get(entity.id)
    return {
        "name": entity.name,
        "ticker": entity.ticker,
        "exchange": entity.exchange,
        "origin": entity.origin,
        "aliases": [a.alias for a in entity.aliases],
        "days": days,
        **_figures_dict(figures or rollups.no_figures(days)),
        "series": [
            {
                "date": d.day.isoformat(),
                "mentions": d.mentions,
                "scored": d.scored,
                "mean_score": d.mean_score,
                "negative": d.negative,
                "neutral": d.neutral,
                "positive": d.positive,
            }
            for d in rollups.series(session, entity.id, days)
        ],
    }


def entity_items(
    session: Session,
    entity: Entity,
    limit: int = 20,
    offset: int = 0,
    min_confidence: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE,
) -> list[dict]:
    """The newest items that mention ``entity``, each as in :func:`list_items` with
    ``entity_score``: its entry for this entity (score, method, top words, mentions)."""
    items = find_items(session, ItemFilter(entity=entity.name), limit, offset, min_confidence)
    for item in items:
        item["entity_score"] = next(e for e in item["entities"] if e["name"] == entity.name)
    return items


def entity_days(series: list[dict]) -> list[DayPoint]:
    """An entity's daily series (:func:`entity_figures`) as chart points: mentions as items."""
    return [
        DayPoint(
            date.fromisoformat(d["date"]),
            d["mentions"],
            d["mean_score"],
            d["negative"],
            d["neutral"],
            d["positive"],
        )
        for d in series
    ]

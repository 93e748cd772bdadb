"""The pipeline's entity step: find mentions, score each (item, entity), update rollups.

Items are scanned once they can be read in English (like scoring). An item is scanned again
when the watchlist changed after its scan (an entity added, an alias or ticker changed) and it
is dated within the backfill window (``FOCUSDIG_ENTITY_BACKFILL_DAYS``). Each batch is one
write transaction holding the rollup writer lock: mentions, entity scores and scan marks are
inserted with unique keys (a rerun or a concurrent run adds nothing) and the touched
(entity, day) rollups are recomputed from their source rows.

The English scored text (``focusdig.scoring.item_text`` or the translation) is searched, and
so is the original-language text of a translated item; a mention found only there is placed
in the English text through the translation's word alignment. Its entity score is targeted
(markers around the mentions) when the champion supports targets, else the sentence-level
score of the sentence(s) holding the mention; ``entity_scores.method`` says which.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, exists, func, select
from sqlalchemy.orm import Session, aliased, selectinload

from focusdig.classifier import Classifier, Prediction
from focusdig.database import (
    insert_all_unless_present,
    serialize_writers,
    session_scope,
    upsert_statement,
)
from focusdig.entities import rollups
from focusdig.entities.extract import Extractor, Mention, WatchEntry
from focusdig.schema import (
    Entity,
    EntityMention,
    EntityScan,
    EntityScore,
    Item,
    Translation,
    utcnow,
)
from focusdig.scoring import ENGLISH, english_span, item_text, source_span
from focusdig.settings import DEFAULT_MIN_TRANSLATION_CONFIDENCE

# items scanned per transaction: the sentences to score of many items at once, sorted by
# length, pad less and batch better (measured: about a fifth less classifier CPU than 64 items)
SCAN_SIZE = 512
_extractors: dict[tuple[str, int, int, int], Extractor] = {}
_extractors_lock = threading.Lock()


def watchlist_key(session: Session) -> tuple[int, int, int]:
    """Changes whenever an entity is added, removed or changed: (revision, count, max id)."""
    row = session.execute(
        select(func.coalesce(func.max(Entity.revision), 0), func.count(), func.max(Entity.id))
    ).one()
    return int(row[0]), int(row[1]), int(row[2] or 0)


def extractor_for(session: Session) -> tuple[int, Extractor]:
    """(watchlist revision, extractor for the current watchlist), built once per version of
    each database's watchlist."""
    revision, count, max_id = watchlist_key(session)
    url = session.get_bind().url.render_as_string(hide_password=True)
    key = (url, revision, count, max_id)
    with _extractors_lock:
        if key not in _extractors:
            entities = session.scalars(select(Entity).options(selectinload(Entity.aliases)))
            entries = [
                WatchEntry(e.id, e.name, e.ticker, tuple(a.alias for a in e.aliases), e.exchange)
                for e in entities
            ]
            _extractors.clear()
            _extractors[key] = Extractor(entries)
        return revision, _extractors[key]


def scan_filter(revision: int, backfill_since: datetime | None):
    """Readable items never scanned, or scanned before ``revision`` and dated since
    ``backfill_since``."""
    translation = aliased(Translation)
    readable = (
        Item.language.is_(None)
        | Item.language.in_(ENGLISH)
        | exists().where(translation.item_id == Item.id)
    )
    wanted = ~exists().where(EntityScan.item_id == Item.id)
    if backfill_since is not None:
        when = func.coalesce(Item.published_at, Item.fetched_at)
        stale = exists().where(EntityScan.item_id == Item.id, EntityScan.revision < revision)
        wanted = wanted | (stale & (when >= backfill_since))
    return readable & wanted


@dataclass
class ItemEntities:
    """What one item says about the watchlist."""

    item_id: int
    day: object
    text: str  # the scored (English) text
    translation: Translation | None
    mentions: list[tuple[Mention, bool]] = field(default_factory=list)  # (mention, in_source)

    def targets(self) -> dict[int, list[tuple[int, int]]]:
        """Per entity, the spans of its mentions in the English text (empty for an entity
        found only in the source text, at no aligned English word: scored on the whole text)."""
        spans: dict[int, set[tuple[int, int]]] = defaultdict(set)
        for m, in_source in self.mentions:
            if not in_source:
                spans[m.entity_id].add((m.start, m.end))
                continue
            span = english_span(self.translation.alignment, m.start, m.end)
            spans[m.entity_id].update([span] if span else [])
        return {e: sorted(s) for e, s in spans.items()}


@dataclass
class BatchResult:
    items: int
    mentions: int
    scores: int


def _find(extractor: Extractor, rows) -> list[ItemEntities]:
    found = []
    texts, sources = [], []
    for item, translation in rows:
        text = translation.text if translation else item_text(item.kind, item.title, item.text)
        day = rollups.item_day(item.published_at, item.fetched_at)
        found.append(ItemEntities(item.id, day, text, translation))
        texts.append(text)
        sources.append(translation.source_text if translation else "")
    for entry, english, original in zip(
        found, extractor.extract_many(texts), extractor.extract_many(sources), strict=True
    ):
        entry.mentions = [(m, False) for m in english] + [(m, True) for m in original]
    return found


def _token_json(pred: Prediction, translation: Translation | None) -> list[dict]:
    tokens = []
    for t in pred.top_tokens:
        token = dict(t)
        span = translation and source_span(translation.alignment, t["start"], t["end"])
        if span:
            token["source_word"] = translation.source_text[span[0] : span[1]]
            token["source_start"], token["source_end"] = span
        tokens.append(token)
    return tokens


def _store(
    session: Session,
    found: list[ItemEntities],
    pairs: list[tuple[ItemEntities, int, bool]],
    predictions: list[Prediction],
    model_id: int,
    revision: int,
    min_confidence: float,
    explanation: str | None,
) -> tuple[int, int]:
    """Insert mentions, entity scores (their words weighted by ``explanation``) and scan marks;
    recompute touched rollups (leaving out the scores of translations with a confidence below
    ``min_confidence``)."""
    serialize_writers(session, rollups.LOCK)
    wanted = {m.entity_id for entry in found for m, _ in entry.mentions}
    alive = set(session.scalars(select(Entity.id).where(Entity.id.in_(wanted))))
    mention_rows = [
        {
            "item_id": entry.item_id,
            "entity_id": m.entity_id,
            "in_source": in_source,
            "start": m.start,
            "end": m.end,
            "matched": m.matched[:300],
            "how": m.how,
        }
        for entry in found
        for m, in_source in entry.mentions
        if m.entity_id in alive
    ]
    score_rows = [
        {
            "item_id": entry.item_id,
            "entity_id": entity_id,
            "model_version_id": model_id,
            "method": "target" if targeted else "sentence",
            "label": p.label,
            "score": p.score,
            "prob_negative": p.probs["negative"],
            "prob_neutral": p.probs.get("neutral", 0.0),  # a bullish/bearish model has none
            "prob_positive": p.probs["positive"],
            "top_tokens": _token_json(p, entry.translation),
            "explanation": explanation,
            "scored_at": utcnow(),
        }
        for (entry, entity_id, targeted), p in zip(pairs, predictions, strict=True)
        if entity_id in alive
    ]
    mentions = insert_all_unless_present(session, EntityMention, mention_rows)
    scores = insert_all_unless_present(session, EntityScore, score_rows)
    scan = upsert_statement(session, EntityScan)
    scan = scan.on_conflict_do_update(
        index_elements=["item_id"],
        set_={"revision": scan.excluded.revision, "scanned_at": scan.excluded.scanned_at},
        where=EntityScan.revision < scan.excluded.revision,
    )
    now = utcnow()
    session.execute(
        scan, [{"item_id": e.item_id, "revision": revision, "scanned_at": now} for e in found]
    )
    rollups.recompute(
        session,
        {(m.entity_id, e.day) for e in found for m, _ in e.mentions if m.entity_id in alive},
        min_confidence,
    )
    return mentions, scores


def iter_entity_batches(
    engine: Engine,
    classifier: Classifier,
    model_id: int,
    batch_size: int = 64,
    backfill_since: datetime | None = None,
    min_confidence: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE,
    scan_size: int = SCAN_SIZE,
) -> Iterator[BatchResult]:
    """Scan and score every item due (see the module docstring), ``scan_size`` items a
    transaction, the classifier in batches of ``batch_size`` sentences; rollups leave out the
    scores of translations with a confidence below ``min_confidence``."""
    after = 0
    while True:
        with session_scope(engine) as session:
            revision, extractor = extractor_for(session)
            if not len(extractor):
                return
            rows = session.execute(
                select(Item, Translation)
                .outerjoin(Translation, Translation.item_id == Item.id)
                .where(scan_filter(revision, backfill_since), Item.id > after)
                .order_by(Item.id)
                .limit(scan_size)
            ).all()
            if not rows:
                return
            after = rows[-1][0].id
            found = _find(extractor, rows)
            ids = [e.item_id for e in found if e.mentions]
            done = {
                (item_id, entity_id)
                for item_id, entity_id in session.execute(
                    select(EntityScore.item_id, EntityScore.entity_id).where(
                        EntityScore.item_id.in_(ids), EntityScore.model_version_id == model_id
                    )
                )
            }
        pairs, texts, spans = [], [], []
        for entry in found:
            for entity_id, targets in entry.targets().items():
                if (entry.item_id, entity_id) not in done:
                    pairs.append((entry, entity_id, bool(targets) and classifier.supports_targets))
                    texts.append(entry.text)
                    spans.append(targets)
        predictions = classifier.predict_targets(texts, spans, batch_size=batch_size)
        with session_scope(engine) as session:
            mentions, scores = _store(
                session,
                found,
                pairs,
                predictions,
                model_id,
                revision,
                min_confidence,
                classifier.model.explanation,
            )
        yield BatchResult(len(found), mentions, scores)


def count_unscanned(engine: Engine, backfill_since: datetime | None = None) -> int:
    with session_scope(engine) as session:
        revision = watchlist_key(session)[0]
        if revision == 0:
            return 0
        return session.scalar(
            select(func.count(Item.id)).where(scan_filter(revision, backfill_since))
        )

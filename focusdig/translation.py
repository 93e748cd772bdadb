"""Language identification and translation of stored items into English.

Each item's language is detected once (the source's declared language is a hint); each
non-English item in a language the translator knows is translated once, never again: the
``translations.item_id`` unique key makes a second translation a no-op, even from a concurrent run.

Every translation is stored with the translator's confidence (``Translation.confidence``, see
``focusdig.translator.translate``). One below the threshold
(``FOCUSDIG_MIN_TRANSLATION_CONFIDENCE``) is still stored and scored, but *flagged*:
:func:`is_low_confidence` says so for a value, and :func:`trusted_item` is the SQL condition
that leaves flagged items out (of rollups, alerts).
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import ColumnElement, Engine, bindparam, case, exists, func, null, select, update

from focusdig.database import insert_unless_present, session_scope
from focusdig.langid import detect_languages
from focusdig.schema import Item, Source, Translation, utcnow
from focusdig.scoring import item_text
from focusdig.settings import DEFAULT_MIN_TRANSLATION_CONFIDENCE, DEFAULT_TRANSLATION_BEAM

ENGLISH = ("en", "und")


def is_low_confidence(
    confidence: float | None, threshold: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE
) -> bool:
    """Whether a translation with this confidence is flagged. None (no confidence known:
    stored before confidences existed, or not a translation) is not flagged."""
    return confidence is not None and confidence < threshold


def low_confidence_item(
    threshold: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE, item_id: ColumnElement = Item.id
) -> ColumnElement[bool]:
    """SQL condition: the item ``item_id`` (default ``Item.id``; e.g. ``EntityScore.item_id``)
    has a flagged translation (confidence below ``threshold``)."""
    return exists().where(Translation.item_id == item_id, Translation.confidence < threshold)


def trusted_item(
    threshold: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE, item_id: ColumnElement = Item.id
) -> ColumnElement[bool]:
    """SQL condition: the item is not a flagged translation (original-language items and
    translations of unknown or sufficient confidence). What rollups and alerts keep."""
    return ~low_confidence_item(threshold, item_id)


def trusted_score(score: ColumnElement, threshold: float) -> ColumnElement:
    """``score``, or NULL for an item (``Item.id``) with a flagged translation: the item still
    counts, its score does not (alerts: volume yes, sentiment no)."""
    return case((low_confidence_item(threshold), null()), else_=score)


def iter_language_batches(engine: Engine, batch_size: int = 500) -> Iterator[int]:
    """Detect the language of items that have none yet; yields items updated per batch."""
    while True:
        with session_scope(engine) as session:
            rows = session.execute(
                select(Item.id, Item.kind, Item.title, Item.text, Source.language)
                .join(Source, Source.id == Item.source_id)
                .where(Item.language.is_(None))
                .order_by(Item.id)
                .limit(batch_size)
            ).all()
            if not rows:
                return
            texts = [item_text(kind, title, text) for _, kind, title, text, _ in rows]
            found = detect_languages(texts, hints=[hint for *_, hint in rows])
            session.connection().execute(  # one executemany; an item deleted meanwhile is skipped
                update(Item)
                .where(Item.id == bindparam("item_id"))
                .values(language=bindparam("found"), language_confidence=bindparam("confidence")),
                [
                    {"item_id": item_id, "found": language, "confidence": float(confidence)}
                    for (item_id, *_), (language, confidence) in zip(rows, found, strict=True)
                ],
            )
        yield len(rows)


def untranslated_filter(languages: tuple[str, ...]):
    translated = exists().where(Translation.item_id == Item.id)
    return Item.language.in_(languages) & ~translated


def count_untranslated(engine: Engine, languages: tuple[str, ...]) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count(Item.id)).where(untranslated_filter(languages)))


def iter_translation_batches(
    engine: Engine,
    translator,
    model_id: int,
    batch_size: int = 64,
    languages: tuple[str, ...] | None = None,
    beam_size: int = DEFAULT_TRANSLATION_BEAM,
) -> Iterator[int]:
    """Translate every untranslated item in ``languages`` (default: all the translator's), a
    transaction a batch."""
    languages = tuple(lang for lang in (languages or translator.languages) if lang not in ENGLISH)
    after = 0
    while True:
        with session_scope(engine) as session:
            items = list(
                session.scalars(
                    select(Item)
                    .where(untranslated_filter(languages), Item.id > after)
                    .order_by(Item.id)
                    .limit(batch_size)
                )
            )
            if not items:
                return
            after = items[-1].id
            sources = [item_text(i.kind, i.title, i.text) for i in items]
            results = translator.translate(
                sources,
                src_lang=[i.language for i in items],
                beam_size=beam_size,
                batch_size=batch_size,
            )
            stored = 0
            for item, source_text, result in zip(items, sources, results, strict=True):
                row = {
                    "item_id": item.id,
                    "model_version_id": model_id,
                    "source_language": result.source_language,
                    "source_text": source_text,
                    "text": result.text,
                    "alignment": result.alignment,
                    "confidence": result.confidence,
                    "translated_at": utcnow(),
                }
                stored += insert_unless_present(session, Translation, row) is not None
        yield stored

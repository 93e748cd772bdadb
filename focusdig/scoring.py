"""Score stored items with the champion classifier; store label, probabilities and top words.

The text a score's token offsets refer to is :func:`item_text`: ``title + "\\n\\n" + text`` for
news, the comment body alone for comments (their titles are "Comment by … on …" boilerplate);
for a translated item it is the English translation, and each top word also names the source
word it is aligned to. Each score records how its words were weighted (``Score.explanation``:
the classifier's explanation, ``FOCUSDIG_EXPLANATION``).

Items are scored once they can be read in English (English or undetermined, or translated), by
the champion of the day; after a promotion, only new items get the new champion's score unless
``rescore_since`` asks for recent items to be rescored too (old scores are kept).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Engine, exists, func, insert, select
from sqlalchemy.orm import Session, aliased

from focusdig.classifier import Classifier, Prediction
from focusdig.database import session_scope, upsert_statement
from focusdig.schema import Item, Score, ScoreToken, Translation, utcnow

TITLE_SEPARATOR = "\n\n"
ENGLISH = ("en", "und")


def item_text(kind: str, title: str, text: str) -> str:
    """The text that is scored (and that stored offsets index into)."""
    if kind == "comments" or not title:
        return text
    return f"{title}{TITLE_SEPARATOR}{text}" if text else title


def scorable_filter(model_id: int, rescore_since: datetime | None = None):
    """Items to score with ``model_id``: never scored by any model (or, with ``rescore_since``,
    fetched since then and not yet scored by this one), and readable in English."""
    scored_by_model = exists().where(Score.item_id == Item.id, Score.model_version_id == model_id)
    scored_at_all = exists().where(Score.item_id == Item.id)
    translation = aliased(Translation)
    translated = exists().where(translation.item_id == Item.id)
    readable = Item.language.is_(None) | Item.language.in_(ENGLISH) | translated
    wanted = ~scored_at_all
    if rescore_since is not None:
        wanted = wanted | (Item.fetched_at >= rescore_since)
    return ~scored_by_model & wanted & readable


def _aligned(
    alignment: list[dict] | None, start: int, end: int, side: str, other: str
) -> tuple[int, int] | None:
    best = None
    for link in alignment or ():
        overlaps = link[f"{side}_start"] < end and start < link[f"{side}_end"]
        if overlaps and (best is None or link["weight"] > best["weight"]):
            best = link
    return (best[f"{other}_start"], best[f"{other}_end"]) if best else None


def source_span(alignment: list[dict] | None, start: int, end: int) -> tuple[int, int] | None:
    """The source-text span the English span [start, end) is most strongly aligned to."""
    return _aligned(alignment, start, end, "tgt", "src")


def english_span(alignment: list[dict] | None, start: int, end: int) -> tuple[int, int] | None:
    """The English span the source-text span [start, end) is most strongly aligned to."""
    return _aligned(alignment, start, end, "src", "tgt")


def _token_rows(score_id: int, pred: Prediction, translation: Translation | None) -> list[dict]:
    rows = []
    for rank, t in enumerate(pred.top_tokens, start=1):
        span = translation and source_span(translation.alignment, t["start"], t["end"])
        rows.append(
            {
                "score_id": score_id,
                "rank": rank,
                "word": t["word"][:200],
                "weight": float(t["weight"]),
                "start": t["start"],
                "end": t["end"],
                "source_word": translation.source_text[span[0] : span[1]][:200] if span else None,
                "source_start": span[0] if span else None,
                "source_end": span[1] if span else None,
            }
        )
    return rows


def _store_scores(
    session: Session,
    rows: list[tuple[Item, Translation | None]],
    predictions: list[Prediction],
    model_id: int,
    explanation: str | None,
) -> int:
    """Insert the scores of a batch (those of (item, model) pairs already scored are skipped)
    and their top words, each in one statement; returns how many scores were stored.
    ``explanation``: how the words were weighted (the classifier's ``model.explanation``)."""
    now = utcnow()
    score_rows = [
        {
            "item_id": item.id,
            "model_version_id": model_id,
            "label": p.label,
            "score": p.score,
            "prob_negative": p.probs["negative"],
            "prob_neutral": p.probs.get("neutral", 0.0),  # a bullish/bearish model has none
            "prob_positive": p.probs["positive"],
            "scored_at": now,
            "explanation": explanation,
        }
        for (item, _), p in zip(rows, predictions, strict=True)
    ]
    if not score_rows:
        return 0
    stmt = upsert_statement(session, Score).on_conflict_do_nothing()
    stored = dict(session.execute(stmt.returning(Score.item_id, Score.id), score_rows).all())
    tokens = [
        token
        for (item, translation), p in zip(rows, predictions, strict=True)
        if item.id in stored
        for token in _token_rows(stored[item.id], p, translation)
    ]
    if tokens:
        session.execute(insert(ScoreToken.__table__), tokens)  # Core: no ORM bookkeeping
    return len(stored)


def iter_score_batches(
    engine: Engine,
    classifier: Classifier,
    model_id: int,
    batch_size: int = 64,
    rescore_since: datetime | None = None,
) -> Iterator[int]:
    """Score every item not yet scored by ``model_id``, one transaction per batch.

    Yields how many items each batch stored. Safe to rerun or run twice at once: the
    (item, model) unique key makes a second score of the same item a no-op.
    """
    after = 0
    while True:
        with session_scope(engine) as session:
            rows = session.execute(
                select(Item, Translation)
                .outerjoin(Translation, Translation.item_id == Item.id)
                .where(scorable_filter(model_id, rescore_since), Item.id > after)
                .order_by(Item.id)
                .limit(batch_size)
            ).all()
            if not rows:
                return
            after = rows[-1][0].id
            texts = [t.text if t else item_text(i.kind, i.title, i.text) for i, t in rows]
            predictions = classifier.predict(texts, batch_size=batch_size)
            stored = _store_scores(
                session, rows, predictions, model_id, classifier.model.explanation
            )
        yield stored


def count_unscored(engine: Engine, model_id: int, rescore_since: datetime | None = None) -> int:
    query = select(func.count(Item.id)).where(scorable_filter(model_id, rescore_since))
    with session_scope(engine) as session:
        return session.scalar(query)

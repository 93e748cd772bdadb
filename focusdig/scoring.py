"""Score stored items with the champion classifier; store label, probabilities and top words.

The text a score's token offsets refer to is :func:`item_text`: ``title + "\\n\\n" + text`` for
news, the comment body alone for comments (their titles are "Comment by … on …" boilerplate).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from focusdig.classifier import Classifier, Prediction
from focusdig.database import session_scope
from focusdig.schema import Item, Score, ScoreToken, utcnow

TITLE_SEPARATOR = "\n\n"


def item_text(kind: str, title: str, text: str) -> str:
    """The text that is scored (and that stored offsets index into)."""
    if kind == "comments" or not title:
        return text
    return f"{title}{TITLE_SEPARATOR}{text}" if text else title


def _unscored(session: Session, model_id: int, after_id: int, limit: int) -> list[Item]:
    scored = exists().where(Score.item_id == Item.id, Score.model_version_id == model_id)
    query = select(Item).where(~scored, Item.id > after_id).order_by(Item.id).limit(limit)
    return list(session.scalars(query))


def _insert_score(session: Session, item_id: int, model_id: int, p: Prediction) -> int | None:
    """Insert one score unless that (item, model) is already scored; returns its id or None."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(Score)
        .values(
            item_id=item_id,
            model_version_id=model_id,
            label=p.label,
            score=p.score,
            prob_negative=p.probs["negative"],
            prob_neutral=p.probs["neutral"],
            prob_positive=p.probs["positive"],
            scored_at=utcnow(),
        )
        .on_conflict_do_nothing()
        .returning(Score.id)
    )
    return session.execute(stmt).scalar()


@dataclass
class ScoreReport:
    scored: int = 0
    batches: int = 0
    model_version: str = ""


def iter_score_batches(
    engine: Engine, classifier: Classifier, model_id: int, batch_size: int = 64
) -> Iterator[int]:
    """Score every item not yet scored by ``model_id``, one transaction per batch.

    Yields how many items each batch stored. Safe to rerun or run twice at once: the
    (item, model) unique key makes a second score of the same item a no-op.
    """
    after = 0
    while True:
        with session_scope(engine) as session:
            items = _unscored(session, model_id, after, batch_size)
            if not items:
                return
            after = items[-1].id
            texts = [item_text(i.kind, i.title, i.text) for i in items]
            stored = 0
            for item, pred in zip(
                items, classifier.predict(texts, batch_size=batch_size), strict=True
            ):
                score_id = _insert_score(session, item.id, model_id, pred)
                if score_id is None:
                    continue
                stored += 1
                session.add_all(
                    ScoreToken(
                        score_id=score_id,
                        rank=rank,
                        word=t["word"][:200],
                        weight=float(t["weight"]),
                        start=t["start"],
                        end=t["end"],
                    )
                    for rank, t in enumerate(pred.top_tokens, start=1)
                )
        yield stored


def score_items(
    engine: Engine, classifier: Classifier, model_id: int, batch_size: int = 64
) -> ScoreReport:
    report = ScoreReport(model_version=classifier.version)
    for stored in iter_score_batches(engine, classifier, model_id, batch_size):
        report.scored += stored
        report.batches += 1
    return report


def count_unscored(engine: Engine, model_id: int) -> int:
    scored = exists().where(Score.item_id == Item.id, Score.model_version_id == model_id)
    with session_scope(engine) as session:
        return session.scalar(select(func.count(Item.id)).where(~scored))

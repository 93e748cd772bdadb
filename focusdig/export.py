"""Items (and their latest scores) as a pandas DataFrame, written as CSV, Parquet or JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import aliased

from focusdig.schema import (
    Entity,
    EntityScore,
    Item,
    ModelVersion,
    Score,
    ScoreToken,
    Source,
    Translation,
)
from focusdig.settings import DEFAULT_MIN_TRANSLATION_CONFIDENCE

EXPORT_FORMATS = ("csv", "parquet", "jsonl")
ITEM_COLUMNS = [
    "item_id",
    "source",
    "kind",
    "url",
    "title",
    "text",
    "language",
    "published_at",
    "fetched_at",
    "author",
    "parent_item_id",
    "parent_url",
    "translated_text",
    "translation_confidence",
    "translation_flagged",
]
SCORE_COLUMNS = [
    "label",
    "score",
    "prob_negative",
    "prob_neutral",
    "prob_positive",
    "top_tokens",
    "explanation",
    "model_version",
    "translation_model",
    "entities",
]


def items_frame(
    engine: Engine,
    limit: int | None = None,
    min_confidence: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE,
) -> pd.DataFrame:
    """One row per item, newest first, with its latest score and top words (if scored).

    ``translation_confidence`` is the translator's confidence (empty when not translated);
    ``translation_flagged`` is true when it is below ``min_confidence``; ``explanation`` names
    how ``top_tokens`` were weighted (flow, pooling, rollout, cls; empty: not recorded)."""
    latest = select(func.max(Score.id).label("score_id")).group_by(Score.item_id).subquery()
    translator = aliased(ModelVersion)
    query = (
        select(
            Item.id.label("item_id"),
            Source.name.label("source"),
            Item.kind,
            Item.url,
            Item.title,
            Item.text,
            Item.language,
            Item.published_at,
            Item.fetched_at,
            Item.author,
            Item.parent_item_id,
            Item.parent_url,
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
            translator.version.label("translation_model"),
        )
        .join(Source, Source.id == Item.source_id)
        .outerjoin(Translation, Translation.item_id == Item.id)
        .outerjoin(Score, (Score.item_id == Item.id) & Score.id.in_(select(latest.c.score_id)))
        .outerjoin(ModelVersion, ModelVersion.id == Score.model_version_id)
        .outerjoin(translator, translator.id == Translation.model_version_id)
        .order_by(Item.published_at.desc().nulls_last(), Item.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
        score_ids = [r["score_id"] for r in rows if r["score_id"] is not None]
        tokens: dict[int, list[dict]] = {sid: [] for sid in score_ids}
        for chunk in range(0, len(score_ids), 500):
            token_rows = conn.execute(
                select(ScoreToken.score_id, ScoreToken.word, ScoreToken.weight)
                .where(ScoreToken.score_id.in_(score_ids[chunk : chunk + 500]))
                .order_by(ScoreToken.score_id, ScoreToken.rank)
            )
            for score_id, word, weight in token_rows:
                tokens[score_id].append({"word": word, "weight": round(weight, 4)})
        entities = item_entities(conn, [r["item_id"] for r in rows])
    frame = pd.DataFrame(
        rows,
        columns=[
            *ITEM_COLUMNS[:-1],
            "score_id",
            *SCORE_COLUMNS[:5],
            "explanation",
            "model_version",
            "translation_model",
        ],
    )
    confidence = pd.to_numeric(frame["translation_confidence"]).astype("float64")
    frame["translation_confidence"] = confidence
    frame["translation_flagged"] = confidence < min_confidence  # NaN (none known): False
    frame["top_tokens"] = [
        json.dumps(tokens[sid], ensure_ascii=False) if pd.notna(sid) else None
        for sid in frame.pop("score_id")
    ]
    frame["entities"] = [
        json.dumps(entities.get(item_id, []), ensure_ascii=False) for item_id in frame["item_id"]
    ]
    frame = frame[[*ITEM_COLUMNS, *SCORE_COLUMNS]]
    for column in ("published_at", "fetched_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["parent_item_id"] = frame["parent_item_id"].astype("Int64")
    return frame


def item_entities(conn, item_ids: list[int]) -> dict[int, list[dict]]:
    """Per item, its entities with the newest entity score: [{name, ticker, label, score}]."""
    latest: dict[int, dict[str, dict]] = {}
    for chunk in range(0, len(item_ids), 500):
        rows = conn.execute(
            select(EntityScore.item_id, Entity.name, Entity.ticker, EntityScore.label)
            .add_columns(EntityScore.score)
            .join(Entity, Entity.id == EntityScore.entity_id)
            .where(EntityScore.item_id.in_(item_ids[chunk : chunk + 500]))
            .order_by(EntityScore.id)
        )
        for item_id, name, ticker, label, score in rows:
            latest.setdefault(item_id, {})[name] = {
                "name": name,
                "ticker": ticker,
                "label": label,
                "score": round(score, 4),
            }
    return {item_id: list(by_name.values()) for item_id, by_name in latest.items()}


def write_frame(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    """Write ``frame`` as ``fmt`` (csv, parquet or jsonl); timestamps as ISO 8601 UTC."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    elif fmt == "csv":
        frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    else:
        frame.to_json(path, orient="records", lines=True, date_format="iso", force_ascii=False)

"""Items (and their latest scores) as a pandas DataFrame, written as CSV, Parquet or JSON Lines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select

from focusdig.schema import Item, Source

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
]


def items_frame(engine: Engine, limit: int | None = None) -> pd.DataFrame:
    """One row per item, newest first."""
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
        )
        .join(Source, Source.id == Item.source_id)
        .order_by(Item.published_at.desc().nulls_last(), Item.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    frame = pd.DataFrame(rows, columns=ITEM_COLUMNS)
    for column in ("published_at", "fetched_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["parent_item_id"] = frame["parent_item_id"].astype("Int64")
    return frame


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

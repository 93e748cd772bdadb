"""``/api/items``: items with their latest score, top words and current label."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from focusdig.api.deps import SessionDep, SettingsDep
from focusdig.api.schemas import ItemOut, ItemPageOut, SentimentLabel
from focusdig.queries import MAX_OFFSET, ItemFilter, get_item, list_items

router = APIRouter(prefix="/api", tags=["items"])


@router.get("/items", response_model=ItemPageOut)
def items(
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="deeper pages: narrow with `until`")
    ] = 0,
    source: Annotated[str | None, Query(description="source name")] = None,
    entity: Annotated[
        str | None,
        Query(
            max_length=300,
            description="items that mention this watched entity (name, ticker or alias)",
        ),
    ] = None,
    language: Annotated[str | None, Query(description="detected language, e.g. en, zh")] = None,
    label: Annotated[SentimentLabel | None, Query(description="the latest score's label")] = None,
    since: Annotated[datetime | None, Query(description="item time >= since (naive: UTC)")] = None,
    until: Annotated[datetime | None, Query(description="item time < until (naive: UTC)")] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="text in title or body")
    ] = None,
) -> dict:
    """Items newest first (by published time, else fetch time); every filter given narrows."""
    where = ItemFilter(source, language, label, since, until, q, entity)
    page = list_items(
        session, where, limit, offset, min_confidence=settings.min_translation_confidence
    )
    return {
        "items": page.items,
        "total": page.total,
        "total_exact": page.total_exact,
        "limit": limit,
        "offset": offset,
    }


@router.get("/items/{item_id}", response_model=ItemOut, responses={404: {"description": "no item"}})
def item(item_id: int, session: SessionDep, settings: SettingsDep) -> dict:
    found = get_item(session, item_id, settings.min_translation_confidence)
    if found is None:
        raise HTTPException(404, f"no item {item_id}")
    return found

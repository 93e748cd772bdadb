"""``/api/entities``: the watchlist with its figures, and one entity's series and items."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy.orm import Session

from focusdig.api.deps import SessionDep, SettingsDep
from focusdig.api.schemas import EntityDetailOut, EntityPageOut
from focusdig.entities.watchlist import find_entity
from focusdig.queries import ENTITY_SORTS, entity_figures, entity_items, list_entity_figures
from focusdig.schema import Entity

router = APIRouter(prefix="/api", tags=["entities"])
EntitySort = Literal[tuple(ENTITY_SORTS)]
Days = Annotated[
    int, Query(ge=1, le=3650, description="window of UTC days, today included (figures, series)")
]


def entity_or_404(session: Session, name: str) -> Entity:
    """The watched entity of that name, ticker or alias; 404 when there is none."""
    entity = find_entity(session, name)
    if entity is None:
        raise HTTPException(404, f"no entity {name!r} on the watchlist (by name, ticker or alias)")
    return entity


@router.get("/entities", response_model=EntityPageOut)
def entities(
    session: SessionDep,
    days: Days = 30,
    sort: Annotated[
        EntitySort,
        Query(description="; ".join(f"`{k}`: {v}" for k, v in ENTITY_SORTS.items())),
    ] = "-mentions",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    """Every watched entity with its mentions, mean entity score and trend over the window
    (from the daily rollups), ordered by ``sort``; entities without that figure come last."""
    page = list_entity_figures(session, days, sort, limit, offset)
    return {
        "entities": page.entities,
        "total": page.total,
        "days": days,
        "sort": sort,
        "limit": limit,
        "offset": offset,
    }


@router.get(
    "/entities/{name:path}",
    response_model=EntityDetailOut,
    responses={404: {"description": "no such entity on the watchlist"}},
)
def entity(
    name: str,
    session: SessionDep,
    settings: SettingsDep,
    days: Days = 30,
    items: Annotated[
        int, Query(ge=0, le=200, description="how many of the newest items that mention it")
    ] = 20,
) -> dict:
    """One entity (by name, ticker or alias, any case): its figures and daily series over the
    window, and the newest items that mention it with their score toward it (method, top
    words) whatever their date."""
    found = entity_or_404(session, name)
    detail = entity_figures(session, found, days)
    detail["items"] = entity_items(
        session, found, items, min_confidence=settings.min_translation_confidence
    )
    return detail

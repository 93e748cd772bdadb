"""``/api/alerts``: sentiment shifts and volume spikes, newest first."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from focusdig.alerts.store import list_alerts
from focusdig.api.deps import SessionDep
from focusdig.api.schemas import AlertOut
from focusdig.schema import utcnow

router = APIRouter(prefix="/api", tags=["alerts"])


@router.get("/alerts", response_model=list[AlertOut])
def alerts(
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=3650, description="windows that ended in these days")] = 7,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    subject_kind: Annotated[Literal["source", "entity"] | None, Query()] = None,
    subject: Annotated[
        str | None, Query(max_length=200, description="a source's or entity's name")
    ] = None,
) -> list[dict]:
    """Alerts whose window ended in the last ``days`` days, newest first; filters combine."""
    since = utcnow() - timedelta(days=days)
    return list_alerts(session, since, limit, subject_kind, subject)

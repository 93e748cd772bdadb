"""``/api/alerts``: sentiment shifts and volume spikes, newest first."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

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
) -> list[dict]:
    """Alerts whose window ended in the last ``days`` days, newest first."""
    return list_alerts(session, since=utcnow() - timedelta(days=days), limit=limit)

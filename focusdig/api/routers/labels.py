"""The active-learning queue, and labels posted by people (writes need the API token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from focusdig.api.deps import SessionDep, WriterDep
from focusdig.api.schemas import LabelIn, LabelOut, QueueEntry, QueueStrategy
from focusdig.labels import add_label, label_queue
from focusdig.registry import champion
from focusdig.schema import Item

router = APIRouter(prefix="/api", tags=["labels"])


@router.get("/label-queue", response_model=list[QueueEntry])
def queue(
    session: SessionDep,
    n: Annotated[int, Query(ge=1, le=200)] = 20,
    strategy: QueueStrategy = "margin",
) -> list[dict]:
    """Unlabeled items the champion is least sure of, without near-duplicates."""
    return label_queue(session, champion(session).id, n, strategy)


@router.post(
    "/labels",
    response_model=LabelOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": LabelOut, "description": "the item already had this label"},
        401: {"description": "missing or wrong bearer token"},
        403: {"description": "writes are disabled (no FOCUSDIG_API_TOKEN)"},
        404: {"description": "no such item"},
    },
)
def post_label(body: LabelIn, annotator: WriterDep, session: SessionDep, response: Response):
    """Label an item (stored like any other label, superseding an older one)."""
    if session.get(Item, body.item_id) is None:
        raise HTTPException(404, f"no item {body.item_id}")
    row = add_label(session, body.label, item_id=body.item_id, annotator=annotator, origin="api")
    stored = row is not None
    if not stored:
        response.status_code = status.HTTP_200_OK
    return {"item_id": body.item_id, "label": body.label, "annotator": annotator, "stored": stored}

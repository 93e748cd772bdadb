"""Dependencies of the API's routes: settings, a database session per request, the writer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from focusdig.api.auth import WRITES_DISABLED, annotator_for, parse_tokens
from focusdig.database import session_scope
from focusdig.settings import Settings

bearer = HTTPBearer(auto_error=False, description="FOCUSDIG_API_TOKEN (writes only)")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """A session that commits when the route returns and rolls back when it raises."""
    with session_scope(request.app.state.engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def require_writer(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The annotator of a request allowed to write: 403 when no token is configured, 401 when
    the bearer token is missing or wrong."""
    tokens = parse_tokens(settings.api_token)
    if not tokens:
        raise HTTPException(status.HTTP_403_FORBIDDEN, WRITES_DISABLED)
    annotator = credentials and annotator_for(tokens, credentials.credentials)
    if not annotator:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return annotator


WriterDep = Annotated[str, Depends(require_writer)]

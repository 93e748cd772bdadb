"""Health, sources and the model registry."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from focusdig import __version__
from focusdig.api.auth import parse_tokens
from focusdig.api.deps import SessionDep, SettingsDep
from focusdig.api.schemas import HealthOut, ModelOut, SourceOut
from focusdig.database import session_scope
from focusdig.registry import describe_model, list_models
from focusdig.schema import ModelVersion
from focusdig.sources import list_sources

router = APIRouter(prefix="/api", tags=["system"])
MODEL_KINDS = ("classifier", "translator")


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(request: Request, settings: SettingsDep):
    """Whether the database answers, and which model versions are champions (translators: one
    per source language, so several may be, listed oldest first and comma separated)."""
    body = {
        "status": "ok",
        "version": __version__,
        "database": "ok",
        "champions": dict.fromkeys(MODEL_KINDS),
        "writes_enabled": bool(parse_tokens(settings.api_token)),
    }
    try:
        with session_scope(request.app.state.engine) as session:
            session.execute(text("SELECT 1"))
            rows = session.execute(
                select(ModelVersion.kind, ModelVersion.version)
                .where(ModelVersion.status == "champion")
                .order_by(ModelVersion.id)
            )
            champions: dict[str, list[str]] = {}
            for kind, version in rows:
                champions.setdefault(kind, []).append(version)
            body["champions"].update({k: ", ".join(v) for k, v in champions.items()})
    except SQLAlchemyError as exc:
        body.update(status="error", database=f"unreachable: {type(exc).__name__}")
        return JSONResponse(body, status_code=503)
    return body


@router.get("/sources", response_model=list[SourceOut])
def sources(session: SessionDep) -> list[dict]:
    """Every feed source with its last fetch status."""
    return list_sources(session)


@router.get("/models", response_model=list[ModelOut])
def models(session: SessionDep) -> list[dict]:
    """Every registered model version (classifiers, then translators), oldest first."""
    return [describe_model(m) for kind in MODEL_KINDS for m in list_models(session, kind)]

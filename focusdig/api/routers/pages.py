"""The dashboard's server-rendered pages (Jinja2, autoescaped: feed text is never markup)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from sqlalchemy import select

from focusdig.alerts.store import list_alerts
from focusdig.api.auth import WRITES_DISABLED, parse_tokens
from focusdig.api.charts import daily_chart
from focusdig.api.deps import SessionDep, SettingsDep
from focusdig.api.highlight import english_spans, highlight, source_spans
from focusdig.api.routers.entities import EntitySort, entity_or_404
from focusdig.api.schemas import SentimentLabel
from focusdig.entities.watchlist import find_entity
from focusdig.queries import (
    ENTITY_SORTS,
    MAX_OFFSET,
    ItemFilter,
    daily_by_source,
    entity_days,
    entity_figures,
    entity_items,
    get_item,
    list_entity_figures,
    list_items,
    source_moves,
)
from focusdig.registry import describe_model, list_models
from focusdig.schema import Source
from focusdig.scoring import item_text

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CHARTED_SOURCES = 8
CHARTED_ENTITIES = 3  # the overview charts the most mentioned entities of the window
LISTED_ENTITIES = 10
ENTITY_ITEMS = 20
ENTITY_CHART = (760, 220)  # the entity page's chart, width and height in pixels
PAGE_SIZE = 50
ALERT_DAYS = 7  # the overview shows the alerts of this many days
SKIPPED_METRICS = {"history", "training_arguments", "pretraining", "n", "version"}
HEADLINE_METRICS = ("test", "retrain")  # shown in the table; the other figures folded away


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _web_link(url: str | None) -> str | None:
    """Only http(s) links become anchors (ingest already drops others; this is the backstop)."""
    return url if url and urlsplit(url).scheme in ("http", "https") else None


def _window(days: int) -> tuple[date, date]:
    """The first and last UTC day of a window of ``days`` days ending today."""
    last = datetime.now(UTC).date()
    return last - timedelta(days=days - 1), last


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    env.filters.update(when=_when, signed=_signed, web_link=_web_link)
    return env


templates = Jinja2Templates(env=_environment())


def numeric_metrics(metrics: dict | None, prefix: str = "") -> list[tuple[str, float]]:
    """The numeric leaves of a model's metrics (``test · twitter · macro_f1``), without
    training histories and arguments."""
    found: list[tuple[str, float]] = []
    for key, value in (metrics or {}).items():
        if key in SKIPPED_METRICS:
            continue
        name = f"{prefix} · {key}" if prefix else key
        if isinstance(value, dict):
            found += numeric_metrics(value, name)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found.append((name, value))
    return found


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    days: Annotated[int, Query(ge=2, le=365)] = 30,
):
    now = datetime.now(UTC)
    first, last = _window(days)
    series = daily_by_source(session, datetime(first.year, first.month, first.day, tzinfo=UTC))
    busiest = sorted(series, key=lambda name: (-sum(p.items for p in series[name]), name))
    charts = [(name, daily_chart(series[name], first, last)) for name in busiest[:CHARTED_SOURCES]]
    entities = list_entity_figures(session, days, "-mentions", LISTED_ENTITIES)
    mentioned = [e for e in entities.entities if e["mentions"]]
    entity_charts = []
    for listed in mentioned[:CHARTED_ENTITIES]:
        detail = entity_figures(session, find_entity(session, listed["name"]), days)
        entity_charts.append((listed, daily_chart(entity_days(detail["series"]), first, last)))
    context = {
        "days": days,
        "charts": charts,
        "more_sources": len(busiest) - len(charts),
        "entity_charts": entity_charts,
        "entities": mentioned,
        "watched": entities.total,
        "moves": source_moves(session, now, timedelta(days=1), timedelta(days=days)),
        "latest": list_items(
            session, limit=15, min_confidence=settings.min_translation_confidence
        ).items,
        "alerts": list_alerts(session, since=now - timedelta(days=ALERT_DAYS), limit=20),
        "alert_days": ALERT_DAYS,
    }
    return templates.TemplateResponse(request, "overview.html", context)


@router.get("/items", response_class=HTMLResponse)
def items_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    source: str | None = None,
    label: SentimentLabel | None = None,
    language: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    entity: Annotated[str | None, Query(max_length=300)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
):
    where = ItemFilter(source or None, language or None, label, q=q or None, entity=entity or None)
    page = list_items(
        session, where, PAGE_SIZE, offset, min_confidence=settings.min_translation_confidence
    )
    given = (("source", source), ("label", label), ("q", q), ("entity", entity))
    query = {k: v for k, v in given if v}
    if language:
        query["language"] = language
    context = {
        "page": page,
        "where": where,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "sources": list(session.scalars(select(Source.name).order_by(Source.name))),
        "previous": urlencode({**query, "offset": max(0, offset - PAGE_SIZE)}),
        "next": urlencode({**query, "offset": offset + PAGE_SIZE}),
    }
    return templates.TemplateResponse(request, "items.html", context)


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, session: SessionDep, settings: SettingsDep, item_id: int):
    threshold = settings.min_translation_confidence
    item = get_item(session, item_id, threshold)
    if item is None:
        raise HTTPException(404, f"no item {item_id}")
    original = item_text(item["kind"], item["title"], item["text"])
    tokens = item["top_tokens"]
    context = {"item": item, "min_confidence": threshold}
    if item["translated_text"] is not None:
        context["english"] = highlight(item["translated_text"], english_spans(tokens))
        context["original"] = highlight(original, source_spans(tokens))
    else:
        context["english"] = highlight(original, english_spans(tokens))
    if item["parent_item_id"]:
        context["parent"] = get_item(session, item["parent_item_id"], threshold)
    return templates.TemplateResponse(request, "item.html", context)


@router.get("/entities", response_class=HTMLResponse)
def entities_page(
    request: Request,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=3650)] = 30,
    sort: EntitySort = "-mentions",
    offset: Annotated[int, Query(ge=0)] = 0,
):
    page = list_entity_figures(session, days, sort, PAGE_SIZE, offset)
    context = {
        "page": page,
        "days": days,
        "sort": sort,
        "sorts": ENTITY_SORTS,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "previous": urlencode({"days": days, "sort": sort, "offset": max(0, offset - PAGE_SIZE)}),
        "next": urlencode({"days": days, "sort": sort, "offset": offset + PAGE_SIZE}),
    }
    return templates.TemplateResponse(request, "entities.html", context)


@router.get("/entities/{name:path}", response_class=HTMLResponse)
def entity_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    name: str,
    days: Annotated[int, Query(ge=2, le=365)] = 30,
):
    entity = entity_or_404(session, name)
    detail = entity_figures(session, entity, days)
    first, last = _window(days)
    items = entity_items(
        session, entity, ENTITY_ITEMS, min_confidence=settings.min_translation_confidence
    )
    for item in items:
        # the entity score's words index the scored text: the translation, else title and text
        scored = item["translated_text"] or item_text(item["kind"], item["title"], item["text"])
        item["marked"] = highlight(scored, english_spans(item["entity_score"]["top_tokens"]))
    context = {
        "entity": detail,
        "chart": daily_chart(entity_days(detail["series"]), first, last, *ENTITY_CHART),
        "items": items,
        "days": days,
    }
    return templates.TemplateResponse(request, "entity.html", context)


@router.get("/label", response_class=HTMLResponse)
def label_page(request: Request, settings: SettingsDep):
    writes = bool(parse_tokens(settings.api_token))
    context = {"writes_enabled": writes, "writes_disabled": WRITES_DISABLED}
    return templates.TemplateResponse(request, "label.html", context)


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, session: SessionDep):
    kinds = {}
    for kind in ("classifier", "translator"):
        rows = [describe_model(m) for m in list_models(session, kind)]
        for row in rows:
            metrics = row["metrics"] or {}
            row["headline"] = numeric_metrics(
                {k: metrics[k] for k in HEADLINE_METRICS if k in metrics}
            )
            row["other_metrics"] = numeric_metrics(
                {k: v for k, v in metrics.items() if k not in HEADLINE_METRICS}
            )
        history = sorted(
            (r for r in rows if r["promoted_at"]), key=lambda r: r["promoted_at"], reverse=True
        )
        kinds[kind] = {"versions": rows[::-1], "history": history}
    return templates.TemplateResponse(request, "models.html", {"kinds": kinds})

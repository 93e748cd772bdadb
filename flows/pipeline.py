"""Pipeline flow: ingest then process, with a run summary published as a Prefect artifact."""

from __future__ import annotations

import time

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.ingest import ingest_flow
from flows.process import process_flow
from focusdig.alerts.run import AlertReport, run_alerts
from focusdig.database import get_engine, session_scope
from focusdig.schema import utcnow
from focusdig.settings import Settings
from focusdig.sources import add_source, location_from_argument
from focusdig.summary import RunSummary, summarize, summary_markdown


@task(cache_policy=NO_CACHE)
def register_feeds(feeds: list[str], settings: Settings) -> list[int]:
    """Add the given feed URLs or paths as sources (if new); returns their IDs."""
    with session_scope(get_engine(settings)) as session:
        return [add_source(session, location_from_argument(f))[0].id for f in feeds]


@task(cache_policy=NO_CACHE)
def check_alerts(settings: Settings) -> AlertReport:
    """Look for sentiment shifts and volume spikes; deliver new and pending alerts."""
    return run_alerts(get_engine(settings), settings)


@flow(name="pipeline", log_prints=True)
def pipeline_flow(
    feeds: list[str] | None = None,
    device: str | None = None,
    batch_size: int = 64,
    fetch_retries: int | None = None,
) -> RunSummary:
    """Ingest the given feeds (default: every enabled source), translate and score, then check
    for alerts and deliver them.

    `fetch_retries`: retries of a feed's fetch on network errors, timeouts, 429 and 5xx
    (None: `FOCUSDIG_FETCH_RETRIES`, default 2).
    """
    settings = Settings.from_env()
    started_at = utcnow()
    t0 = time.perf_counter()
    source_ids = register_feeds(feeds, settings) if feeds else None
    reports = ingest_flow(source_ids, fetch_retries=fetch_retries)
    t1 = time.perf_counter()
    processed = process_flow(device=device, batch_size=batch_size)
    t2 = time.perf_counter()
    alerts = check_alerts(settings)
    seconds = {"ingest": t1 - t0, "process": t2 - t1, "alerts": time.perf_counter() - t2}
    summary = summarize(get_engine(settings), started_at, reports, processed, seconds, alerts)
    create_markdown_artifact(
        summary_markdown(summary), key="focusdig-run-summary", description="focusdig run"
    )
    return summary

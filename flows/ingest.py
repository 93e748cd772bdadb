"""Ingest flow: fetch every enabled source concurrently (retrying network I/O), then store."""

from __future__ import annotations

import time

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait

from focusdig.database import get_engine
from focusdig.ingest.fetch import FetchResult
from focusdig.ingest.runner import (
    SourceReport,
    fetch_source,
    is_transient,
    link_new_comments,
    select_sources,
    store_fetched,
)
from focusdig.settings import Settings


def _retry_transient(task, task_run, state) -> bool:
    try:
        state.result()
    except Exception as exc:
        return is_transient(exc)
    return False


@task(
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=_retry_transient,
    cache_policy=NO_CACHE,
    task_run_name="fetch-{source_id}",
)
def fetch(source_id: int, settings: Settings) -> FetchResult:
    """Fetch one source; network errors, timeouts, 429 and 5xx are retried with backoff."""
    return fetch_source(get_engine(settings), settings, source_id)


@task(cache_policy=NO_CACHE, task_run_name="store-{source_id}")
def store(source_id: int, fetched: FetchResult | Exception, started: float, settings: Settings):
    """Parse, dedup and store one fetched source in one transaction."""
    return store_fetched(get_engine(settings), source_id, fetched, started)


@flow(name="ingest", log_prints=True)
def ingest_flow(source_ids: list[int] | None = None, fetch_retries: int = 2) -> list[SourceReport]:
    """Fetch and store the given sources (default: every enabled one)."""
    settings = Settings.from_env()
    engine = get_engine(settings)
    fetcher = fetch.with_options(retries=fetch_retries)
    pending = select_sources(engine, source_ids)
    reports: list[SourceReport] = []
    while pending:
        started = time.perf_counter()
        futures = [fetcher.submit(sid, settings) for sid in pending]
        wait(futures)
        round_reports = [
            store(sid, fut.result(raise_on_failure=False), started, settings)
            for sid, fut in zip(pending, futures, strict=True)
        ]
        link_new_comments(engine)
        reports += round_reports
        pending = [sid for r in round_reports for sid in r.discovered]
    return reports

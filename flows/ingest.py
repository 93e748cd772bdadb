"""Ingest flow: every enabled source, in concurrent batches (network I/O retried), then stored."""

from __future__ import annotations

from dataclasses import replace

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run

from focusdig.database import get_engine
from focusdig.ingest.runner import SourceReport, ingest_batch, ingest_rounds
from focusdig.settings import Settings


def _batch_name() -> str:
    ids = task_run.parameters["source_ids"]
    return f"ingest-sources-{ids[0]}-{ids[-1]}" if ids else "ingest-sources"


@task(cache_policy=NO_CACHE, task_run_name=_batch_name)
def ingest_sources_batch(source_ids: list[int], settings: Settings) -> list[SourceReport]:
    """Fetch a batch of sources concurrently and store each in its own transaction.

    Network errors, timeouts, 429 and 5xx are retried per source with backoff; a broken source
    is reported and never stops the others.
    """
    return ingest_batch(get_engine(settings), settings, source_ids)


@flow(name="ingest", log_prints=True)
def ingest_flow(
    source_ids: list[int] | None = None,
    fetch_retries: int | None = None,
    retry_backoff: float | None = None,
    sources_per_task: int = 50,
) -> list[SourceReport]:
    """Fetch and store the given sources (default: every enabled one).

    Sources go to tasks in batches of `sources_per_task` (a Prefect task run costs tens of
    milliseconds, a feed that has not changed costs one; batches spread over a distributed task
    runner's workers). A failing fetch is retried `fetch_retries` times, after
    `retry_backoff`, 5x and 25x that many seconds (None: `FOCUSDIG_FETCH_RETRIES` and
    `FOCUSDIG_FETCH_BACKOFF`, default 2 retries after 2 and 10 s).
    """
    settings = Settings.from_env()
    if fetch_retries is not None:
        settings = replace(settings, fetch_retries=fetch_retries)
    if retry_backoff is not None:
        settings = replace(settings, fetch_backoff=retry_backoff)
    size = max(1, sources_per_task)

    def run_round(pending: list[int]) -> list[SourceReport]:
        futures = [
            ingest_sources_batch.submit(pending[i : i + size], settings)
            for i in range(0, len(pending), size)
        ]
        return [report for future in futures for report in future.result()]

    return ingest_rounds(get_engine(settings), source_ids, run_round)

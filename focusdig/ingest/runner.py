"""Feed ingestion: fetch every source concurrently, parse, dedup and store, one source at a time.

A broken source is logged and reported, never stops the others, and never loses what is stored:
each source is committed in its own transaction together with its new ETag/Last-Modified, so a
crash mid-run only means that source is fetched again next time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from sqlalchemy import Engine, select

from focusdig.database import session_scope
from focusdig.ingest.fetch import FetchError, FetchResult, fetch
from focusdig.ingest.parse import NotAFeedError, parse_feed
from focusdig.ingest.store import link_comments, normalize_url, store_entries
from focusdig.netsafety import guarded_client
from focusdig.schema import FetchLog, Source, utcnow
from focusdig.settings import Settings
from focusdig.sources import add_source, fetch_target, resolve_link, unique_name


@dataclass
class SourceReport:
    """What one fetch of one source did."""

    source_id: int
    name: str
    url: str
    status: str  # ok | not modified | partial | error
    http_status: int | None = None
    new: int = 0
    duplicates: int = 0
    error: str | None = None
    warning: str | None = None
    discovered: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != "error"


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: network trouble, timeouts, HTTP 429 and 5xx; never a 404, a bad feed, a
    refused address, a redirect loop, a size violation or a blown deadline."""
    return isinstance(exc, FetchError) and exc.retryable


def select_sources(engine: Engine, source_ids: Iterable[int] | None = None) -> list[int]:
    """IDs of the given sources, or of every enabled one."""
    with session_scope(engine) as session:
        query = select(Source.id).order_by(Source.id)
        if source_ids is None:
            query = query.where(Source.enabled.is_(True))
        else:
            query = query.where(Source.id.in_(list(source_ids)))
        return list(session.scalars(query))


def fetch_source(
    engine: Engine, settings: Settings, source_id: int, client: httpx.Client | None = None
) -> FetchResult:
    """Fetch one source with its stored validators; raises FetchError.

    Pass a shared `client` when fetching many: building one costs ~40 ms of CPU (TLS context).
    """
    with session_scope(engine) as session:
        source = session.get(Source, source_id)
        url, etag, last_modified = source.url, source.etag, source.last_modified
    target, local = fetch_target(url)
    return fetch(
        target,
        etag=etag,
        last_modified=last_modified,
        limits=settings.fetch_limits,
        allow_local=local,
        client=client,
        policy=settings.network_policy,
    )


def _discover_comment_feeds(session, source: Source, entries) -> list[int]:
    """Register the comment feeds linked from a news source's entries (if it follows them)."""
    found = []
    for entry in entries:
        if not entry.comments_url:
            continue
        url = resolve_link(source.url, entry.comments_url)
        if url is None:
            continue
        article = normalize_url(entry.url)
        comments, new = add_source(
            session,
            url,
            kind="comments",
            name=unique_name(session, f"{source.name}-comments"),
            language=source.language,
            parent_url=article,
        )
        if new:
            found.append(comments.id)
    return found


def _record(engine: Engine, source_id: int, result: FetchResult | Exception, t0: float):
    """Parse and store one fetched source in a single transaction; return its report."""
    with session_scope(engine) as session:
        source = session.get(Source, source_id)
        report = SourceReport(source.id, source.name, source.url, "ok")
        log = FetchLog(source_id=source.id, started_at=utcnow())
        try:
            if isinstance(result, Exception):
                raise result
            report.http_status = log.http_status = result.status
            if result.not_modified:
                report.status = "not modified"
            else:
                feed = parse_feed(result.body, url=result.url, content_type=result.content_type)
                report.new, report.duplicates = store_entries(session, source, feed.entries)
                if feed.warning:
                    report.status, report.warning = "partial", feed.warning
                if source.follow_comments:
                    report.discovered = _discover_comment_feeds(session, source, feed.entries)
                if source.language is None and feed.language:
                    source.language = feed.language
            source.etag, source.last_modified = result.etag, result.last_modified
        except (FetchError, NotAFeedError) as exc:
            report.status, report.error = "error", str(exc)
            report.http_status = log.http_status = getattr(exc, "status", None)
        source.last_status = report.error or report.warning or report.status
        source.last_fetched_at = utcnow()
        log.items_new, log.items_duplicate = report.new, report.duplicates
        log.error, log.warning = report.error, report.warning
        log.duration_ms = int((time.perf_counter() - t0) * 1000)
        session.add(log)
        return report


def _record_failure(engine: Engine, source_id: int, exc: Exception) -> SourceReport:
    """Log an unexpected storage failure (after rollback) so the source is reported, not lost."""
    with session_scope(engine) as session:
        source = session.get(Source, source_id)
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        source.last_status, source.last_fetched_at = message, utcnow()
        session.add(FetchLog(source_id=source_id, error=message))
        return SourceReport(source.id, source.name, source.url, "error", error=message)


def store_fetched(
    engine: Engine, source_id: int, result: FetchResult | Exception, started: float
) -> SourceReport:
    """Store a fetch outcome (or its error) and log it; never raises for one bad source."""
    try:
        return _record(engine, source_id, result, started)
    except Exception as exc:  # a storage bug must not stop the other sources
        return _record_failure(engine, source_id, exc)


def link_new_comments(engine: Engine) -> int:
    with session_scope(engine) as session:
        return link_comments(session)


def fetch_with_retries(
    engine: Engine, settings: Settings, source_id: int, client: httpx.Client | None = None
) -> FetchResult | FetchError:
    """Fetch one source, retrying transient errors (see `is_transient`) up to
    `settings.fetch_retries` times after `fetch_backoff`, 5x, 25x... seconds; returns the last
    error instead of raising it."""
    retries = settings.fetch_retries
    for attempt in range(retries + 1):
        try:
            return fetch_source(engine, settings, source_id, client)
        except FetchError as exc:
            if attempt == retries or not is_transient(exc):
                return exc
            time.sleep(settings.fetch_backoff * 5**attempt)
    raise AssertionError("unreachable")


def ingest_batch(engine: Engine, settings: Settings, source_ids: list[int]) -> list[SourceReport]:
    """Fetch the given sources concurrently (`settings.fetch_workers` at a time), then store
    each in its own transaction; one report per source, in the given order."""
    t0 = time.perf_counter()
    workers = settings.fetch_workers
    pool_limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    client = guarded_client(settings.network_policy, limits=pool_limits)
    with client, ThreadPoolExecutor(workers) as pool:
        results = list(
            pool.map(lambda sid: fetch_with_retries(engine, settings, sid, client), source_ids)
        )
    return [
        store_fetched(engine, sid, result, t0)
        for sid, result in zip(source_ids, results, strict=True)
    ]


def ingest_rounds(
    engine: Engine,
    source_ids: Iterable[int] | None,
    run_round: Callable[[list[int]], list[SourceReport]],
) -> list[SourceReport]:
    """Ingest the given sources (default: every enabled one) with ``run_round``, then, round after
    round, the comment feeds each round discovered; comments are linked after every round.

    ``run_round`` fetches and stores a list of sources and returns their reports: `ingest_batch`
    in-process, or the ingest flow's Prefect tasks.
    """
    pending = select_sources(engine, source_ids)
    reports: list[SourceReport] = []
    while pending:
        round_reports = run_round(pending)
        link_new_comments(engine)
        reports += round_reports
        pending = [sid for r in round_reports for sid in r.discovered]
    return reports


def ingest_sources(
    engine: Engine, settings: Settings, source_ids: Iterable[int] | None = None
) -> list[SourceReport]:
    """Fetch and store the given sources (default: every enabled one); one report per source.

    Fetches run concurrently and retry network errors, timeouts, 429 and 5xx; storing is one
    transaction per source. Comment feeds discovered on sources that follow comments are
    ingested in the same run.
    """
    return ingest_rounds(engine, source_ids, lambda ids: ingest_batch(engine, settings, ids))

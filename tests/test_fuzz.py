"""Property-based fuzzing of parse + store over hostile mutations of real feeds (hypothesis).

Derandomized (the same cases on every run) and bounded; `benchmarks/fuzz_feeds.py` runs 10,000.
"""

from __future__ import annotations

import random

import pytest
from feedfuzz import SEEDS, check_parsed, mutate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from focusdig.database import get_engine, session_scope
from focusdig.ingest.parse import NotAFeedError, parse_feed
from focusdig.ingest.runner import ingest_sources
from focusdig.ingest.store import store_entries
from focusdig.schema import Item, Source
from focusdig.settings import Settings
from focusdig.sources import add_source

CASES = {"sqlite": 200, "postgresql": 60}

pytestmark = pytest.mark.timeout(240)

mutated_feeds = st.builds(
    mutate, st.sampled_from(SEEDS), st.randoms(use_true_random=False, note_method_calls=False)
)


def fuzz_settings(cases: int):
    return settings(
        max_examples=cases,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


def parse_and_store(engine, source_id: int, body: bytes) -> None:
    """The property: a feed parses or is refused as NotAFeedError; what parses is plain text
    with safe URLs and stores (idempotently) on the database."""
    try:
        feed = parse_feed(body, url="https://example.com/feed.xml")
    except NotAFeedError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    check_parsed(feed)
    with session_scope(engine) as session:
        source = session.get(Source, source_id)
        new, duplicates = store_entries(session, source, feed.entries)
        assert new + duplicates == len(feed.entries)
    with session_scope(engine) as session:
        assert store_entries(session, session.get(Source, source_id), feed.entries)[0] == 0


def test_mutated_feeds_parse_and_store_or_are_refused(database_url):
    engine = get_engine(Settings.from_env())
    with session_scope(engine) as session:
        source_id = add_source(session, "https://example.com/feed.xml")[0].id
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"

    @fuzz_settings(CASES[backend])
    @given(case=mutated_feeds)
    def run(case):
        body, _mutations = case
        parse_and_store(engine, source_id, body)

    run()


def test_a_mutated_feed_is_reported_by_source_while_the_others_are_stored(
    feed_server, database_url
):
    """Three intact sample feeds and six hostile mutations served side by side."""
    rng = random.Random(17)
    good = SEEDS[:3]
    for i, body in enumerate(good):
        feed_server.add(f"/good{i}.xml", body, content_type=None)
    broken = [b"\x00\xff" * 100, SEEDS[0][:200], SEEDS[1].replace(b"<", b"<<", 40)]
    broken += [mutate(rng.choice(SEEDS), rng)[0] for _ in range(3)]
    for i, body in enumerate(broken):
        feed_server.add(f"/bad{i}.xml", body, content_type=None)
    settings_ = Settings.from_env()
    engine = get_engine(settings_)
    with session_scope(engine) as session:
        paths = [f"/good{i}.xml" for i in range(3)] + [f"/bad{i}.xml" for i in range(6)]
        ids = [add_source(session, feed_server.url(p), name=p[1:-4])[0].id for p in paths]
    reports = ingest_sources(engine, settings_, ids)
    by_name = {r.name: r for r in reports}
    for i, body in enumerate(good):
        report = by_name[f"good{i}"]
        assert report.status == "ok" and report.new > 0
        assert report.new + report.duplicates == len(parse_feed(body).entries)
    assert by_name["bad0"].status == "error" and by_name["bad0"].error.startswith("not a feed")
    assert by_name["bad1"].status == "error"
    for name in ("bad0", "bad1", "bad2", "bad3", "bad4", "bad5"):
        report = by_name[name]
        assert report.status in ("ok", "partial", "error")
        if report.status == "error":  # a clear reason, never a storage crash
            assert report.error.startswith(("not a feed", "truncated or malformed XML"))
    with session_scope(engine) as session:
        stored = session.scalar(select(func.count()).select_from(Item))
    assert stored == sum(r.new for r in reports)

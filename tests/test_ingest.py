"""End-to-end ingestion from feeds served on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import FEEDS
from sqlalchemy import func, select

from focusdig.database import get_engine, session_scope
from focusdig.ingest import runner
from focusdig.ingest.runner import ingest_sources
from focusdig.schema import FetchLog, Item, Source
from focusdig.settings import Settings
from focusdig.sources import add_source

GOOD = {
    "/rss2.xml": ("rss2.xml", "news"),
    "/atom.xml": ("atom.xml", "news"),
    "/comments.xml": ("comments_atom.xml", "comments"),
    "/gb2312.xml": ("gb2312.xml", "news"),
    "/hostile.xml": ("hostile.xml", "news"),
    "/truncated.xml": ("truncated.xml", "news"),
    "/dupes.xml": ("duplicates.xml", "news"),
}


@pytest.fixture
def settings():
    base = Settings.from_env()
    return replace(
        base, fetch_limits=replace(base.fetch_limits, read_timeout=0.5, max_bytes=50_000)
    )


def serve_all(server):
    for path, (name, _) in GOOD.items():
        server.add(path, (FEEDS / name).read_bytes(), etag=f'"{name}"', content_type=None)
    server.add("/500", b"oops", status=500)
    server.add("/page.html", (FEEDS / "not_a_feed.html").read_bytes(), content_type="text/html")
    server.add_slow("/slow", delay=3)
    server.add_redirect("/loop-a", "/loop-b")
    server.add_redirect("/loop-b", "/loop-a")
    server.add_huge("/huge", 2_000_000, content_length=False)


def register(engine, server):
    broken = ["/500", "/page.html", "/slow", "/loop-a", "/huge"]
    with session_scope(engine) as session:
        for path, (_, kind) in GOOD.items():
            add_source(session, server.url(path), kind=kind, name=path.strip("/"))
        for path in broken:
            add_source(session, server.url(path), name=path.strip("/"))
        add_source(session, "http://127.0.0.1:9/closed", name="closed")


def count(engine, model):
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_broken_sources_are_reported_and_never_stop_the_others(
    database_url,
    settings,
    feed_server,
):
    serve_all(feed_server)
    engine = get_engine(settings)
    register(engine, feed_server)

    reports = {r.name: r for r in ingest_sources(engine, settings)}

    assert {n for n, r in reports.items() if not r.ok} == {
        "500",
        "page.html",
        "slow",
        "loop-a",
        "huge",
        "closed",
    }
    assert reports["500"].http_status == 500 and "500" in reports["500"].error
    assert "not a feed" in reports["page.html"].error
    assert "redirect" in reports["loop-a"].error
    assert "timed out" in reports["slow"].error
    assert "limit" in reports["huge"].error
    assert reports["truncated.xml"].status == "partial" and reports["truncated.xml"].new == 2
    assert reports["dupes.xml"].duplicates >= 1
    stored = count(engine, Item)
    assert stored == sum(r.new for r in reports.values()) > 10
    assert count(engine, FetchLog) == len(reports)

    with session_scope(engine) as session:
        texts = [f"{i.title} {i.text} {i.url}" for i in session.scalars(select(Item))]
        assert any("中国" in t or "银行" in t or "经济" in t for t in texts)
        for text in texts:
            assert "<script" not in text.lower() and "javascript:" not in text.lower()
        comments = session.scalars(select(Item).where(Item.kind == "comments")).all()
        assert len(comments) == 2
        assert {c.parent_url for c in comments} == {"https://blog.example.com/2024/rates-hold"}
        status = session.scalar(select(Source.last_status).where(Source.name == "500"))
        assert "500" in status

    again = {r.name: r for r in ingest_sources(engine, settings)}
    assert all(again[name.strip("/")].status == "not modified" for name in GOOD)
    assert feed_server.last_request("/rss2.xml").headers.get("If-None-Match") == '"rss2.xml"'
    assert count(engine, Item) == stored


def test_crash_while_storing_one_source_loses_nothing(
    database_url,
    settings,
    feed_server,
    monkeypatch,
):
    serve_all(feed_server)
    engine = get_engine(settings)
    with session_scope(engine) as session:
        add_source(session, feed_server.url("/rss2.xml"), name="rss2")
        add_source(session, feed_server.url("/atom.xml"), name="atom")
    real = runner.store_entries

    def flaky(session, source, entries):
        if source.name == "atom":
            real(session, source, entries)
            raise RuntimeError("disk full")
        return real(session, source, entries)

    monkeypatch.setattr(runner, "store_entries", flaky)
    reports = {r.name: r for r in ingest_sources(engine, settings)}
    assert reports["rss2"].new == 3 and "disk full" in reports["atom"].error
    assert count(engine, Item) == 3  # atom's half-written transaction was rolled back
    with session_scope(engine) as session:
        assert session.scalar(select(Source.etag).where(Source.name == "atom")) is None

    monkeypatch.setattr(runner, "store_entries", real)
    reports = {r.name: r for r in ingest_sources(engine, settings)}
    assert reports["atom"].new == 2 and reports["rss2"].status == "not modified"
    assert count(engine, Item) == 5


def test_follow_comments_ingests_linked_comment_feeds(
    database_url,
    settings,
    feed_server,
):
    article = "https://blog.example.com/2024/rates-hold"
    news = f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:wfw="http://wellformedweb.org/CommentAPI/"><channel><title>Blog</title>
<item><title>Central bank holds rates steady</title><link>{article}</link><guid>a1</guid>
<description>Rates unchanged.</description><comments>{article}#comments</comments>
<wfw:commentRss>/comments.xml</wfw:commentRss></item></channel></rss>"""
    feed_server.add("/news.xml", news)
    feed_server.add("/comments.xml", (FEEDS / "comments_atom.xml").read_bytes())
    engine = get_engine(settings)
    with session_scope(engine) as session:
        add_source(session, feed_server.url("/news.xml"), name="blog", follow_comments=True)

    reports = ingest_sources(engine, settings)

    assert [(r.name, r.new) for r in reports] == [("blog", 1), ("blog-comments", 2)]
    with session_scope(engine) as session:
        source = session.scalar(select(Source).where(Source.name == "blog-comments"))
        assert source.kind == "comments" and source.parent_url == article
        parent = session.scalar(select(Item).where(Item.kind == "news"))
        assert parent.comments_url == "/comments.xml" or parent.comments_url.endswith(
            "comments.xml"
        )
        children = session.scalars(select(Item).where(Item.kind == "comments")).all()
        assert [c.parent_item_id for c in children] == [parent.id, parent.id]
    assert [r.name for r in ingest_sources(engine, settings)] == ["blog", "blog-comments"]


def test_transient_errors_are_retried_with_backoff_the_rest_are_not(settings, feed_server):
    calls = {"n": 0}

    def flaky(req):
        calls["n"] += 1
        status = 503 if calls["n"] < 3 else 200
        body = (FEEDS / "rss2.xml").read_bytes() if status == 200 else b"busy"
        req.send_response(status)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    feed_server.route("/flaky", flaky)
    feed_server.add("/gone", b"", status=404)
    feed_server.add("/down", b"", status=500)
    engine = get_engine(settings)
    with session_scope(engine) as session:
        for name in ("flaky", "gone", "down"):
            add_source(session, feed_server.url(f"/{name}"), name=name)
    patient = replace(settings, fetch_retries=2, fetch_backoff=0.05)
    reports = {r.name: r for r in ingest_sources(engine, patient)}
    assert reports["flaky"].status == "ok" and reports["flaky"].new == 3 and calls["n"] == 3
    assert reports["gone"].status == "error" and feed_server.hits("/gone") == 1
    assert reports["down"].status == "error" and feed_server.hits("/down") == 3
    assert "500" in reports["down"].error

"""fetch(): conditional GET, limits, redirects and error reporting against a local server."""

from __future__ import annotations

import email.utils
import gzip
import os
import socket
import time

import httpx
import pytest
from feedserver import FeedServer, http_date

from focusdig.ingest.fetch import FetchError, FetchLimits, FetchResult, fetch

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
LAST_MODIFIED = "Tue, 05 Mar 2024 10:00:00 GMT"
MiB = 1024 * 1024

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def server():
    with FeedServer() as srv:
        yield srv


# ----------------------------------------------------------------------------- success paths


def test_plain_200(server):
    server.add("/feed.xml", FEED, etag='"v1"', last_modified=LAST_MODIFIED)
    result = fetch(server.url("/feed.xml"))
    assert isinstance(result, FetchResult)
    assert result.status == 200
    assert result.body == FEED
    assert result.etag == '"v1"'
    assert result.last_modified == LAST_MODIFIED
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.not_modified is False
    assert result.url == server.url("/feed.xml")
    sent = server.last_request("/feed.xml").headers
    assert sent["User-Agent"] == FetchLimits().user_agent
    assert "If-None-Match" not in sent and "If-Modified-Since" not in sent


def test_conditional_get_with_etag_round_trip(server):
    server.add("/feed.xml", FEED, etag='"abc"')
    first = fetch(server.url("/feed.xml"))
    second = fetch(server.url("/feed.xml"), etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified is True
    assert second.status == 304
    assert second.body is None
    assert second.etag == '"abc"'
    assert server.last_request("/feed.xml").headers["If-None-Match"] == '"abc"'


def test_conditional_get_with_last_modified_round_trip(server):
    server.add("/feed.xml", FEED, last_modified=LAST_MODIFIED)
    first = fetch(server.url("/feed.xml"))
    assert first.etag is None
    second = fetch(server.url("/feed.xml"), last_modified=first.last_modified)
    assert second.not_modified and second.body is None
    assert second.last_modified == LAST_MODIFIED  # validators survive the 304
    assert server.last_request("/feed.xml").headers["If-Modified-Since"] == LAST_MODIFIED


def test_changed_feed_returns_new_body(server):
    server.add("/feed.xml", FEED, etag='"v2"')
    result = fetch(server.url("/feed.xml"), etag='"v1"')
    assert result.status == 200 and result.body == FEED and result.etag == '"v2"'


def test_gzip_is_decompressed(server):
    server.add("/gz", gzip.compress(FEED), headers={"Content-Encoding": "gzip"})
    assert fetch(server.url("/gz")).body == FEED


def test_uses_given_client_and_leaves_it_open(server):
    server.add("/feed.xml", FEED)
    with httpx.Client() as client:
        assert fetch(server.url("/feed.xml"), client=client).body == FEED
        assert not client.is_closed


# ----------------------------------------------------------------------------- HTTP errors


@pytest.mark.parametrize(
    ("status", "message"),
    [(500, "HTTP 500 Internal Server Error"), (404, "HTTP 404 Not Found"), (403, "HTTP 403")],
)
def test_http_errors(server, status, message):
    server.add("/err", b"oops", status=status)
    with pytest.raises(FetchError) as info:
        fetch(server.url("/err"))
    assert info.value.status == status
    assert str(info.value).startswith(message)


def test_unknown_route_is_404(server):
    with pytest.raises(FetchError, match="HTTP 404") as info:
        fetch(server.url("/missing"))
    assert info.value.status == 404


# ----------------------------------------------------------------------------- timeouts


def test_read_timeout(server):
    server.add_slow("/slow", delay=5)
    start = time.monotonic()
    with pytest.raises(FetchError) as info:
        fetch(server.url("/slow"), limits=FetchLimits(read_timeout=0.5))
    assert time.monotonic() - start < 3
    assert str(info.value) == f"timed out after 0.5s reading {server.url('/slow')}"
    assert info.value.status is None


def test_timeout_before_headers(server):
    server.add_slow("/slow-headers", delay=5, headers_first=False)
    with pytest.raises(FetchError, match=r"timed out after 0\.5s reading"):
        fetch(server.url("/slow-headers"), limits=FetchLimits(read_timeout=0.5))


# ----------------------------------------------------------------------------- redirects


def test_redirect_within_limit(server):
    server.add("/feed.xml", FEED)
    start = server.add_redirect_chain("/r", 3, "/feed.xml")
    result = fetch(server.url(start))
    assert result.body == FEED
    assert result.url == server.url("/feed.xml")


def test_redirect_exactly_at_limit_is_ok(server):
    server.add("/feed.xml", FEED)
    start = server.add_redirect_chain("/r", 2, "/feed.xml")
    assert fetch(server.url(start), limits=FetchLimits(max_redirects=2)).body == FEED


def test_too_many_redirects(server):
    server.add("/feed.xml", FEED)
    start = server.add_redirect_chain("/r", 6, "/feed.xml")
    with pytest.raises(FetchError, match=r"^too many redirects \(>5\)$"):
        fetch(server.url(start))
    assert server.hits("/feed.xml") == 0


def test_redirect_loop_fails_at_the_first_repeat(server):
    server.add_redirect("/a", "/b", status=301)
    server.add_redirect("/b", server.url("/a"), status=307)
    a, b = server.url("/a"), server.url("/b")
    with pytest.raises(FetchError) as info:
        fetch(server.url("/a"))
    assert str(info.value) == f"redirect loop: {a} -> {b} -> {a}"
    assert info.value.retryable is False
    assert server.hits("/a") == 1 and server.hits("/b") == 1


def test_redirect_to_other_scheme_refused(server):
    server.add_redirect("/ftp", "ftp://127.0.0.1/feed.xml")
    with pytest.raises(FetchError, match="unsupported URL scheme 'ftp'"):
        fetch(server.url("/ftp"))


def test_redirect_keeps_conditional_headers(server):
    server.add("/feed.xml", FEED, etag='"e"')
    server.add_redirect("/old", "/feed.xml", status=301)
    assert fetch(server.url("/old"), etag='"e"').not_modified


# ----------------------------------------------------------------------------- size limits

ONE_MIB = FetchLimits(max_bytes=MiB)


def test_oversized_body_with_content_length(server):
    server.add_huge("/huge", 3 * MiB, content_length=True)
    with pytest.raises(FetchError, match=r"^body exceeds 1 MiB limit$"):
        fetch(server.url("/huge"), limits=ONE_MIB)


def test_oversized_body_without_content_length(server):
    server.add_huge("/huge", 3 * MiB, content_length=False)
    with pytest.raises(FetchError, match=r"^body exceeds 1 MiB limit$"):
        fetch(server.url("/huge"), limits=ONE_MIB)


def test_body_exactly_at_limit_is_ok(server):
    server.add_huge("/edge", MiB, content_length=False)
    assert len(fetch(server.url("/edge"), limits=ONE_MIB).body) == MiB


def test_gzip_bomb_is_capped_after_decompression(server):
    bomb = gzip.compress(b"\0" * (3 * MiB))
    assert len(bomb) < MiB
    server.add("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="body exceeds 1 MiB limit"):
        fetch(server.url("/bomb"), limits=ONE_MIB)


def test_content_length_lie_is_an_error(server):
    server.add_short_body("/short", b"<rss>", claimed_length=5000)
    with pytest.raises(FetchError, match="server broke the connection"):
        fetch(server.url("/short"))


def test_default_limit_message():
    assert str(FetchError("x")) == "x"
    assert FetchLimits().max_bytes == 10 * MiB


# ----------------------------------------------------------------------------- URL schemes


@pytest.mark.parametrize(
    ("url", "scheme"),
    [("ftp://example.com/feed.xml", "ftp"), ("javascript:alert(1)", "javascript"),
     ("gopher://x/", "gopher")],
)  # fmt: skip
def test_non_http_schemes_refused(url, scheme):
    with pytest.raises(FetchError, match=f"^unsupported URL scheme '{scheme}'$"):
        fetch(url)


def test_connection_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match="^connection refused$") as info:
        fetch(f"http://127.0.0.1:{port}/feed.xml", limits=FetchLimits(connect_timeout=2))
    assert info.value.status is None


@pytest.mark.parametrize("url", ["http://", "http://[::1/feed", "http://exa mple.com/x"])
def test_malformed_urls_raise_fetch_error(url):
    with pytest.raises(FetchError):
        fetch(url)


# ----------------------------------------------------------------------------- local files


@pytest.fixture
def local_feed(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)
    mtime = 1_709_632_800  # 2024-03-05 10:00:00 UTC
    os.utime(path, (mtime, mtime))
    return path


def test_local_path_refused_by_default(local_feed):
    for target in (str(local_feed), local_feed.as_uri()):
        with pytest.raises(FetchError, match="local paths must be given explicitly"):
            fetch(target)


def test_local_file_allowed(local_feed):
    for target in (str(local_feed), local_feed.as_uri()):
        result = fetch(target, allow_local=True)
        assert result.status == 200 and result.body == FEED and not result.not_modified
        assert result.etag is None
        assert result.last_modified == LAST_MODIFIED
        assert result.url == local_feed.resolve().as_uri()


def test_local_file_conditional_fetch(local_feed):
    first = fetch(str(local_feed), allow_local=True)
    again = fetch(str(local_feed), allow_local=True, last_modified=first.last_modified)
    assert again.not_modified and again.body is None
    os.utime(local_feed, (1_709_632_900, 1_709_632_900))
    changed = fetch(str(local_feed), allow_local=True, last_modified=first.last_modified)
    assert changed.body == FEED
    assert email.utils.parsedate_to_datetime(changed.last_modified).timestamp() == 1_709_632_900


def test_local_file_size_cap(local_feed):
    with pytest.raises(FetchError, match=r"^body exceeds 10 bytes limit$"):
        fetch(str(local_feed), allow_local=True, limits=FetchLimits(max_bytes=10))


def test_local_missing_file(tmp_path):
    with pytest.raises(FetchError, match="no such file"):
        fetch(str(tmp_path / "nope.xml"), allow_local=True)
    with pytest.raises(FetchError, match="not a regular file"):
        fetch(str(tmp_path), allow_local=True)


def test_http_date_helper():
    assert http_date(1_709_632_800) == LAST_MODIFIED


def test_declared_content_length_rejected_before_reading(server):
    # Only 1 byte is ever sent: the error can only come from the Content-Length header.
    server.add_short_body("/liar", b"x", claimed_length=3 * MiB)
    with pytest.raises(FetchError, match=r"^body exceeds 1 MiB limit$"):
        fetch(server.url("/liar"), limits=ONE_MIB)

"""Network safety: non-public addresses refused in every spelling, on every redirect hop, at the
address actually connected; bounded work per fetch (deadline, bombs, loops without retries).

Every test server is on 127.0.0.1. Tests that turn the protection on make sure that nothing but
127.0.0.1 could ever be connected to: hosts that would resolve elsewhere go through an injected
resolver, and the socket layer is wrapped by `LoopbackOnly`, which fails the test instead of
opening a connection to any other address.
"""

from __future__ import annotations

import gzip
import ipaddress
import threading
import time
import tracemalloc
import zlib

import httpcore
import pytest
from feedserver import FeedServer

from focusdig.ingest.fetch import FetchError, FetchLimits, fetch
from focusdig.ingest.runner import fetch_with_retries, ingest_sources, is_transient
from focusdig.netsafety import (
    BlockedAddressError,
    NetworkPolicy,
    address_class,
    check_url,
    guarded_client,
)
from focusdig.settings import Settings

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
MiB = 1024 * 1024
STRICT = NetworkPolicy()  # the default: public addresses only

pytestmark = pytest.mark.timeout(60)


class LoopbackOnly(httpcore.NetworkBackend):
    """The real socket layer, restricted to 127.0.0.1; records every address connected."""

    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()
        self.connected: list[str] = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        assert host == "127.0.0.1", f"a test tried to connect to {host}"
        self.connected.append(host)
        return self.inner.connect_tcp(host, port, timeout, local_address, socket_options)


@pytest.fixture
def server():
    with FeedServer() as srv:
        srv.add("/feed.xml", FEED)
        yield srv


@pytest.fixture
def loopback() -> LoopbackOnly:
    return LoopbackOnly()


def strict_fetch(loopback: LoopbackOnly, url: str, policy: NetworkPolicy = STRICT):
    """fetch() through a guarded client whose sockets can only reach 127.0.0.1."""
    with guarded_client(policy, backend=loopback) as client:
        return fetch(url, client=client, policy=policy)


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("host", "address", "kind"),
    [
        ("127.0.0.1", "127.0.0.1", "loopback"),
        ("localhost", "127.0.0.1", "loopback"),
        ("2130706433", "127.0.0.1", "loopback"),  # decimal
        ("0x7f.0.0.1", "127.0.0.1", "loopback"),  # hex
        ("0x7f000001", "127.0.0.1", "loopback"),
        ("017700000001", "127.0.0.1", "loopback"),  # octal
        ("127.1", "127.0.0.1", "loopback"),  # short form
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
        ("[::1]", "::1", "loopback"),
    ],
)
def test_every_loopback_spelling_is_refused_before_connecting(
    server, loopback, host, address, kind
):
    url = f"http://{host}:{server.port}/feed.xml"
    with pytest.raises(FetchError) as info:
        strict_fetch(loopback, url)
    message = str(info.value)
    assert message.startswith("refused: ") and "\n" not in message
    assert f"{address}" in message and f"a {kind} address" in message
    assert "FOCUSDIG_ALLOW_PRIVATE_NETWORKS=1" in message
    assert info.value.retryable is False
    assert loopback.connected == [] and server.hits("/feed.xml") == 0


def test_dotted_octal_with_leading_zeros_is_an_invalid_url(server, loopback):
    with pytest.raises(FetchError, match="Invalid IPv4 address"):
        strict_fetch(loopback, f"http://0177.0.0.1:{server.port}/feed.xml")
    assert loopback.connected == []


def test_the_same_urls_are_fetched_when_private_networks_are_allowed(server, loopback):
    for host in ("127.0.0.1", "2130706433", "0x7f.0.0.1", "127.1"):
        url = f"http://{host}:{server.port}/feed.xml"
        assert strict_fetch(loopback, url, NetworkPolicy(allow_private=True)).body == FEED
    assert server.hits("/feed.xml") == 4


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fd12:3456::1", "private"),  # unique local
        ("ff02::1", "multicast"),
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("192.0.2.10", "private"),  # documentation range: not public either
    ],
)
def test_address_classes(address, kind):
    assert address_class(ipaddress.ip_address(address)).startswith(kind)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_pass(address):
    assert address_class(ipaddress.ip_address(address)) is None


def test_a_name_resolving_to_private_space_is_refused_with_its_address(loopback):
    policy = NetworkPolicy(resolver=lambda host, port: ["169.254.169.254"])
    with pytest.raises(FetchError) as info:
        strict_fetch(loopback, "http://metadata.example/latest/meta-data/", policy)
    assert str(info.value).startswith(
        "refused: metadata.example resolves to 169.254.169.254, a link-local address"
    )
    assert loopback.connected == []


def test_any_private_answer_refuses_the_name():
    policy = NetworkPolicy(resolver=lambda host, port: ["93.184.216.34", "10.1.2.3"])
    with pytest.raises(BlockedAddressError, match="10.1.2.3, a private address"):
        check_url("https://mixed.example/feed", policy)


def test_check_url_returns_the_checked_addresses_for_webhooks():
    policy = NetworkPolicy(resolver=lambda host, port: ["93.184.216.34"])
    target = check_url("https://hooks.example:8443/x", policy)
    assert (target.host, target.port, target.addresses) == (
        "hooks.example",
        8443,
        ["93.184.216.34"],
    )
    with pytest.raises(ValueError, match="unsupported URL scheme 'file'"):
        check_url("file:///etc/passwd", policy)
    with pytest.raises(BlockedAddressError, match="loopback"):
        check_url("http://[::ffff:7f00:1]/", STRICT)


def test_environment_switches():
    assert NetworkPolicy.from_env({}).allow_private is False
    assert NetworkPolicy.from_env({"FOCUSDIG_ALLOW_PRIVATE_NETWORKS": "1"}).allow_private
    assert Settings.from_env({"FOCUSDIG_ALLOW_PRIVATE_NETWORKS": "1"}).network_policy.allow_private
    assert not Settings.from_env({}).network_policy.allow_private
    with pytest.raises(ValueError, match="FOCUSDIG_ALLOWED_NETWORKS"):
        NetworkPolicy.from_env({"FOCUSDIG_ALLOWED_NETWORKS": "not-a-network"})


# ----------------------------------------------------------------------------- redirects


def only_first_hop_allowed() -> NetworkPolicy:
    """127.0.0.1 is allowed explicitly (the first hop); everything else non-public is not."""
    return NetworkPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.2:{port}/feed.xml", "http://2130706434:{port}/feed.xml",
     "http://[::ffff:127.0.0.2]:{port}/feed.xml", "http://metadata.internal/latest/"],
)  # fmt: skip
def test_redirect_into_private_space_is_refused(server, loopback, location):
    server.add_redirect("/go", location.format(port=server.port))
    resolver_calls = []

    def resolver(host, port):
        resolver_calls.append(host)
        return {"127.0.0.1": ["127.0.0.1"], "metadata.internal": ["169.254.169.254"]}.get(
            host
        ) or NetworkPolicy().resolver(host, port)

    policy = NetworkPolicy(
        allowed_networks=only_first_hop_allowed().allowed_networks, resolver=resolver
    )
    with pytest.raises(FetchError, match="^refused: ") as info:
        strict_fetch(loopback, server.url("/go"), policy)
    assert info.value.retryable is False
    assert loopback.connected == ["127.0.0.1"]  # the first hop only
    assert server.hits("/go") == 1 and server.hits("/feed.xml") == 0


def test_allowed_network_lets_the_redirect_through(server, loopback):
    server.add_redirect("/go", "/feed.xml")
    assert strict_fetch(loopback, server.url("/go"), only_first_hop_allowed()).body == FEED


def test_redirect_to_file_url_is_never_followed(server, tmp_path):
    secret = tmp_path / "secret.xml"
    secret.write_bytes(FEED)
    server.add_redirect("/file", secret.as_uri())
    with pytest.raises(FetchError, match="redirect to unsupported URL scheme 'file'"):
        fetch(server.url("/file"), allow_local=True)


def test_resolved_once_and_connected_to_the_checked_address(server, loopback):
    """DNS rebinding: a second lookup would answer 10.0.0.1; there is no second lookup."""
    answers = [["127.0.0.1"]]

    def rebinding(host, port):
        return answers.pop(0) if answers else ["10.0.0.1"]

    policy = NetworkPolicy(
        allowed_networks=only_first_hop_allowed().allowed_networks, resolver=rebinding
    )
    result = strict_fetch(loopback, f"http://feeds.example:{server.port}/feed.xml", policy)
    assert result.body == FEED
    assert loopback.connected == ["127.0.0.1"] and answers == []
    assert server.last_request("/feed.xml").headers["Host"] == f"feeds.example:{server.port}"


def test_ingest_refuses_private_sources_by_default(feed_server, database_url, monkeypatch):
    """End to end: a source on 127.0.0.1 is reported as refused; nothing is connected."""
    monkeypatch.delenv("FOCUSDIG_ALLOW_PRIVATE_NETWORKS")
    from focusdig.database import get_engine, session_scope
    from focusdig.sources import add_source

    feed_server.add("/feed.xml", FEED)
    settings = Settings.from_env()
    engine = get_engine(settings)
    with session_scope(engine) as session:
        source, _ = add_source(session, feed_server.url("/feed.xml"))
        source_id = source.id
    [report] = ingest_sources(engine, settings, [source_id])
    assert report.status == "error" and report.error.startswith("refused: 127.0.0.1 is a loopback")
    assert feed_server.hits("/feed.xml") == 0


# ----------------------------------------------------------------------------- deadline


def add_trickle(server: FeedServer, path: str, interval: float) -> None:
    """A valid start, then one byte every `interval` seconds, for a minute."""

    def handler(req):
        req.send_response(200)
        req.send_header("Content-Type", "application/rss+xml")
        req.end_headers()
        req.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>')
        req.wfile.flush()
        stop = time.monotonic() + 60
        while time.monotonic() < stop and not server._stopping.is_set():
            req.wfile.write(b"x")
            req.wfile.flush()
            server._stopping.wait(interval)

    server.route(path, handler)


def test_a_trickling_body_ends_at_the_deadline(server):
    add_trickle(server, "/trickle", 0.2)
    limits = FetchLimits(read_timeout=5, deadline=1.5)
    start = time.monotonic()
    with pytest.raises(FetchError) as info:
        fetch(server.url("/trickle"), limits=limits)
    elapsed = time.monotonic() - start
    assert 1.4 < elapsed < 2.5
    assert str(info.value).startswith("took longer than the 1.5s deadline for one fetch")
    assert info.value.retryable is False


def test_deadline_covers_waiting_for_headers(server):
    server.add_slow("/slow", delay=10, headers_first=False)
    start = time.monotonic()
    with pytest.raises(FetchError, match="deadline"):
        fetch(server.url("/slow"), limits=FetchLimits(read_timeout=8, deadline=1.0))
    assert time.monotonic() - start < 2


def test_one_trickling_source_does_not_hold_the_others(feed_server, database_url, monkeypatch):
    """Five sources, one trickling a byte every 2 s (as in the issue): the run ends at the
    deadline, the four others are stored, and the trickle is not retried."""
    from focusdig.database import get_engine, session_scope
    from focusdig.sources import add_source

    monkeypatch.setenv("FOCUSDIG_FETCH_DEADLINE", "3")
    monkeypatch.setenv("FOCUSDIG_FETCH_RETRIES", "2")
    monkeypatch.setenv("FOCUSDIG_FETCH_BACKOFF", "0.1")
    add_trickle(feed_server, "/trickle", 2.0)
    urls = [feed_server.url("/trickle")]
    for i in range(4):
        body = FEED.replace(b"</channel>", f"<item><title>n{i}</title></item></channel>".encode())
        feed_server.add(f"/f{i}.xml", body)
        urls.append(feed_server.url(f"/f{i}.xml"))
    settings = Settings.from_env()
    engine = get_engine(settings)
    with session_scope(engine) as session:
        ids = [add_source(session, url)[0].id for url in urls]
    start = time.monotonic()
    reports = ingest_sources(engine, settings, ids)
    assert time.monotonic() - start < 6
    assert [r.status for r in reports] == ["error", "ok", "ok", "ok", "ok"]
    assert "deadline" in reports[0].error
    assert sum(r.new for r in reports) == 4
    assert feed_server.hits("/trickle") == 1


# ----------------------------------------------------------------------------- bombs


def zeros_gzip(size: int) -> bytes:
    """``size`` zero bytes, gzip-compressed about 1,000:1."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * MiB
    return b"".join(packer.compress(block) for _ in range(size // MiB)) + packer.flush()


def test_gzip_bomb_fails_at_the_cap_without_inflating_it(server):
    bomb = zeros_gzip(128 * MiB)  # ~130 KB on the wire
    server.add("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match=r"^body exceeds 1 MiB limit$") as info:
            fetch(server.url("/bomb"), limits=FetchLimits(max_bytes=MiB))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB  # never more than the cap and a chunk in memory
    assert info.value.retryable is False


def test_deflate_bomb_and_nested_gzip(server):
    deflate = zlib.compress(b"\0" * (16 * MiB), 9)
    server.add("/deflate", deflate, headers={"Content-Encoding": "deflate"})
    nested = gzip.compress(zeros_gzip(16 * MiB))
    server.add("/nested", nested, headers={"Content-Encoding": "gzip, gzip"})
    for path in ("/deflate", "/nested"):
        with pytest.raises(FetchError, match="body exceeds 1 MiB limit"):
            fetch(server.url(path), limits=FetchLimits(max_bytes=MiB))


def test_compressed_feeds_still_decode(server):
    server.add("/deflate", zlib.compress(FEED), headers={"Content-Encoding": "deflate"})
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    server.add("/raw", raw.compress(FEED) + raw.flush(), headers={"Content-Encoding": "deflate"})
    server.add(
        "/two", gzip.compress(gzip.compress(FEED)), headers={"Content-Encoding": "gzip, gzip"}
    )
    for path in ("/deflate", "/raw", "/two"):
        assert fetch(server.url(path)).body == FEED
    assert server.last_request("/two").headers["Accept-Encoding"] == "gzip, deflate"


def test_unasked_encoding_is_refused(server):
    server.add("/br", b"\x1b\x00\x00", headers={"Content-Encoding": "br"})
    with pytest.raises(FetchError, match="unsupported Content-Encoding 'br'"):
        fetch(server.url("/br"))


# ----------------------------------------------------------------------------- retries


def source_for(url: str) -> tuple:
    from focusdig.database import get_engine, session_scope
    from focusdig.sources import add_source

    settings = Settings.from_env()
    engine = get_engine(settings)
    with session_scope(engine) as session:
        return engine, settings, add_source(session, url)[0].id


@pytest.mark.parametrize("kind", ["loop", "bomb", "too big", "refused"])
def test_permanent_failures_are_not_retried(server, monkeypatch, kind):
    monkeypatch.setenv("FOCUSDIG_FETCH_RETRIES", "2")
    monkeypatch.setenv("FOCUSDIG_FETCH_BACKOFF", "5")  # a retry would show in the time
    monkeypatch.setenv("FOCUSDIG_FETCH_MAX_BYTES", str(MiB))
    server.add_redirect("/loop", "/loop")
    server.add("/bomb", zeros_gzip(8 * MiB), headers={"Content-Encoding": "gzip"})
    server.add_huge("/toobig", 3 * MiB, content_length=False)
    path = {"loop": "/loop", "bomb": "/bomb", "too big": "/toobig", "refused": "/feed.xml"}
    url = server.url(path[kind])
    if kind == "refused":
        monkeypatch.delenv("FOCUSDIG_ALLOW_PRIVATE_NETWORKS")
    engine, settings, source_id = source_for(url)
    start = time.monotonic()
    error = fetch_with_retries(engine, settings, source_id)
    assert isinstance(error, FetchError) and not is_transient(error)
    assert time.monotonic() - start < 3
    assert sum(server.hits(p) for p in ("/loop", "/bomb", "/toobig", "/feed.xml")) <= 1


def test_network_errors_and_5xx_are_still_retried(server, monkeypatch):
    monkeypatch.setenv("FOCUSDIG_FETCH_RETRIES", "2")
    monkeypatch.setenv("FOCUSDIG_FETCH_BACKOFF", "0.01")
    server.add("/503", b"busy", status=503)
    engine, settings, source_id = source_for(server.url("/503"))
    error = fetch_with_retries(engine, settings, source_id)
    assert error.status == 503 and error.retryable
    assert server.hits("/503") == 3


def test_concurrent_deadlines_are_per_fetch(server):
    """The deadline is per fetch and per thread: a slow fetch does not cut a fast one short."""
    add_trickle(server, "/trickle", 0.1)
    results = {}

    def slow():
        try:
            fetch(server.url("/trickle"), limits=FetchLimits(deadline=1.0))
        except FetchError as exc:
            results["slow"] = str(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.5)
    results["fast"] = fetch(server.url("/feed.xml"), limits=FetchLimits(deadline=1.0)).body
    thread.join()
    assert results["fast"] == FEED and "deadline" in results["slow"]

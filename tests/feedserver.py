"""A tiny threaded HTTP server on 127.0.0.1 for fetch tests.

Usage::

    with FeedServer() as server:
        server.add("/feed.xml", body, etag='"v1"', last_modified="Tue, 05 Mar 2024 10:00:00 GMT")
        server.add_redirect("/old", "/feed.xml")
        fetch(server.url("/old"))

Routes: static bodies (with real conditional GET), redirects and redirect chains, slow
responses, huge streamed bodies, bodies shorter than their Content-Length, and arbitrary
handler callables. Every request is recorded in ``server.requests``.

Import with ``from feedserver import FeedServer`` (tests/ is on ``sys.path`` via conftest), or
use the ``feed_server`` fixture by adding ``pytest_plugins = ["feedserver"]`` to a conftest.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class FeedServer:
    """Threaded HTTP server on 127.0.0.1:<random port>; use as a context manager."""

    def __init__(self) -> None:
        self._routes: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FeedServer:
        owner = self

        class _RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection, close-delimited ok

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                owner._dispatch(self)

            def do_HEAD(self) -> None:  # noqa: N802
                owner._dispatch(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        self._httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path)

    def last_request(self, path: str) -> RecordedRequest:
        with self._lock:
            return [r for r in self.requests if r.path == path][-1]

    # ------------------------------------------------------------------ routes

    def route(self, path: str, handler: Handler) -> None:
        """Register an arbitrary handler; it receives the BaseHTTPRequestHandler."""
        self._routes[path] = handler

    def add(
        self,
        path: str,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str | None = "application/rss+xml; charset=utf-8",
        headers: dict[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> None:
        """Static body. With ``etag``/``last_modified`` set, matching conditional GETs get 304."""
        data = body.encode("utf-8") if isinstance(body, str) else body

        def handler(req: BaseHTTPRequestHandler) -> None:
            validators = {}
            if etag:
                validators["ETag"] = etag
            if last_modified:
                validators["Last-Modified"] = last_modified
            if status == 200 and _not_modified(req, etag, last_modified):
                req.send_response(304)
                for name, value in validators.items():
                    req.send_header(name, value)
                req.end_headers()
                return
            req.send_response(status)
            if content_type:
                req.send_header("Content-Type", content_type)
            for name, value in {**validators, **(headers or {})}.items():
                req.send_header(name, value)
            req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            if req.command != "HEAD":
                req.wfile.write(data)

        self.route(path, handler)

    def add_redirect(self, path: str, location: str, *, status: int = 302) -> None:
        """Redirect ``path`` to ``location`` (absolute or relative)."""

        def handler(req: BaseHTTPRequestHandler) -> None:
            req.send_response(status)
            req.send_header("Location", location)
            req.send_header("Content-Length", "0")
            req.end_headers()

        self.route(path, handler)

    def add_redirect_chain(self, prefix: str, hops: int, target: str) -> str:
        """``prefix/0 -> prefix/1 -> ... -> target`` with ``hops`` redirects; returns the start."""
        for i in range(hops):
            nxt = f"{prefix}/{i + 1}" if i + 1 < hops else target
            self.add_redirect(f"{prefix}/{i}", nxt)
        return f"{prefix}/0"

    def add_slow(
        self, path: str, delay: float, body: bytes = b"<rss/>", *, headers_first: bool = True
    ) -> None:
        """Sleep ``delay`` seconds before the body (or before the headers)."""

        def handler(req: BaseHTTPRequestHandler) -> None:
            if not headers_first:
                self._stopping.wait(delay)
            req.send_response(200)
            req.send_header("Content-Type", "application/rss+xml")
            req.send_header("Content-Length", str(len(body)))
            req.end_headers()
            req.wfile.flush()
            if headers_first:
                self._stopping.wait(delay)
            req.wfile.write(body)

        self.route(path, handler)

    def add_huge(
        self,
        path: str,
        size: int,
        *,
        content_length: bool = True,
        chunk: int = 64 * 1024,
    ) -> None:
        """Stream ``size`` filler bytes; without ``content_length`` the body is close-delimited."""

        def handler(req: BaseHTTPRequestHandler) -> None:
            req.send_response(200)
            req.send_header("Content-Type", "application/rss+xml")
            if content_length:
                req.send_header("Content-Length", str(size))
            req.end_headers()
            sent = 0
            block = b"x" * chunk
            while sent < size and not self._stopping.is_set():
                part = block[: min(chunk, size - sent)]
                req.wfile.write(part)
                sent += len(part)

        self.route(path, handler)

    def add_short_body(self, path: str, body: bytes, claimed_length: int) -> None:
        """Claim ``claimed_length`` bytes in Content-Length, send ``body`` and close."""

        def handler(req: BaseHTTPRequestHandler) -> None:
            req.send_response(200)
            req.send_header("Content-Type", "application/rss+xml")
            req.send_header("Content-Length", str(claimed_length))
            req.end_headers()
            req.wfile.write(body)
            req.wfile.flush()
            req.close_connection = True

        self.route(path, handler)

    # ------------------------------------------------------------------ dispatch

    def _dispatch(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path.split("?", 1)[0]
        with self._lock:
            self.requests.append(RecordedRequest(req.command, path, dict(req.headers.items())))
        handler = self._routes.get(path)
        try:
            if handler is None:
                req.send_error(404, "Not Found")
            else:
                handler(req)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeouts, size limits): expected in these tests


def _not_modified(req: BaseHTTPRequestHandler, etag: str | None, last_modified: str | None) -> bool:
    """RFC 9110: If-None-Match wins over If-Modified-Since."""
    inm = req.headers.get("If-None-Match")
    if inm is not None:
        tags = {t.strip() for t in inm.split(",")}
        return etag is not None and (etag in tags or "*" in tags)
    ims = req.headers.get("If-Modified-Since")
    if ims and last_modified:
        try:
            since = email.utils.parsedate_to_datetime(ims)
            changed = email.utils.parsedate_to_datetime(last_modified)
        except (TypeError, ValueError):
            return False
        return changed <= since
    return False


def http_date(ts: float | None = None) -> str:
    """An HTTP-date (RFC 9110) for ``ts`` (default: now)."""
    return email.utils.formatdate(time.time() if ts is None else ts, usegmt=True)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started :class:`FeedServer`, stopped after the test."""
    with FeedServer() as server:
        yield server

"""Fetch one feed over HTTP(S) (or from an explicitly allowed local file) with hard limits.

Every network or HTTP problem surfaces as :class:`FetchError` with a one-line human reason and
``retryable`` set only for what a retry can fix (network errors, timeouts, HTTP 429 and 5xx);
conditional GET (ETag / Last-Modified) turns an unchanged feed into ``not_modified=True``.
Connections go through :mod:`focusdig.netsafety` (no private addresses unless allowed, every
redirect hop checked), and one fetch never outlives ``FetchLimits.deadline``.
"""

from __future__ import annotations

import email.utils
import http
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx

from focusdig.netsafety import (
    BlockedAddressError,
    NetworkPolicy,
    deadline,
    deadline_passed,
    guarded_client,
)

__all__ = ["FetchError", "FetchLimits", "FetchResult", "fetch"]

_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchLimits:
    """Timeouts (seconds), the total deadline, body size cap and redirect cap for one fetch.

    ``read_timeout`` bounds each wait for the server; ``deadline`` bounds the whole fetch
    (connect, headers and body), so a server trickling a byte at a time ends in time too.
    ``max_bytes`` caps the body after decompression (and before it).
    """

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    deadline: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = "focusdig/0.1 (+https://github.com/focusdig/focusdig)"


@dataclass(frozen=True)
class FetchResult:
    """Outcome of a successful (or not-modified) fetch."""

    url: str  # final URL after redirects (file:// URI for local files)
    status: int  # HTTP status; 200 for local files (304 when a local file is unchanged)
    body: bytes | None  # None when not modified
    etag: str | None
    last_modified: str | None
    content_type: str | None
    not_modified: bool  # True on 304


class FetchError(Exception):
    """A fetch failed; ``str(exc)`` is a one-line reason, ``status`` the HTTP status if any,
    ``retryable`` whether trying again later may succeed (network trouble, 429, 5xx)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        retryable: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.url = url
        self.retryable = retryable


_DEFAULT_LIMITS = FetchLimits()


def _fmt_seconds(value: float) -> str:
    return f"{value:g}s"


def _fmt_size(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    return f"{n} bytes"


def _too_big(limits: FetchLimits, url: str) -> FetchError:
    return FetchError(f"body exceeds {_fmt_size(limits.max_bytes)} limit", url=url)


def _is_local(url: str, scheme: str) -> bool:
    """A file:// URL, a path without scheme, or a Windows drive path ('C:\\...')."""
    return scheme in ("", "file") or (len(scheme) == 1 and url[1:2] == ":")


def fetch(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    limits: FetchLimits = _DEFAULT_LIMITS,
    allow_local: bool = False,
    client: httpx.Client | None = None,
    policy: NetworkPolicy | None = None,
) -> FetchResult:
    """Fetch ``url`` with conditional GET, redirect, deadline, timeout and size limits.

    Only http/https URLs are fetched over the network, through a client from
    :func:`focusdig.netsafety.guarded_client` (pass one to share connections; ``policy``,
    default from the environment, builds one otherwise). Local paths and file:// URLs are read
    only with ``allow_local=True``. Raises :class:`FetchError` for every failure.
    """
    url = (url or "").strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:
        raise FetchError(f"invalid URL: {exc}", url=url) from None
    if not url:
        raise FetchError("empty URL")
    if scheme in ("http", "https"):
        return _fetch_http(url, etag, last_modified, limits, client, policy)
    if _is_local(url, scheme):
        if not allow_local:
            raise FetchError("local paths must be given explicitly (allow_local=True)", url=url)
        return _fetch_local(url, scheme, last_modified, limits)
    raise FetchError(f"unsupported URL scheme {scheme!r}", url=url)


# --------------------------------------------------------------------------- local files


def _local_path(url: str, scheme: str) -> Path:
    if scheme != "file":
        return Path(url).expanduser()
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FetchError(f"remote file URLs are not supported: {url}", url=url)
    return Path(url2pathname(parts.path))


def _fetch_local(
    url: str, scheme: str, last_modified: str | None, limits: FetchLimits
) -> FetchResult:
    path = _local_path(url, scheme)
    try:
        st = path.stat()
        if not path.is_file():
            raise FetchError(f"not a regular file: {path}", url=url)
        if st.st_size > limits.max_bytes:
            raise _too_big(limits, url)
        mtime = int(st.st_mtime)
        stamp = email.utils.formatdate(mtime, usegmt=True)
        final = path.resolve().as_uri()
        if _unchanged_since(last_modified, mtime):
            return FetchResult(final, 304, None, None, stamp, None, True)
        with path.open("rb") as fh:
            body = fh.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise FetchError(f"no such file: {path}", url=url) from None
    except PermissionError:
        raise FetchError(f"permission denied: {path}", url=url) from None
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}", url=url) from None
    if len(body) > limits.max_bytes:
        raise _too_big(limits, url)
    return FetchResult(final, 200, body, None, stamp, None, False)


def _unchanged_since(last_modified: str | None, mtime: int) -> bool:
    if not last_modified:
        return False
    try:
        since = email.utils.parsedate_to_datetime(last_modified)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return datetime.fromtimestamp(mtime, UTC) <= since


# --------------------------------------------------------------------------- HTTP


def _reason(status: int, phrase: str) -> str:
    if not phrase:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
    return f"HTTP {status} {phrase}".strip()


def _fetch_http(
    url: str,
    etag: str | None,
    last_modified: str | None,
    limits: FetchLimits,
    client: httpx.Client | None,
    policy: NetworkPolicy | None,
) -> FetchResult:
    if client is not None:
        return _request(client, url, etag, last_modified, limits)
    with guarded_client(policy) as own:
        return _request(own, url, etag, last_modified, limits)


def _request(
    client: httpx.Client,
    url: str,
    etag: str | None,
    last_modified: str | None,
    limits: FetchLimits,
) -> FetchResult:
    timeout = httpx.Timeout(
        connect=limits.connect_timeout,
        read=limits.read_timeout,
        write=limits.read_timeout,
        pool=limits.connect_timeout,
    )
    headers = {"User-Agent": limits.user_agent, "Accept": _ACCEPT, "Accept-Encoding": _ENCODINGS}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    with deadline(limits.deadline):
        try:
            return _follow(client, url, headers, timeout, limits, etag, last_modified)
        except BlockedAddressError as exc:
            raise FetchError(str(exc), url=url) from None
        except httpx.TimeoutException as exc:
            current = str(exc.request.url) if _has_request(exc) else url
            raise FetchError(
                _timeout_reason(exc, limits, current), url=url, retryable=not deadline_passed()
            ) from None
        except httpx.UnsupportedProtocol as exc:
            scheme = _scheme_in(str(exc))
            msg = f"redirect to unsupported URL scheme {scheme!r}" if scheme else str(exc)
            raise FetchError(msg, url=url) from None
        except httpx.ConnectError as exc:
            current = str(exc.request.url) if _has_request(exc) else url
            raise FetchError(_connect_reason(exc, current), url=url, retryable=True) from None
        except httpx.RemoteProtocolError as exc:
            current = str(exc.request.url) if _has_request(exc) else url
            msg = f"server broke the connection ({_first_line(exc)}) at {current}"
            raise FetchError(msg, url=url, retryable=True) from None
        except httpx.HTTPError as exc:
            msg = f"{type(exc).__name__}: {_first_line(exc)}"
            raise FetchError(msg, url=url, retryable=True) from None
        except (httpx.InvalidURL, httpx.StreamError) as exc:
            raise FetchError(f"{type(exc).__name__}: {_first_line(exc)}", url=url) from None
        except ValueError as exc:  # malformed URL / header values rejected by httpx
            raise FetchError(f"invalid request: {_first_line(exc)}", url=url) from None


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when httpx did not attach one
    except RuntimeError:
        return False
    return True


def _follow(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    timeout: httpx.Timeout,
    limits: FetchLimits,
    etag: str | None,
    last_modified: str | None,
) -> FetchResult:
    """Send the request and follow redirects by hand: a loop or too many hops fail at once."""
    request = client.build_request("GET", url, headers=headers, timeout=timeout)
    seen = [str(request.url)]
    for _hop in range(limits.max_redirects + 1):
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            if response.next_request is None:
                return _finish(response, etag, last_modified, limits)
            request = response.next_request
        finally:
            response.close()
        target = str(request.url)
        if target in seen:
            chain = " -> ".join([*seen[seen.index(target) :], target])
            raise FetchError(f"redirect loop: {chain}", url=url)
        seen.append(target)
    raise FetchError(f"too many redirects (>{limits.max_redirects})", url=url)


def _timeout_reason(exc: httpx.TimeoutException, limits: FetchLimits, url: str) -> str:
    if deadline_passed():
        return (
            f"took longer than the {_fmt_seconds(limits.deadline)} deadline for one fetch "
            f"(connect, headers and body) at {url}"
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return f"timed out after {_fmt_seconds(limits.connect_timeout)} connecting to {url}"
    if isinstance(exc, httpx.ReadTimeout):
        return f"timed out after {_fmt_seconds(limits.read_timeout)} reading {url}"
    return f"timed out talking to {url}"


def _finish(
    response: httpx.Response, etag: str | None, last_modified: str | None, limits: FetchLimits
) -> FetchResult:
    status = response.status_code
    final = str(response.url)
    new_etag = response.headers.get("etag")
    new_lm = response.headers.get("last-modified")
    ctype = response.headers.get("content-type")
    if status == 304:
        return FetchResult(final, status, None, new_etag or etag, new_lm or last_modified,
                           ctype, True)  # fmt: skip
    if status >= 300:
        retry = status == 429 or status >= 500
        raise FetchError(
            _reason(status, response.reason_phrase), status=status, url=final, retryable=retry
        )
    declared = response.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > limits.max_bytes:
        raise _too_big(limits, final)
    encodings = [e.strip().lower() for e in response.headers.get("content-encoding", "").split(",")]
    body = _read_capped(_decoded(response.iter_raw(_CHUNK), encodings, final), limits, final)
    return FetchResult(final, status, body, new_etag, new_lm, ctype, False)


def _read_capped(chunks: Iterator[bytes], limits: FetchLimits, url: str) -> bytes:
    parts: list[bytes] = []
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limits.max_bytes:
            raise _too_big(limits, url)
        parts.append(chunk)
    return b"".join(parts)


# Only what can be decoded with a bounded output: a compression bomb must fail at the cap,
# never be inflated in one piece (httpx's own decoders inflate a whole chunk at once).
_ENCODINGS = "gzip, deflate"
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _decoded(raw: Iterator[bytes], encodings: list[str], url: str) -> Iterator[bytes]:
    """Undo each Content-Encoding (applied in order, undone in reverse), chunk by chunk, never
    producing more than `_CHUNK` bytes from one call: memory stays bounded by the caller's cap."""
    stream = raw
    for encoding in reversed([e for e in encodings if e and e != "identity"]):
        if encoding not in _WBITS:
            raise FetchError(f"unsupported Content-Encoding {encoding!r} (asked for {_ENCODINGS})",
                             url=url)  # fmt: skip
        stream = _inflate(stream, _WBITS[encoding], url)
    return stream


def _inflate(chunks: Iterator[bytes], wbits: int, url: str) -> Iterator[bytes]:
    inflater = zlib.decompressobj(wbits)
    first = True
    try:
        for chunk in chunks:
            if first and wbits == zlib.MAX_WBITS and chunk[:1] and chunk[0] & 0x0F != 8:
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate without zlib header
            first = False
            data = chunk
            while True:  # at most _CHUNK bytes out per call, however much the input inflates
                out = inflater.decompress(data, _CHUNK)
                data = inflater.unconsumed_tail
                if out:
                    yield out
                if not data and len(out) < _CHUNK:
                    break
    except zlib.error as exc:
        raise FetchError(f"could not decode compressed body: {exc}", url=url) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _scheme_in(message: str) -> str | None:
    """Pull the scheme out of httpx's "Request URL has an unsupported protocol 'x://'."."""
    if "'" in message:
        quoted = message.split("'")[1]
        return quoted.split(":", 1)[0] or None
    return None


def _connect_reason(exc: httpx.ConnectError, url: str) -> str:
    text = _first_line(exc)
    low = text.lower()
    host = urlsplit(url).hostname or url
    if "refused" in low:
        return "connection refused"
    if "could not resolve" in low or "name or service not known" in low or "getaddrinfo" in low:
        return f"could not resolve host {host}"
    if "nodename nor servname" in low:
        return f"could not resolve host {host}"
    if "certificate" in low or "ssl" in low:
        return f"TLS error connecting to {host}: {text}"
    if "unreachable" in low:
        return f"network unreachable for {host}"
    return f"connection to {host} failed: {text}"

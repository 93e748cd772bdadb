"""Fetch one feed over HTTP(S) (or from an explicitly allowed local file) with hard limits.

Every network or HTTP problem surfaces as :class:`FetchError` with a one-line human reason;
conditional GET (ETag / Last-Modified) turns an unchanged feed into ``not_modified=True``.
"""

from __future__ import annotations

import email.utils
import http
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx

__all__ = ["FetchError", "FetchLimits", "FetchResult", "fetch"]

_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchLimits:
    """Timeouts (seconds), body size cap and redirect cap for one fetch."""

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
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
    """A fetch failed; ``str(exc)`` is a one-line reason, ``status`` the HTTP status if any."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.status = status
        self.url = url


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
) -> FetchResult:
    """Fetch ``url`` with conditional GET, redirect, timeout and size limits.

    Only http/https URLs are fetched over the network; local paths and file:// URLs are read
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
        return _fetch_http(url, etag, last_modified, limits, client)
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
) -> FetchResult:
    if client is not None:
        return _request(client, url, etag, last_modified, limits)
    with httpx.Client() as own:
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
    headers = {"User-Agent": limits.user_agent, "Accept": _ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = url
    try:
        request = client.build_request("GET", url, headers=headers, timeout=timeout)
        seen: set[str] = set()
        for _hop in range(limits.max_redirects + 1):
            current = str(request.url)
            seen.add(current)
            response = client.send(request, stream=True, follow_redirects=False)
            try:
                if response.next_request is None:
                    return _finish(response, etag, last_modified, limits)
                request = response.next_request
            finally:
                response.close()
        loop = " (redirect loop)" if str(request.url) in seen else ""
        raise FetchError(f"too many redirects (>{limits.max_redirects}){loop}", url=url)
    except httpx.ConnectTimeout:
        msg = f"timed out after {_fmt_seconds(limits.connect_timeout)} connecting to {current}"
    except httpx.ReadTimeout:
        msg = f"timed out after {_fmt_seconds(limits.read_timeout)} reading {current}"
    except httpx.TimeoutException:
        msg = f"timed out talking to {current}"
    except httpx.UnsupportedProtocol as exc:
        scheme = _scheme_in(str(exc))
        msg = f"redirect to unsupported URL scheme {scheme!r}" if scheme else str(exc)
    except httpx.ConnectError as exc:
        msg = _connect_reason(exc, current)
    except httpx.RemoteProtocolError as exc:
        msg = f"server broke the connection ({_first_line(exc)}) at {current}"
    except httpx.DecodingError as exc:
        msg = f"could not decode response body: {_first_line(exc)}"
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        msg = f"{type(exc).__name__}: {_first_line(exc)}"
    except ValueError as exc:  # malformed URL / header values rejected by httpx
        msg = f"invalid request: {_first_line(exc)}"
    raise FetchError(msg, url=url)


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
        raise FetchError(_reason(status, response.reason_phrase), status=status, url=final)
    declared = response.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > limits.max_bytes:
        raise _too_big(limits, final)
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes(_CHUNK):  # decompressed; also caps compression bombs
        total += len(chunk)
        if total > limits.max_bytes:
            raise _too_big(limits, final)
        chunks.append(chunk)
    return FetchResult(final, status, b"".join(chunks), new_etag, new_lm, ctype, False)


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
    if "name or service not known" in low or "nodename nor servname" in low or "getaddrinfo" in low:
        return f"could not resolve host {host}"
    if "certificate" in low or "ssl" in low:
        return f"TLS error connecting to {host}: {text}"
    if "unreachable" in low:
        return f"network unreachable for {host}"
    return f"connection to {host} failed: {text}"

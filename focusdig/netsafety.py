"""Outbound network safety: which addresses focusdig may connect to, checked where it connects.

A feed URL (or a webhook) pasted into a shared focusdig must not read internal services. Every
outbound HTTP connection goes through :func:`guarded_client`, whose transport resolves the host
once, refuses loopback, private, link-local (cloud metadata at 169.254.169.254), shared
(100.64.0.0/10), multicast, reserved and unspecified addresses in every spelling (decimal
``2130706433``, hex ``0x7f.0.0.1``, octal, short ``127.1``, IPv4-mapped ``[::ffff:127.0.0.1]``,
NAT64/6to4/Teredo wrappers, IPv6 loopback/ULA/link-local), and connects to exactly the address
it checked: no second lookup, so no DNS-rebinding window. TLS still verifies the hostname (SNI
and certificate) and the Host header is unchanged. Redirect hops open their own connections and
are checked the same way.

``FOCUSDIG_ALLOW_PRIVATE_NETWORKS=1`` allows every address (on-premises feeds, the test suite);
``FOCUSDIG_ALLOWED_NETWORKS=10.20.0.0/16,fd00::/8`` allows only the listed networks.

Every connection and read also honours the current :func:`deadline`, so one fetch (connect,
TLS, headers and the whole body) ends when its time is up however slowly the server trickles.
"""

from __future__ import annotations

import contextvars
import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

__all__ = [
    "ALLOW_PRIVATE_ENV",
    "BlockedAddressError",
    "DeadlineExceeded",
    "NetworkPolicy",
    "address_class",
    "check_url",
    "deadline",
    "guarded_client",
]

ALLOW_PRIVATE_ENV = "FOCUSDIG_ALLOW_PRIVATE_NETWORKS"
ALLOWED_NETWORKS_ENV = "FOCUSDIG_ALLOWED_NETWORKS"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

_SHARED = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_TRUE = ("1", "true", "yes", "on")
_DEFAULT_POOL = httpx.Limits()


class BlockedAddressError(Exception):
    """A connection to a non-public address was refused; ``str(exc)`` is the one-line reason."""


class DeadlineExceeded(httpcore.TimeoutException):
    """The current fetch's total deadline has passed (httpx surfaces it as a timeout)."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (numeric spellings such as ``0x7f.0.0.1`` included)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses carried inside an IPv6 one (mapped, NAT64, 6to4, Teredo)."""
    found = [ip.ipv4_mapped, ip.sixtofour]
    if ip.teredo:
        found += list(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


def address_class(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is, None when public: unspecified, loopback,
    link-local (169.254/16 with cloud metadata, fe80::/10), multicast, shared (100.64/10,
    carrier-grade NAT), reserved, private (RFC 1918, fc00::/7) or non-public (documentation,
    benchmarking and other special-purpose ranges)."""
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(ip):
            kind = address_class(inner)
            if kind:
                return kind
    checks = (
        ("unspecified", ip.is_unspecified or ip in _THIS_NETWORK),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("shared", ip in _SHARED),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


def _parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in text.split(",") if p)
    except ValueError as exc:
        raise ValueError(f"{ALLOWED_NETWORKS_ENV}: {exc}") from None


@dataclass(frozen=True)
class NetworkPolicy:
    """Which addresses outbound connections may reach (default: public addresses only)."""

    allow_private: bool = False
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    resolver: Resolver = field(default=system_resolver, compare=False, repr=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> NetworkPolicy:
        env = dict(os.environ if env is None else env)
        allow = env.get(ALLOW_PRIVATE_ENV, "").strip().lower() in _TRUE
        return cls(allow, _parse_networks(env.get(ALLOWED_NETWORKS_ENV, "")))

    def refusal(self, host: str, address: str) -> str | None:
        """Why connecting to ``address`` (what ``host`` resolved to) is refused, None if allowed."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        kind = address_class(ip)
        if kind is None or self.allow_private:
            return None
        if any(ip.version == net.version and ip in net for net in self.allowed_networks):
            return None
        named = f"{address} is" if _same_address(host, ip) else f"{host} resolves to {address},"
        article = "an" if kind[0] in "aeiou" else "a"
        return (
            f"refused: {named} {article} {kind} address, not a public one; set "
            f"{ALLOW_PRIVATE_ENV}=1 (or {ALLOWED_NETWORKS_ENV}=<network>) to allow it"
        )

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host``, each checked; raises BlockedAddressError if any is refused.

        One resolution: callers connect to these addresses, never to the name again.
        """
        host = host.strip("[]")
        try:
            addresses = self.resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"could not resolve host {host}: {exc}") from None
        if not addresses:
            raise httpcore.ConnectError(f"could not resolve host {host}")
        for address in addresses:
            reason = self.refusal(host, address)
            if reason:
                raise BlockedAddressError(reason)
        return addresses


def _same_address(host: str, ip: IPAddress) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0]) == ip
    except ValueError:
        return False


@dataclass(frozen=True)
class CheckedTarget:
    """A URL that passed the checks: its host, port and the addresses to connect to."""

    url: str
    host: str
    port: int
    addresses: list[str]


def check_url(url: str, policy: NetworkPolicy | None = None) -> CheckedTarget:
    """Validate an http(s) URL and resolve its host once; raise BlockedAddressError (not
    public), or ValueError (not an http/https URL). Connect only to ``.addresses``."""
    policy = policy or NetworkPolicy.from_env()
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL scheme {scheme!r}: only http and https are fetched")
    if not parts.hostname:
        raise ValueError(f"no host in URL {url!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    return CheckedTarget(url, parts.hostname, port, policy.resolve(parts.hostname, port))


# --------------------------------------------------------------------------- deadline

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "focusdig_fetch_deadline", default=None
)


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Every connect, TLS handshake, read and write in this block ends by ``seconds`` from now."""
    token = _deadline.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def deadline_passed() -> bool:
    end = _deadline.get()
    return end is not None and time.monotonic() >= end


def _clamp(timeout: float | None) -> float | None:
    """``timeout`` shortened to what is left of the current deadline."""
    end = _deadline.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("fetch deadline exceeded")
    return left if timeout is None else min(timeout, left)


# --------------------------------------------------------------------------- transport


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation is bounded by the current deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolve once, check every address against the policy, connect to a checked address.

    httpcore passes the URL's host here and later uses the same host for TLS (SNI and
    certificate verification), so pinning the address keeps HTTPS verification intact.
    """

    def __init__(self, policy: NetworkPolicy, inner: httpcore.NetworkBackend | None = None):
        self.policy = policy
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self.policy.resolve(host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address, port, _clamp(timeout), local_address, socket_options
                )
                return _DeadlineStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"could not connect to {host}")

    def connect_unix_socket(self, path: str, timeout=None, socket_options=None):
        raise BlockedAddressError("refused: unix sockets are never used for outbound fetches")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with its connection pool built on :class:`GuardedBackend`."""

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        limits: httpx.Limits = _DEFAULT_POOL,
        verify: ssl.SSLContext | bool = True,
        backend: httpcore.NetworkBackend | None = None,
    ) -> None:
        super().__init__(limits=limits, verify=verify, trust_env=False)
        # httpx offers no argument for the network backend: replace its pool with an
        # equivalent one that connects through the guard (httpx < 1 keeps it in ``_pool``).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy, backend),
        )


def guarded_client(
    policy: NetworkPolicy | None = None,
    *,
    limits: httpx.Limits = _DEFAULT_POOL,
    backend: httpcore.NetworkBackend | None = None,
    **client_options: Any,
) -> httpx.Client:
    """An httpx client whose every connection (redirect hops included) passes ``policy``
    (default: from the environment). Environment proxies are not used: a proxy would resolve
    the name itself, out of reach of the check. ``backend`` replaces the socket layer (tests)."""
    transport = GuardedTransport(policy or NetworkPolicy.from_env(), limits=limits, backend=backend)
    return httpx.Client(transport=transport, **client_options)

"""Feed sources: adding, removing, resolving locations, and the bundled samples."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from focusdig.paths import SAMPLES_DIR
from focusdig.schema import SOURCE_KINDS, Source

SAMPLE_SCHEME = "sample:"


class SourceError(ValueError):
    """A source argument that cannot be used, with the reason."""


def location_from_argument(arg: str) -> str:
    """The stored URL for a user's argument: http(s) URLs as given, local files as ``file://``.

    Local paths are accepted here because the user named them explicitly.
    """
    arg = arg.strip()
    scheme = urlsplit(arg).scheme.lower()
    if scheme in ("http", "https"):
        return arg
    if arg.startswith(SAMPLE_SCHEME):
        return arg
    if scheme == "file":
        path = Path(unquote(urlsplit(arg).path))
    elif scheme and len(scheme) > 1:
        raise SourceError(f"unsupported URL scheme {scheme!r} in {arg!r}; use http(s) or a path")
    else:
        path = Path(arg).expanduser()
    if not path.is_file():
        raise SourceError(f"no such file: {path}")
    return path.resolve().as_uri()


def fetch_target(url: str) -> tuple[str, bool]:
    """What to hand the fetcher for a stored source URL, and whether it is a local file."""
    if url.startswith(SAMPLE_SCHEME):
        return str(SAMPLES_DIR / url[len(SAMPLE_SCHEME) :]), True
    if url.startswith("file:"):
        return unquote(urlsplit(url).path), True
    return url, False


def resolve_link(base: str, link: str) -> str | None:
    """Resolve a link found in a feed against the feed's stored URL; None when unsafe.

    A feed may only point at http(s) URLs, or at files beside itself when it is itself local:
    a remote feed must never make us read a local file.
    """
    link = link.strip()
    if base.startswith(SAMPLE_SCHEME):
        if urlsplit(link).scheme:
            return link if urlsplit(link).scheme in ("http", "https") else None
        return SAMPLE_SCHEME + Path(link).name
    resolved = urljoin(base, link)
    scheme = urlsplit(resolved).scheme
    if scheme in ("http", "https"):
        return resolved
    if scheme == "file" and base.startswith("file:"):
        same_dir = Path(unquote(urlsplit(resolved).path)).parent
        return resolved if same_dir == Path(unquote(urlsplit(base).path)).parent else None
    return None


def _slug(url: str) -> str:
    parts = urlsplit(url)
    text = (parts.netloc + parts.path) if parts.netloc else Path(parts.path or url).stem
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60] or "feed"


def unique_name(session: Session, wanted: str) -> str:
    name, n = wanted, 1
    while session.scalar(select(Source.id).where(Source.name == name)) is not None:
        n += 1
        name = f"{wanted}-{n}"
    return name


def add_source(
    session: Session,
    url: str,
    *,
    kind: str = "news",
    name: str | None = None,
    language: str | None = None,
    follow_comments: bool = False,
    parent_url: str | None = None,
) -> tuple[Source, bool]:
    """Register a source (or return the existing one with that URL); True when new."""
    if kind not in SOURCE_KINDS:
        raise SourceError(f"unknown kind {kind!r}; use one of {', '.join(SOURCE_KINDS)}")
    existing = session.scalar(select(Source).where(Source.url == url))
    if existing is not None:
        return existing, False
    if name and session.scalar(select(Source.id).where(Source.name == name)) is not None:
        raise SourceError(f"a source named {name!r} already exists")
    source = Source(
        name=name or unique_name(session, _slug(url)),
        url=url,
        kind=kind,
        language=language.lower() if language else None,
        enabled=True,
        follow_comments=follow_comments,
        parent_url=parent_url,
    )
    session.add(source)
    session.flush()
    return source, True


def remove_source(session: Session, name: str) -> None:
    """Delete a source with its items and fetch log."""
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        raise SourceError(f"no source named {name!r}")
    session.delete(source)


def register_samples(session: Session) -> list[Source]:
    """Add the bundled sample feeds (``focusdig/samples/sources.json``) as sources, and their
    fictional companies (``focusdig/samples/entities.csv``) to the watchlist."""
    from focusdig.entities.watchlist import register_sample_entities

    register_sample_entities(session)
    added = []
    for spec in json.loads((SAMPLES_DIR / "sources.json").read_text("utf-8")):
        source, new = add_source(
            session,
            SAMPLE_SCHEME + spec["file"],
            kind=spec["kind"],
            name=spec["name"],
            language=spec.get("language"),
            follow_comments=spec.get("follow_comments", False),
        )
        if new:
            added.append(source)
    return added


def list_sources(session: Session) -> list[dict]:
    """Every source with its last fetch status, as plain data (CLI ``--json`` and the API)."""
    return [
        {
            "name": s.name,
            "kind": s.kind,
            "language": s.language,
            "enabled": s.enabled,
            "url": s.url,
            "last_status": s.last_status,
            "last_fetched_at": s.last_fetched_at.isoformat() if s.last_fetched_at else None,
        }
        for s in session.scalars(select(Source).order_by(Source.id))
    ]

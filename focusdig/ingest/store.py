"""Storing parsed entries: normalisation, dedup by (source, guid), URL and content hash."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased

from focusdig.database import insert_all_unless_present
from focusdig.ingest.parse import FeedEntry
from focusdig.schema import Item, Source, utcnow


def normalize_url(url: str | None, *, keep_fragment: bool = False) -> str | None:
    """Canonical form for dedup: lower-case scheme and host, no default fragment."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https"):
        return None
    fragment = parts.fragment if keep_fragment else ""
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, fragment))


def content_hash(kind: str, title: str, text: str, parent_url: str | None) -> str:
    """Hash of the normalised content; comments include their article, so "+1" stays per-thread."""
    norm = " ".join(re.sub(r"\s+", " ", f"{title}\n{text}").lower().split())
    key = f"{kind}\x1f{norm}\x1f{parent_url or '' if kind == 'comments' else ''}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def entry_row(source: Source, entry: FeedEntry) -> dict:
    """The ``items`` row for one parsed entry of a source."""
    is_comment = source.kind == "comments"
    parent_url = normalize_url(entry.parent_url or source.parent_url) if is_comment else None
    url = normalize_url(entry.url, keep_fragment=is_comment)
    if is_comment and url == parent_url:
        url = None  # a comment linking to its article is not the article
    return {
        "source_id": source.id,
        "guid": entry.guid[:2000],
        "url": url,
        "title": entry.title,
        "text": entry.text,
        "author": entry.author[:500] if entry.author else None,
        "published_at": entry.published_at,
        "fetched_at": utcnow(),
        "kind": source.kind,
        "parent_url": parent_url,
        "comments_url": entry.comments_url,
        "content_hash": content_hash(source.kind, entry.title, entry.text, parent_url),
    }


def store_entries(session: Session, source: Source, entries: list[FeedEntry]) -> tuple[int, int]:
    """Store a feed's entries; returns (new, duplicates). Idempotent: an entry whose guid, URL or
    content hash is already stored (or earlier in the list) is a duplicate."""
    new = insert_all_unless_present(session, Item, [entry_row(source, e) for e in entries])
    return new, len(entries) - new


def link_comments(session: Session) -> int:
    """Point comments at their article item once that article is stored; returns rows linked."""
    article = aliased(Item)
    parent_id = (
        select(article.id)
        .where(article.url == Item.parent_url, article.kind == "news")
        .limit(1)
        .scalar_subquery()
    )
    result = session.execute(
        update(Item)
        .where(Item.parent_item_id.is_(None), Item.parent_url.is_not(None), parent_id.is_not(None))
        .values(parent_item_id=parent_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0

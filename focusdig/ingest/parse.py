"""Parse RSS/Atom feed bytes into normalized, plain-text :class:`FeedEntry` records.

All text that leaves this module is plain text: markup is stripped with ``nh3`` (script/style
contents dropped), entities are unescaped once, and URLs are absolute ``http``/``https`` or
``None``. Nothing here touches the network or the file system.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser
import feedparser.api
import nh3

__all__ = ["FeedEntry", "NotAFeedError", "ParsedFeed", "html_to_text", "parse_feed"]


@dataclass(frozen=True)
class FeedEntry:
    """One feed item (article or comment) with plain-text fields."""

    guid: str  # entry id; if missing: the link; if missing: sha1 hex of title + text
    url: str | None  # absolute http(s) link or None
    title: str  # plain text, single line
    text: str  # plain text of full content (preferred) or summary
    author: str | None
    published_at: datetime | None  # timezone-aware UTC (published, else updated)
    comments_url: str | None  # wfw:commentRss (a feed of comments)
    comments_page: str | None  # RSS <comments> (an HTML page)
    parent_url: str | None  # for comments: what this replies to


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed: channel metadata plus entries."""

    title: str | None
    link: str | None
    language: str | None  # two-letter lower-case code ('zh-cn' -> 'zh') or None
    entries: list[FeedEntry]
    warning: str | None  # set when the feed was partly broken but entries were recovered


class NotAFeedError(ValueError):
    """The body is not an RSS/Atom feed, or nothing could be recovered from it."""


# Tags whose *contents* are dropped, not just the tag itself. iframe/noembed/noframes hold raw
# text in HTML5 parsing; svg/math/object/embed/template are foreign or inert content.
_DROP_CONTENT_TAGS = {
    "script", "style", "template", "iframe", "noembed", "noframes", "object", "embed",
    "applet", "svg", "math",
}  # fmt: skip
_BLOCK_TAG_RE = re.compile(
    r"(<\s*/?\s*(?:p|div|br|hr|li|ul|ol|dl|dt|dd|h[1-6]|tr|table|blockquote|pre|section"
    r"|article|header|footer|figcaption|address)\b)",
    re.IGNORECASE,
)
_TAG_LIKE_RE = re.compile(r"<[A-Za-z!/?]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u2028\u2029\ufeff]")
_HSPACE_RE = re.compile(r"[^\S\n]+")
_URL_UNSAFE = {c: f"%{ord(c):02X}" for c in " \"<>`{}|\\^'"}
_SAFE_SCHEMES = ("http", "https")
_BAD_ID_PREFIXES = ("javascript:", "vbscript:", "data:")
_MAX_GUID_LEN = 512
_MAX_URL_LEN = 2000  # the database's URL columns; a longer link is dropped, not truncated
# feedparser spends ~0.1 ms of CPU per tag (twice when the strict parser gives up): a feed of a
# few MB made of nothing but nested tags took minutes in fuzzing. Real feeds have far fewer.
MAX_TAGS = 300_000
# bozo exceptions that do not mean the document was damaged
_BENIGN_BOZO = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)


_CHARREF_RE = re.compile(rb"&#([xX][0-9a-fA-F]{1,16}|[0-9]{1,20});")


def _fix_charref(match: re.Match[bytes]) -> bytes:
    """A reference to no character (NUL, a surrogate, beyond U+10FFFF) becomes U+FFFD:
    feedparser's loose parser raises on them instead of reporting a broken feed."""
    ref = match.group(1)
    code = int(ref[1:], 16) if ref[:1] in b"xX" else int(ref)
    if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return b"&#xFFFD;"
    return match.group(0)


_ROOT_START_RE = re.compile(rb"<[A-Za-z_]")
_XML_DECLARATION_RE = re.compile(rb"\s*<\?xml[^>]*\?>")
_feedparser_replace_doctype = feedparser.api.replace_doctype


def _replace_doctype_without_entities(data: bytes) -> tuple[str | None, bytes, dict[str, str]]:
    """feedparser's DOCTYPE handling, minus every entity declaration.

    feedparser keeps a DTD's "safe" entities (plain text values) and expands them itself in its
    loose parser with no limit: a 1 MB feed declaring a 1 MB entity referenced a million times
    grew to 3 GB and 9 GB of memory (quadratic blowup; nested "billion laughs" entities are
    dropped by feedparser and refused by expat). Here nothing before the root element but the
    XML declaration survives, and no entity is handed to the loose parser, so an undefined
    ``&name;`` stays literal text. This runs on the document already converted to UTF-8, so no
    encoding trick (UTF-16, UTF-7, EBCDIC) can hide a declaration.
    """
    version, data, _entities = _feedparser_replace_doctype(data)
    root = _ROOT_START_RE.search(data)
    if root is not None and b"<!" in data[: root.start()]:
        declaration = _XML_DECLARATION_RE.match(data)
        data = (declaration.group(0) if declaration else b"") + data[root.start() :]
    return version, data, {}


feedparser.api.replace_doctype = _replace_doctype_without_entities


def html_to_text(fragment: str) -> str:
    """Strip all markup from an HTML fragment and return normalized plain text.

    Script/style (and similar) contents are dropped, entities are unescaped once, runs of
    whitespace collapse to one space and block boundaries become single newlines. If the
    unescaped result still looks like markup (entity-encoded tags such as ``&lt;script&gt;``),
    it is cleaned again so no tag-shaped text survives.
    """
    if not fragment:
        return ""
    text = fragment.replace("\r\n", "\n").replace("\r", "\n")
    for _ in range(3):
        text = _BLOCK_TAG_RE.sub(r"\n\1", _CONTROL_RE.sub("", text))
        text = html.unescape(nh3.clean(text, tags=set(), clean_content_tags=_DROP_CONTENT_TAGS))
        # control and zero-width characters go before the check: "<\x01script>" (or one
        # unescaped from "&lt;&#1;script&gt;") is a tag once they are gone
        text = _CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
        if not _TAG_LIKE_RE.search(text):
            break
    else:  # still tag-shaped after repeated cleaning: neutralize what is left
        text = text.replace("<", "\u2039").replace(">", "\u203a")
    lines = (_HSPACE_RE.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _one_line(fragment: str | None) -> str:
    return " ".join(html_to_text(fragment or "").split())


def _safe_url(value: Any, base: str | None = None) -> str | None:
    """Return an absolute http(s) URL or None (never javascript:, data:, file:, ...)."""
    if not isinstance(value, str):
        return None
    value = _CONTROL_RE.sub("", value).strip()
    if not value:
        return None
    if base:
        try:
            value = urljoin(base, value)
        except ValueError:
            return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in _SAFE_SCHEMES or not parts.hostname:
        return None
    url = urlunsplit(parts._replace(scheme=parts.scheme.lower()))
    url = "".join(_URL_UNSAFE.get(c, c) for c in url)
    return url if len(url) <= _MAX_URL_LEN else None


def _safe_ref(value: Any, base: str | None) -> str | None:
    """Like :func:`_safe_url`, but without an http(s) base (local feeds) a relative reference
    (no scheme, no host) is kept as-is so the caller can resolve it against the source."""
    if base or not isinstance(value, str):
        return _safe_url(value, base)
    ref = _CONTROL_RE.sub("", value).strip()
    try:
        parts = urlsplit(ref)
    except ValueError:
        return None
    if ref and not parts.scheme and not parts.netloc and ":" not in ref.split("/", 1)[0]:
        ref = "".join(_URL_UNSAFE.get(c, c) for c in ref)
        return ref if len(ref) <= _MAX_URL_LEN else None
    return _safe_url(ref)


def _normalize_language(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    primary = re.split(r"[-_]", value.strip().lower(), maxsplit=1)[0]
    return primary if re.fullmatch(r"[a-z]{2}", primary) else None


def _to_utc(struct: Any) -> datetime | None:
    """feedparser's *_parsed values are UTC struct_time tuples."""
    if not struct:
        return None
    try:
        return datetime(*struct[:6], tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _entry_text(entry: Mapping[str, Any]) -> str:
    contents = [c.get("value") or "" for c in entry.get("content") or [] if isinstance(c, Mapping)]
    best = max(contents, key=len, default="")
    if not best.strip():
        best = entry.get("summary") or entry.get("description") or ""
    return html_to_text(best)


def _in_reply_to(entry: Mapping[str, Any], base: str | None) -> str | None:
    """RFC 4685 parent link.

    feedparser does not know the RFC 4685 namespace, so ``<thr:in-reply-to>`` surfaces under
    ``<document prefix>_in-reply-to`` (usually ``thr_in-reply-to``), unresolved. Some feeds
    use ``<link rel="in-reply-to">`` instead, which lands in ``entry.links``.
    """
    for key, value in entry.items():
        if (key == "in-reply-to" or key.endswith("_in-reply-to")) and isinstance(value, Mapping):
            for attr in ("href", "ref"):
                url = _safe_url(value.get(attr), base)
                if url:
                    return url
    for link in entry.get("links") or []:
        if isinstance(link, Mapping) and link.get("rel") == "in-reply-to":
            url = _safe_url(link.get("href"), base)
            if url:
                return url
    return None


def _wordpress_parent(url: str | None) -> str | None:
    """'https://site/article/#comment-12' -> 'https://site/article/'."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.fragment.lower().startswith("comment"):
        return urlunsplit(parts._replace(fragment=""))
    return None


def _guid(raw_id: Any, url: str | None, title: str, text: str) -> str:
    if isinstance(raw_id, str) and raw_id.strip():
        guid = raw_id.strip()
        hostile = (
            len(guid) > _MAX_GUID_LEN
            or _CONTROL_RE.search(guid)
            or any(c in guid for c in '<>"')
            or guid.lower().startswith(_BAD_ID_PREFIXES)
        )
        if not hostile:
            return guid
        return hashlib.sha1(guid.encode("utf-8", "surrogatepass")).hexdigest()
    if url:
        return url
    return hashlib.sha1(f"{title}\n{text}".encode("utf-8", "surrogatepass")).hexdigest()


def _author(entry: Mapping[str, Any]) -> str | None:
    detail = entry.get("author_detail")
    name = detail.get("name") if isinstance(detail, Mapping) else None
    name = _one_line(name or entry.get("author"))
    return name or None


def _is_empty_entry(entry: Mapping[str, Any]) -> bool:
    """Truncated documents leave an empty dict for the item that was cut off."""
    keys = ("title", "link", "id", "summary", "content")
    return not any(entry.get(k) for k in keys)


def _build_entry(entry: Mapping[str, Any], base: str | None) -> FeedEntry:
    url = _safe_url(entry.get("link"), base)
    title = _one_line(entry.get("title"))
    text = _entry_text(entry)
    parent = _in_reply_to(entry, base) or _wordpress_parent(url)
    return FeedEntry(
        guid=_guid(entry.get("id"), url, title, text),
        url=url,
        title=title,
        text=text,
        author=_author(entry),
        published_at=_to_utc(entry.get("published_parsed") or entry.get("updated_parsed")),
        comments_url=_safe_ref(entry.get("wfw_commentrss"), base),
        comments_page=_safe_url(entry.get("comments"), base),
        parent_url=parent,
    )


def _describe(exc: BaseException | None) -> str:
    """One-line reason, e.g. 'no element found at line 20, column 33'."""
    if exc is None:
        return "unknown error"
    get_message = getattr(exc, "getMessage", None)  # xml.sax SAXParseException
    if callable(get_message):
        try:
            return f"{get_message()} at line {exc.getLineNumber()}, column {exc.getColumnNumber()}"
        except Exception:  # best effort only
            pass
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _not_a_feed_reason(body: bytes, bozo_exc: BaseException | None, version: str) -> str:
    head = body[:4096].lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n").lower()
    if not head:
        return "not a feed: empty body"
    if version:
        return f"truncated or malformed XML: {_describe(bozo_exc)}, no entries recovered"
    if b"<html" in head or head.startswith(b"<!doctype html"):
        return "not a feed: HTML page (no RSS/Atom root element)"
    if head.startswith((b"{", b"[")):
        return "not a feed: JSON document (no RSS/Atom root element)"
    if head.startswith(b"<"):
        if bozo_exc is not None and not isinstance(bozo_exc, _BENIGN_BOZO):
            return f"truncated or malformed XML: {_describe(bozo_exc)}, no entries recovered"
        root = re.search(rb"<([A-Za-z_][\w:.-]*)", re.sub(rb"<[?!][^>]*>", b"", head))
        name = root.group(1).decode("ascii", "replace") if root else "?"
        return f"not a feed: XML document with root <{name}> (no RSS/Atom root element)"
    return "not a feed: unrecognized content (no RSS/Atom root element)"


def parse_feed(
    body: bytes, *, url: str | None = None, content_type: str | None = None
) -> ParsedFeed:
    """Parse RSS 0.9x/1.0/2.0 or Atom bytes.

    ``url`` resolves relative links; ``content_type`` (the HTTP header) lets declared charsets
    apply. A partly broken feed with recoverable entries yields ``warning``; anything that is
    not a feed, or damaged XML with zero entries, raises :class:`NotAFeedError`.
    """
    if not body or not body.strip():
        raise NotAFeedError("not a feed: empty body")
    tags = body.count(b"<")
    if tags > MAX_TAGS:
        raise NotAFeedError(
            f"not parsed: {tags:,} tags, more than the {MAX_TAGS:,} a feed may have"
        )
    headers: dict[str, str] = {}
    if content_type:
        headers["content-type"] = content_type
    base = _safe_url(url)
    if base:
        headers["content-location"] = base
    # Always pass a stream: given bytes, feedparser first tries open(body) as a file path.
    try:
        parsed = feedparser.parse(
            io.BytesIO(_CHARREF_RE.sub(_fix_charref, body)),
            response_headers=headers,
            sanitize_html=True,
            resolve_relative_uris=True,
        )
    except (UnicodeError, LookupError, ValueError) as exc:  # a declared encoding that is
        # not one (stray bytes, NUL): feedparser raises instead of reporting a broken feed
        raise NotAFeedError(f"not a feed: cannot decode it ({_describe(exc)})") from None
    version = parsed.get("version") or ""
    bozo_exc = parsed.get("bozo_exception") if parsed.get("bozo") else None
    raw_entries = [e for e in parsed.get("entries", []) if not _is_empty_entry(e)]

    if not raw_entries and (not version or (bozo_exc and not isinstance(bozo_exc, _BENIGN_BOZO))):
        raise NotAFeedError(_not_a_feed_reason(body, bozo_exc, version))

    warning = None
    if bozo_exc is not None and not isinstance(bozo_exc, _BENIGN_BOZO):
        warning = f"partly broken feed: {_describe(bozo_exc)}; {len(raw_entries)} entries recovered"
    elif not version:
        warning = f"no RSS/Atom version detected; {len(raw_entries)} entries recovered"

    feed = parsed.get("feed", {})
    return ParsedFeed(
        title=_one_line(feed.get("title")) or None,
        link=_safe_url(feed.get("link"), base),
        language=_normalize_language(feed.get("language")),
        entries=[_build_entry(e, base) for e in raw_entries],
        warning=warning,
    )

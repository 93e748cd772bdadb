"""The text filter ``q``: a case-insensitive substring of an item's title or text.

The condition is always ``title ILIKE '%q%' OR text ILIKE '%q%'`` (``%``, ``_`` and ``\\`` in
``q`` are literal), so results are the same with or without an index. Revision 0013 adds one:

- PostgreSQL: ``pg_trgm`` GIN indexes on ``title`` and ``text``; the planner uses them for that
  very condition (when the extension could be created).
- SQLite: ``items_fts``, an FTS5 trigram table over title and text. Its phrase match (Unicode
  case folding) finds a superset of the items the condition matches (SQLite's ``lower`` folds
  ASCII only), so the condition is checked again on those candidates. A trigram index cannot
  serve a ``q`` under 3 characters: that, and a ``q`` in more than :data:`DENSE_TEXT` items
  (walking the items newest first soon finds a page of those), stay a scan.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, column, func, literal, select, table
from sqlalchemy.orm import Session

from focusdig.schema import Item

LIKE_ESCAPE = "\\"
TRIGRAM = 3  # characters a trigram index needs in ``q``
DENSE_TEXT = 5_000  # above this many candidates, the newest-first walk finds a page sooner
SQLITE_FTS = "items_fts"
PG_TRIGRAM_INDEXES = ("ix_items_title_trgm", "ix_items_text_trgm")

_fts = table(SQLITE_FTS, column("rowid"), column(SQLITE_FTS))


def like_pattern(text: str) -> str:
    """``%text%`` with the LIKE wildcards and the escape character of ``text`` escaped."""
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def substring_condition(q: str) -> ColumnElement[bool]:
    """The title or the text contains ``q``, ignoring case (the definition of ``q``)."""
    pattern = like_pattern(q)
    in_title = Item.title.ilike(pattern, escape=LIKE_ESCAPE)
    return in_title | Item.text.ilike(pattern, escape=LIKE_ESCAPE)


def fts_phrase(q: str) -> str:
    """``q`` as an FTS5 phrase (one string: a trigram phrase matches it as a substring)."""
    return '"' + q.replace('"', '""') + '"'


def has_sqlite_fts(session: Session) -> bool:
    """Whether this is SQLite with the trigram table of revision 0013."""
    if session.get_bind().dialect.name != "sqlite":
        return False
    found = select(literal(1)).select_from(table("sqlite_master", column("name")))
    return session.scalar(found.where(column("name") == SQLITE_FTS)) is not None


def text_condition(session: Session, q: str) -> ColumnElement[bool]:
    """SQL condition for ``q``, read through SQLite's trigram table when that is faster."""
    condition = substring_condition(q)
    if len(q) < TRIGRAM or not has_sqlite_fts(session):
        return condition
    candidates = select(_fts.c.rowid).where(_fts.c[SQLITE_FTS].match(fts_phrase(q)))
    probed = select(func.count()).select_from(candidates.limit(DENSE_TEXT + 1).subquery())
    if session.scalar(probed) > DENSE_TEXT:
        return condition
    return Item.id.in_(candidates) & condition


def outside_orm(obj, name: str | None, type_: str, reflected: bool, compare_to) -> bool:
    """Alembic ``include_object``: False for the search objects that only migrations create
    (SQLite's FTS5 table and its shadow tables, PostgreSQL's trigram indexes)."""
    if type_ == "table" and name and name.startswith(SQLITE_FTS):
        return False
    return not (type_ == "index" and name in PG_TRIGRAM_INDEXES)

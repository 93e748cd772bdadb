"""item text search: trigram indexes behind ``q``; items of a source by language

Revision ID: 0013_item_text_search
Revises: 0012_entity_api_indexes
Create Date: 2026-11-26

``q`` (a case-insensitive substring of the title or the text) was a scan of every item.

- SQLite: ``items_fts``, an FTS5 table with the ``trigram`` tokenizer over ``items.title`` and
  ``items.text`` (external content: it stores the index, not a copy of the text), filled here
  and kept in sync by triggers on insert, update and delete. Queries read candidates from it
  and re-check the original condition (``focusdig.search``). Needs SQLite 3.34 or newer with
  FTS5; without them nothing is created and ``q`` stays a scan. A later batch migration that
  recreates ``items`` drops the triggers with the old table: it must create them again.
- PostgreSQL: the ``pg_trgm`` extension and a GIN index on each of ``title`` and ``text``,
  which serve ``ILIKE '%…%'`` as it is. Creating the extension needs the CREATE privilege on
  the database (it is a trusted extension); without it the migration still succeeds, creates
  no index, and ``q`` stays a scan (a superuser can later run ``CREATE EXTENSION pg_trgm``
  and the two ``CREATE INDEX`` statements below by hand). The downgrade drops the indexes,
  not the extension (other objects of the database may use it).

``ix_items_source_language_time`` (source, language, item time, id) serves "source +
language" filters: the page and its count read only that language's items of the source. On
SQLite it is analyzed at once (a fraction of a second on a million items).
"""

import logging

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

revision = "0013_item_text_search"
down_revision = "0012_entity_api_indexes"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

ITEM_TIME = "coalesce(published_at, fetched_at)"
SQLITE_TRIGRAM = (3, 34, 0)  # the first SQLite with the trigram tokenizer

SQLITE_UP = [
    "CREATE VIRTUAL TABLE items_fts USING fts5("
    "title, text, content='items', content_rowid='id', tokenize='trigram')",
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",
    "CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN "
    "INSERT INTO items_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END",
    "CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN "
    "INSERT INTO items_fts(items_fts, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); END",
    "CREATE TRIGGER items_fts_update AFTER UPDATE OF id, title, text ON items BEGIN "
    "INSERT INTO items_fts(items_fts, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); "
    "INSERT INTO items_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS items_fts_update",
    "DROP TRIGGER IF EXISTS items_fts_delete",
    "DROP TRIGGER IF EXISTS items_fts_insert",
    "DROP TABLE IF EXISTS items_fts",
]
TRIGRAM_INDEXES = {"ix_items_title_trgm": "title", "ix_items_text_trgm": "text"}


def _sqlite_has_trigram(conn) -> bool:
    version = tuple(
        int(p) for p in conn.execute(text("SELECT sqlite_version()")).scalar().split(".")
    )
    fts5 = conn.execute(text("SELECT sqlite_compileoption_used('ENABLE_FTS5')")).scalar()
    return version >= SQLITE_TRIGRAM and bool(fts5)


def _create_pg_trgm(conn) -> bool:
    """Create the extension unless present; False (and a warning) when that is not allowed."""
    try:
        with conn.begin_nested():
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError as error:
        log.warning(
            "pg_trgm could not be created (%s): the text filter q stays a scan "
            "(db/versions/0013_item_text_search.py says how to add its indexes later)",
            error.orig,
        )
        return False
    return True


def upgrade() -> None:
    conn = op.get_bind()
    op.execute(
        f"CREATE INDEX ix_items_source_language_time ON items "
        f"(source_id, language, {ITEM_TIME}, id)"
    )
    if conn.dialect.name == "sqlite":
        # without statistics of its own, SQLite took this index for a source filter alone
        # and sorted all of the source's items (where tables were analyzed before)
        op.execute("ANALYZE ix_items_source_language_time")
        if _sqlite_has_trigram(conn):
            for statement in SQLITE_UP:
                op.execute(statement)
        else:
            log.warning("this SQLite has no FTS5 trigram tokenizer: the text filter q stays a scan")
        return
    if _create_pg_trgm(conn):
        for name, column in TRIGRAM_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON items USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    else:
        for name in TRIGRAM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_items_source_language_time", table_name="items")

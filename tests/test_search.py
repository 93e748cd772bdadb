"""The text filter ``q`` through the trigram indexes of revision 0013, on SQLite and PostgreSQL:
the same items as the plain substring scan, kept in sync with writes, and the migration."""

from __future__ import annotations

import pytest
from alembic import command
from conftest import POSTGRES_URL
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

import focusdig.search
from focusdig.database import (
    alembic_config,
    create_db_engine,
    current_revision,
    migrate,
    normalize_url,
    session_scope,
)
from focusdig.queries import ItemFilter, count_items, list_items
from focusdig.schema import Item, Source
from focusdig.search import PG_TRIGRAM_INDEXES, SQLITE_FTS, substring_condition, text_condition

TEXTS = [
    ("Apple profit rises", "Revenue grew at APPLE and at the bank."),
    ("BANK shares fall", "Die Börse steigt kräftig; Müller sagt nichts."),
    ("Zentralbank lässt Zinsen unverändert", "ÄPFEL UND BIRNEN, STRASSE und Straße."),
    ("银行利润上升", "中国银行的利润上升了百分之五。"),
    ("Margin at 50% and a_b", 'Path C:\\data\\x and 100 %% cut; "quoted" words'),
    ("aXb 50x", "Nothing matches the wildcards here: 50 percent."),
    ("Quetzalcoatl spotted", "a rare word"),
    ("ab", "x"),
]
QUERIES = [
    "apple",  # ASCII case differences
    "APPLE",
    "Bank",
    "börse",  # non-ASCII: SQLite's lower() folds ASCII only, PostgreSQL's all of it
    "BÖRSE",
    "äpfel",
    "ÄPFEL",
    "straße",
    "STRASSE",
    "银行利",  # Chinese
    "利润上升",
    "银行",  # 2 characters: below a trigram
    "50%",  # LIKE wildcards are literal
    "a_b",
    "%",
    "_",
    "\\data\\",  # the escape character
    '"quoted"',  # FTS5 phrase quotes
    "quetzalcoatl",
    "ab",  # 1-2 characters
    "a",
    "nowhere at all",
]


def _add_items(session, texts) -> list[int]:
    source = Source(name="s", url="https://s.example/feed")
    session.add(source)
    session.flush()
    items = [
        Item(source_id=source.id, guid=f"g{k}", title=t, text=b, content_hash=f"{k:064d}")
        for k, (t, b) in enumerate(texts)
    ]
    session.add_all(items)
    session.flush()
    return [item.id for item in items]


def _scan(session, q: str) -> set[int]:
    return set(session.scalars(select(Item.id).where(substring_condition(q))))


def _found(session, q: str) -> set[int]:
    page = list_items(session, ItemFilter(q=q), limit=None)
    assert page.total == len(page.items) and page.total_exact
    return {item["id"] for item in page.items}


def _fts_in_sync(session) -> None:
    """SQLite: FTS5 checks its index against ``items`` (raises when they differ)."""
    session.execute(
        text(f"INSERT INTO {SQLITE_FTS}({SQLITE_FTS}, rank) VALUES ('integrity-check', 1)")
    )


def _objects_of_items(engine) -> set[str]:
    """The names of the indexes (and on SQLite triggers and FTS tables) around ``items``."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(
                text(
                    "SELECT name FROM sqlite_master "
                    "WHERE tbl_name LIKE 'items%' AND name != 'items'"
                )
            )
        else:
            rows = conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'items'"))
        return set(rows.scalars())


def _check_queries(session, ids: list[int], sqlite: bool) -> None:
    for q in QUERIES:
        assert _found(session, q) == _scan(session, q), q
        assert count_items(session, ItemFilter(q=q)) == (len(_scan(session, q)), True)
    # the expectations, not just agreement with the scan
    assert _found(session, "apple") == _found(session, "APPLE") == {ids[0]}
    assert _found(session, "Bank") == {ids[0], ids[1], ids[2]}
    assert _found(session, "银行利") == {ids[3]}
    assert _found(session, "银行") == {ids[3]}
    assert _found(session, "50%") == {ids[4]}  # not "50x" nor "50 percent"
    assert _found(session, "a_b") == {ids[4]}  # not "aXb"
    assert _found(session, "\\data\\") == {ids[4]}
    assert _found(session, '"quoted"') == {ids[4]}
    assert _found(session, "quetzalcoatl") == {ids[6]}
    assert _found(session, "börse") == {ids[1]}
    assert _found(session, "straße") == {ids[2]}
    # SQLite's ilike folds ASCII only (as before the index); PostgreSQL's folds umlauts too
    assert _found(session, "äpfel") == (set() if sqlite else {ids[2]})
    assert _found(session, "nowhere at all") == set()


def test_q_finds_what_the_substring_scan_finds(database_url, monkeypatch):
    engine = create_db_engine(database_url)
    migrate(engine)
    sqlite = engine.dialect.name == "sqlite"
    with session_scope(engine) as session:
        ids = _add_items(session, TEXTS)
        assert (
            SQLITE_FTS in str(text_condition(session, "quetzalcoatl").compile(engine))
        ) == sqlite
        assert SQLITE_FTS not in str(text_condition(session, "ab").compile(engine))
        _check_queries(session, ids, sqlite)
        # every q with candidates takes the newest-first walk instead of the index
        monkeypatch.setattr(focusdig.search, "DENSE_TEXT", 0)
        assert SQLITE_FTS not in str(text_condition(session, "quetzalcoatl").compile(engine))
        _check_queries(session, ids, sqlite)
        if sqlite:
            _fts_in_sync(session)
    engine.dispose()


def test_the_index_follows_inserts_updates_and_deletes(database_url):
    engine = create_db_engine(database_url)
    migrate(engine)
    sqlite = engine.dialect.name == "sqlite"
    with session_scope(engine) as session:
        ids = _add_items(session, TEXTS)
        first, second, rare = ids[0], ids[1], ids[6]
        assert _found(session, "quetzalcoatl") == {rare}
        session.get(Item, first).title = "Quetzalcoatl seen twice"
        session.get(Item, second).text = "Nothing about banks any more."
        session.flush()
        assert _found(session, "quetzalcoatl") == {first, rare}
        assert _found(session, "börse") == set()
        assert _found(session, "profit rises") == set()  # the old title is out of the index
        session.add(Item(source_id=1, guid="new", title="QUETZALCOATL", content_hash="e" * 64))
        session.delete(session.get(Item, rare))
        session.flush()
        assert len(_found(session, "quetzalcoatl")) == 2
        assert first in _found(session, "quetzalcoatl")
        if sqlite:
            _fts_in_sync(session)
    with session_scope(engine) as session:  # a source's items go with it (ON DELETE CASCADE)
        session.execute(text("DELETE FROM sources"))
    with session_scope(engine) as session:
        assert _found(session, "quetzalcoatl") == set()
        if sqlite:
            _fts_in_sync(session)
            left = session.scalar(
                text(f"SELECT count(*) FROM {SQLITE_FTS} WHERE {SQLITE_FTS} MATCH '\"ban\"'")
            )
            assert left == 0


def test_migration_up_down_up(database_url):
    engine = create_db_engine(database_url)
    migrate(engine)
    sqlite = engine.dialect.name == "sqlite"
    triggers = {"items_fts_insert", "items_fts_update", "items_fts_delete"}
    search = {SQLITE_FTS, *triggers} if sqlite else set(PG_TRIGRAM_INDEXES)
    added = search | {"ix_items_source_language_time"}
    assert added <= _objects_of_items(engine)
    with session_scope(engine) as session:
        ids = _add_items(session, TEXTS)
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0012_entity_api_indexes")
    assert current_revision(engine) == "0012_entity_api_indexes"
    left = _objects_of_items(engine)
    assert not added & left and not any(name.startswith(SQLITE_FTS) for name in left)
    with session_scope(engine) as session:
        # the scan, without the index (the condition alone: the item list reads columns of
        # later revisions, e.g. 0014's explanation)
        matched = session.scalars(select(Item.id).where(text_condition(session, "quetzalcoatl")))
        assert set(matched) == {ids[6]}
        session.add(
            Item(source_id=1, guid="late", title="late quetzalcoatl", content_hash="f" * 64)
        )
    migrate(engine)  # up again: the index is filled from the rows already there
    assert added <= _objects_of_items(engine)
    with session_scope(engine) as session:
        found = _found(session, "quetzalcoatl")
        assert len(found) == 2 and ids[6] in found
        if sqlite:
            _fts_in_sync(session)
    engine.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason="FOCUSDIG_TEST_POSTGRES_URL not set")
def test_postgres_without_pg_trgm_privilege_still_migrates(database_url):
    """A role that may not create extensions: the migration succeeds without the indexes and
    ``q`` is answered by the scan."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    admin = create_engine(normalize_url(database_url), isolation_level="AUTOCOMMIT")
    role = "focusdig_no_ext_" + make_url(database_url).database[-12:]
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}"))
    try:
        url = make_url(normalize_url(database_url)).set(username=role)
        engine = create_db_engine(url.render_as_string(hide_password=False))
        migrate(engine)
        assert current_revision(engine) == "0014_score_explanation"
        assert not set(PG_TRIGRAM_INDEXES) & _objects_of_items(engine)
        with session_scope(engine) as session:
            ids = _add_items(session, TEXTS)
            assert _found(session, "QUETZALCOATL") == {ids[6]}
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()

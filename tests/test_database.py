"""Schema, migrations and dedup constraints on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import func, insert, inspect, select, text

from focusdig.database import (
    alembic_config,
    create_db_engine,
    current_revision,
    get_engine,
    migrate,
    session_scope,
)
from focusdig.ingest.parse import FeedEntry
from focusdig.ingest.store import content_hash, link_comments, store_entries
from focusdig.schema import Entity, EntityScore, Item, ModelVersion, Score, ScoreToken, Source
from focusdig.settings import Settings
from focusdig.sources import add_source


def entry(guid, url, title="Profit rises", text="Revenue grew.", parent_url=None):
    return FeedEntry(
        guid=guid,
        url=url,
        title=title,
        text=text,
        author=None,
        published_at=None,
        comments_url=None,
        comments_page=None,
        parent_url=parent_url,
    )


SCORED = {"label": "positive", "score": 0.5, "prob_negative": 0.1}
SCORED |= {"prob_neutral": 0.3, "prob_positive": 0.6}


def store_scored_item(conn) -> tuple[int, int]:
    """A source, an item, a model and the item's score with one word, by Core inserts of
    columns that every revision since 0002 has; returns (item id, model id)."""
    source = conn.execute(insert(Source.__table__).values(name="s", url="u"))
    source = source.inserted_primary_key[0]
    item = conn.execute(
        insert(Item.__table__).values(source_id=source, guid="g", content_hash="h" * 64)
    ).inserted_primary_key[0]
    model = conn.execute(
        insert(ModelVersion.__table__).values(kind="classifier", version="v", artifact_path="p")
    ).inserted_primary_key[0]
    score = conn.execute(
        insert(Score.__table__).values(item_id=item, model_version_id=model, **SCORED)
    ).inserted_primary_key[0]
    conn.execute(
        insert(ScoreToken.__table__).values(
            score_id=score, rank=1, word="profit", weight=0.4, start=0, end=6
        )
    )
    return item, model


def row_counts(engine, *tables) -> tuple[int, ...]:
    """How many rows each ORM class's table holds."""
    with engine.connect() as conn:
        return tuple(conn.scalar(select(func.count()).select_from(t.__table__)) for t in tables)


def test_migrations_create_every_table(database_url):
    engine = create_db_engine(database_url)
    assert migrate(engine) is True
    assert migrate(engine) is False
    tables = set(inspect(engine).get_table_names())
    assert {
        "sources",
        "fetch_log",
        "items",
        "model_versions",
        "scores",
        "score_tokens",
        "translations",
        "alerts",
        "alert_deliveries",
    } <= tables
    assert current_revision(engine) == "0014_score_explanation"
    engine.dispose()


def test_score_explanation_revision_up_down_up(database_url):
    """0014 adds ``explanation`` to scores and entity scores, NULL (not recorded) on the rows
    already there, and drops it again with every row and word kept: on SQLite the tables are
    altered in place, never recreated (dropping ``scores`` would cascade to its words)."""
    engine = create_db_engine(database_url)
    cfg = alembic_config(engine)

    def to(revision: str, how=command.upgrade) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            how(cfg, revision)

    def columns(table: str) -> set[str]:
        return {c["name"] for c in inspect(engine).get_columns(table)}

    def counts() -> tuple[int, ...]:
        return row_counts(engine, Score, ScoreToken, EntityScore)

    to("0013_item_text_search")
    assert "explanation" not in columns("scores") | columns("entity_scores")
    with engine.begin() as conn:  # Core inserts of the 0013 columns only
        item, model = store_scored_item(conn)
        entity = conn.execute(insert(Entity.__table__).values(name="Acme")).inserted_primary_key[0]
        conn.execute(
            insert(EntityScore.__table__).values(
                item_id=item,
                entity_id=entity,
                model_version_id=model,
                method="target",
                top_tokens=[{"word": "profit", "weight": 0.4, "start": 0, "end": 6}],
                **SCORED,
            )
        )
    to("0014_score_explanation")
    assert "explanation" in columns("scores") and "explanation" in columns("entity_scores")
    with session_scope(engine) as session:
        old = session.scalars(select(Score)).one(), session.scalars(select(EntityScore)).one()
        assert [row.explanation for row in old] == [None, None]  # stored before: not recorded
        assert [t.word for t in old[0].tokens] == ["profit"]
    to("0013_item_text_search", command.downgrade)
    assert "explanation" not in columns("scores") | columns("entity_scores")
    assert counts() == (1, 1, 1)
    migrate(engine)
    assert current_revision(engine) == "0014_score_explanation" and counts() == (1, 1, 1)
    engine.dispose()


def test_sqlite_uses_wal_and_busy_timeout(focusdig_home):
    engine = get_engine(Settings.from_env())
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_dedup_by_guid_url_and_content_hash(database_url):
    engine = get_engine(Settings.from_env())
    with session_scope(engine) as session:
        a, _ = add_source(session, "https://a.example/feed")
        b, _ = add_source(session, "https://b.example/feed")
        first = [entry("1", "https://a.example/x"), entry("2", "https://a.example/y", "Loss")]
        assert store_entries(session, a, first) == (2, 0)
        # same guid; same URL under a new guid (fragment and host case ignored); same content
        again = [
            entry("1", "https://a.example/other", "New title"),
            entry("99", "https://A.example/x#top", "Different"),
            entry("3", "https://b.example/z", "profit  RISES", "Revenue grew."),
        ]
        assert store_entries(session, b, again) == (1, 2)
        assert store_entries(session, a, first) == (0, 2)
        # a feed that repeats an entry: the first copy is stored, the second is a duplicate
        twice = [entry("5", "https://a.example/5", "Orders up"), entry("5", "https://a.example/5")]
        assert store_entries(session, a, twice) == (1, 1)
        assert store_entries(session, a, []) == (0, 0)
    with session_scope(engine) as session:
        assert session.scalar(select(Item.id).where(Item.guid == "1").limit(2)) is not None
        assert len(session.scalars(select(Item)).all()) == 4
        assert session.scalar(select(Item.title).where(Item.guid == "5")) == "Orders up"


def test_comments_link_to_their_article_in_any_order(database_url):
    engine = get_engine(Settings.from_env())
    article = "https://news.example/a1"
    with session_scope(engine) as session:
        comments, _ = add_source(session, "https://news.example/c", kind="comments")
        news, _ = add_source(session, "https://news.example/feed")
        store_entries(
            session,
            comments,
            [
                entry("c1", article + "#comment-1", "", "Great quarter!", parent_url=article),
                entry("c2", article, "", "Agreed, strong numbers.", parent_url=article + "#frag"),
            ],
        )
        store_entries(session, news, [entry("a1", article)])
        assert link_comments(session) == 2
    with session_scope(engine) as session:
        rows = session.scalars(select(Item).where(Item.kind == "comments")).all()
        parent = session.scalar(select(Item.id).where(Item.kind == "news"))
        assert [c.parent_item_id for c in rows] == [parent, parent]
        # a comment that links to its article keeps no URL of its own (it is not the article)
        assert sorted(str(c.url) for c in rows) == ["None", article + "#comment-1"]


def test_content_hash_ignores_case_and_spacing_but_not_thread():
    assert content_hash("news", "A  b", "C", None) == content_hash("news", "a b", "c", None)
    assert content_hash("comments", "", "+1", "https://x/1") != content_hash(
        "comments", "", "+1", "https://x/2"
    )


def test_links_in_feeds_never_reach_local_files():
    from focusdig.sources import resolve_link

    web = "https://news.example/feed.xml"
    assert resolve_link(web, "/c/1.xml") == "https://news.example/c/1.xml"
    assert resolve_link(web, "file:///etc/passwd") is None
    assert resolve_link(web, "javascript:alert(1)") is None
    assert resolve_link("sample:en_markets.xml", "en_comments.xml") == "sample:en_comments.xml"
    assert resolve_link("sample:en_markets.xml", "file:///etc/passwd") is None
    local = "file:///data/feeds/news.xml"
    assert resolve_link(local, "comments.xml") == "file:///data/feeds/comments.xml"
    assert resolve_link(local, "/etc/passwd") is None


@pytest.mark.filterwarnings("ignore:.*expression-based index")  # SQLite cannot reflect them
def test_migrations_match_the_orm_models(database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from focusdig.schema import Base
    from focusdig.search import outside_orm

    engine = create_db_engine(database_url)
    migrate(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": outside_orm})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrades_keep_every_row_of_the_tables_they_alter(database_url):
    """Down to 0002 and up again with a score and its words stored: SQLite columns are added
    and dropped in place, so no parent table (``model_versions``) is dropped and recreated
    under its children, which foreign keys would refuse or cascade."""
    engine = create_db_engine(database_url)
    migrate(engine)
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        store_scored_item(conn)

    def counts() -> tuple[int, ...]:
        return row_counts(engine, Source, Item, ModelVersion, Score, ScoreToken)

    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    assert current_revision(engine) == "0002"
    assert "backend" not in {c["name"] for c in inspect(engine).get_columns("model_versions")}
    assert counts() == (1, 1, 1, 1, 1)
    migrate(engine)
    assert current_revision(engine) == "0014_score_explanation" and counts() == (1, 1, 1, 1, 1)
    engine.dispose()

"""Engines, sessions and automatic migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from focusdig.paths import MIGRATIONS_DIR
from focusdig.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def normalize_url(url: str) -> str:
    """Route plain ``postgresql://`` URLs through psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    """A new engine; SQLite gets WAL, a busy timeout and foreign keys, and its folder is made."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> bool:
    """Upgrade the database to the newest Alembic revision; True when it was created just now."""
    before = current_revision(engine)
    if before == ScriptDirectory.from_config(alembic_config()).get_current_head():
        return False
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return before is None


def get_engine(
    settings: Settings | None = None, on_create: Callable[[Engine], None] | None = None
) -> Engine:
    """The process-wide engine for the configured database, migrated on first use.

    ``on_create`` runs once when the database did not exist before (e.g. to add default sources).
    """
    settings = settings or Settings.from_env()
    with _lock:
        engine = _engines.get(settings.database_url)
        if engine is None:
            engine = create_db_engine(settings.database_url)
            if migrate(engine) and on_create is not None:
                on_create(engine)
            _engines[settings.database_url] = engine
        return engine


def dispose_engines() -> None:
    """Close every cached engine (tests, forked workers)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def insert_unless_present(session: Session, model: type, row: dict) -> int | None:
    """Insert one row unless a unique key already holds it (a concurrent run, a rerun).

    Returns the new row's id, or None when it was already there. SQLite and PostgreSQL both do
    this atomically with ``INSERT … ON CONFLICT DO NOTHING RETURNING id``.
    """
    stmt = upsert_statement(session, model).values(**row)
    stmt = stmt.on_conflict_do_nothing().returning(model.id)
    return session.execute(stmt).scalar()


def insert_all_unless_present(session: Session, model: type, rows: list[dict]) -> int:
    """`insert_unless_present` for many rows at once (one statement, or a few for thousands of
    rows); returns how many were new. Rows that clash with each other keep the first."""
    if not rows:
        return 0
    stmt = upsert_statement(session, model).on_conflict_do_nothing().returning(model.id)
    return len(session.execute(stmt, rows).all())


def upsert_statement(session: Session, model: type):
    """``INSERT`` into ``model``'s table with ``on_conflict_do_update``/``do_nothing`` for the
    session's engine: a Core statement, so many rows skip the ORM's bulk-insert bookkeeping
    (the entity step's writes of 10,000 items: 3.1 -> 2.3 s; benchmarks/README.md section 6)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model.__table__)


def serialize_writers(session: Session, name: str) -> None:
    """Make this transaction the only one holding the lock ``name`` until it ends.

    For read-then-write work that must see every committed row (e.g. recomputing a rollup
    from its source rows): PostgreSQL takes a transaction advisory lock; SQLite starts the
    transaction with ``BEGIN IMMEDIATE`` (the database write lock, waited for up to the busy
    timeout), so it must come before any other statement of the transaction.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif not connection.connection.driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = sessionmaker(engine, expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

"""Shared fixtures: an isolated focusdig home, and databases on SQLite and (when available)
PostgreSQL. Set FOCUSDIG_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/postgres)
to run every database test on PostgreSQL too; `.ci/run` does."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from focusdig.database import dispose_engines, normalize_url

sys.path.insert(0, str(Path(__file__).parent))
from feedserver import feed_server  # noqa: E402, F401  (fixture for every test module)

POSTGRES_URL = os.environ.get("FOCUSDIG_TEST_POSTGRES_URL")
FEEDS = Path(__file__).parent / "fixtures" / "feeds"


@pytest.fixture(autouse=True)
def focusdig_home(tmp_path, monkeypatch):
    """Every test gets its own FOCUSDIG_HOME with a SQLite database in it."""
    home = tmp_path / "home"
    monkeypatch.setenv("FOCUSDIG_HOME", str(home))
    monkeypatch.delenv("FOCUSDIG_DATABASE_URL", raising=False)
    yield home
    dispose_engines()


def _postgres_database():
    admin_url = normalize_url(POSTGRES_URL)
    name = f"focusdig_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, focusdig_home, monkeypatch):
    """A fresh empty database on each engine; also exported as FOCUSDIG_DATABASE_URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{focusdig_home / 'test.db'}"
        monkeypatch.setenv("FOCUSDIG_DATABASE_URL", url)
        yield url
        return
    if not POSTGRES_URL:
        pytest.skip("FOCUSDIG_TEST_POSTGRES_URL not set")
    for url in _postgres_database():
        monkeypatch.setenv("FOCUSDIG_DATABASE_URL", url)
        yield url

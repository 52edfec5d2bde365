"""Fixtures shared by the whole test suite: storage URLs for every SQL backend.

``sqlite_url`` is a fresh SQLite file, ``postgres_url`` a fresh PostgreSQL database on
127.0.0.1:5432 (user postgres, trust auth), and ``storage_url`` runs a test once with each.
Without a reachable PostgreSQL the PostgreSQL cases skip with the reason, unless the ``CI``
environment variable is set: there they fail, so CI never silently loses them. The server can
be moved with ``PIPETUNE_TEST_PG_HOST``, ``PIPETUNE_TEST_PG_PORT`` and ``PIPETUNE_TEST_PG_USER``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import pipetune

if TYPE_CHECKING:
    import psycopg

POSTGRES_HOST = os.environ.get("PIPETUNE_TEST_PG_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("PIPETUNE_TEST_PG_PORT", "5432"))
POSTGRES_USER = os.environ.get("PIPETUNE_TEST_PG_USER", "postgres")


def _admin_connect() -> "psycopg.Connection":
    import psycopg  # imported here: a missing driver must skip the PostgreSQL tests, not all

    return psycopg.connect(host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER,
                           dbname="postgres", autocommit=True, connect_timeout=3)


def forget_cached_storages(url: str) -> None:
    """Closes and forgets every backend ``pipetune.get_storage`` holds for ``url``, so that the
    database can be dropped and a later test opening the same URL starts afresh."""
    from pipetune import storage as storage_module

    with storage_module._open_lock:
        # get_storage may have spelled the driver differently ("postgresql://" is stored as
        # "postgresql+psycopg://"): compare what follows the scheme.
        matching = [key for key in storage_module._open_storages
                    if key.split("://", 1)[-1] == url.split("://", 1)[-1]]
        backends = [storage_module._open_storages.pop(key) for key in matching]
    for backend in backends:
        backend.close()


@pytest.fixture(scope="session")
def postgres_server() -> None:
    """Checks once per session that PostgreSQL answers; skips (or fails under CI) if not."""
    try:
        with _admin_connect() as conn:
            conn.execute("SELECT 1")
    except Exception as error:  # missing driver, refused connection, auth failure, ...
        reason = (f"PostgreSQL is not reachable at {POSTGRES_USER}@{POSTGRES_HOST}:"
                  f"{POSTGRES_PORT} ({type(error).__name__}: {error}).")
        if os.environ.get("CI"):
            pytest.fail(f"{reason} CI is set, so the PostgreSQL tests must run.")
        pytest.skip(f"{reason} Start it, or set CI=true to make this a failure.")


@contextmanager
def _fresh_postgres_database() -> Iterator[str]:
    name = f"pipetune_test_{uuid.uuid4().hex[:12]}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    try:
        yield url
    finally:
        forget_cached_storages(url)
        with _admin_connect() as conn:
            # FORCE ends connections a test leaked (an unclosed engine's idle pool).
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_server: None) -> Iterator[str]:
    """A fresh PostgreSQL database (no tables at all) for one test, dropped afterwards."""
    with _fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def _postgres_session_url(postgres_server: None) -> Iterator[str]:
    with _fresh_postgres_database() as url:
        yield url


@pytest.fixture
def postgres_empty_url(_postgres_session_url: str) -> Iterator[str]:
    """A PostgreSQL database whose pipetune tables are empty (ids continue from earlier tests).

    One database serves the whole session and is emptied before each test: several times
    faster than ``postgres_url`` for suites of many short tests, such as the storage contract.
    Tests that need a database without any schema (schema creation, migrations) use
    ``postgres_url``.
    """
    import psycopg

    from pipetune.storage.sql import schema

    url = _postgres_session_url
    forget_cached_storages(url)
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("SET lock_timeout = '10s'")
        if conn.execute("SELECT to_regclass('schema_info') IS NOT NULL").fetchone()[0]:
            # DELETE, children first: on tables this small it is much cheaper than TRUNCATE.
            for table in reversed(schema.metadata.sorted_tables):
                conn.execute(f'DELETE FROM "{table.name}"')
    yield url
    forget_cached_storages(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A SQLite file (not yet created) in the test's own directory."""
    url = f"sqlite:///{tmp_path / 'pipetune.db'}"
    yield url
    forget_cached_storages(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest) -> str:
    """The URL of a fresh database of each SQL backend in turn."""
    return request.getfixturevalue(
        "postgres_url" if request.param == "postgresql" else "sqlite_url")


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest) -> "str | pipetune.InMemoryStorage":
    """An in-memory storage, or the URL of a fresh SQLite file: the two embedded backends
    every behaviour test runs on."""
    if request.param == "memory":
        return pipetune.InMemoryStorage()
    return request.getfixturevalue("sqlite_url")

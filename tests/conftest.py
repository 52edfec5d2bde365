"""Fixtures shared by the whole test suite: storage URLs for every SQL backend.

``sqlite_url`` is a fresh SQLite file, ``postgres_url`` a fresh PostgreSQL database on
127.0.0.1:5432 (user postgres, trust auth), and ``storage_url`` runs a test once with each.
Without a reachable PostgreSQL the PostgreSQL cases skip with the reason, unless the ``CI``
environment variable is set: there they fail, so CI never silently loses them (the rule of
``availability.py``). The server can be moved with ``PIPETUNE_TEST_PG_HOST``,
``PIPETUNE_TEST_PG_PORT`` and ``PIPETUNE_TEST_PG_USER``. ``private_postgres`` is a PostgreSQL
server of one test's own, for tests that stop or restart it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from availability import unavailable

import pipetune

if TYPE_CHECKING:
    import psycopg

# Ray reads these when it is first imported, by whichever test does so first (the Ray backend's
# tests, or the sampler and pruner contracts that ship objects as the backend does): every Ray
# listener on 127.0.0.1, and no usage reports sent anywhere.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

POSTGRES_HOST = os.environ.get("PIPETUNE_TEST_PG_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("PIPETUNE_TEST_PG_PORT", "5432"))
POSTGRES_USER = os.environ.get("PIPETUNE_TEST_PG_USER", "postgres")


def _admin_connect() -> psycopg.Connection:
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
    except Exception as error:  # noqa: BLE001 - missing driver, refused connection, bad auth...
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_USER}@{POSTGRES_HOST}:"
                    f"{POSTGRES_PORT} ({type(error).__name__}: {error}): start it.")


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


class PrivatePostgres:
    """A throwaway PostgreSQL cluster of one test, on a free port of 127.0.0.1: the test may
    stop and restart it without disturbing the shared server every other test uses. Built
    with the server's own ``initdb`` and ``pg_ctl``; run as the ``postgres`` user when the
    tests run as root, since PostgreSQL refuses to run as root."""

    def __init__(self) -> None:
        search = os.pathsep.join([os.environ.get("PATH", ""),
                                  *sorted(glob.glob("/usr/lib/postgresql/*/bin"))])
        pg_ctl = shutil.which("pg_ctl", path=search)
        if pg_ctl is None:
            unavailable("The PostgreSQL server programs (initdb, pg_ctl) are not installed.")
        self._bin = Path(pg_ctl).resolve().parent
        owner = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                unavailable("The tests run as root and there is no 'postgres' user to run a "
                            "PostgreSQL server as.")
        self._as_user = [] if owner is None else ["runuser", "-u", "postgres", "--"]
        self.folder = Path(tempfile.mkdtemp(prefix="pipetune-pg-"))
        if owner is not None:
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run([*self._as_user, str(self._bin / program), *args],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{program} {' '.join(args)}:\n{done.stdout}{done.stderr}"

    def init(self) -> None:
        self._run("initdb", "-D", str(self.folder / "data"), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8", "--locale", "C")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "log"),
                  "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", mode, "-w", "-t", "60",
                  "stop")

    def restart(self) -> None:
        """Stops the server, ending every connection to it, and starts it again."""
        self.stop()
        self.start()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running ``PrivatePostgres``, stopped and deleted after the test."""
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        forget_cached_storages(server.url)
        if (server.folder / "data" / "postmaster.pid").exists():
            server.stop("immediate")
        shutil.rmtree(server.folder, ignore_errors=True)


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
def storage(request: pytest.FixtureRequest) -> str | pipetune.InMemoryStorage:
    """An in-memory storage, or the URL of a fresh SQLite file: the two embedded backends
    every behaviour test runs on."""
    if request.param == "memory":
        return pipetune.InMemoryStorage()
    return request.getfixturevalue("sqlite_url")

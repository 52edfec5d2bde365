"""The transaction helper of SQL storage: raw DBAPI connections running statements that
SQLAlchemy compiled once for the database's dialect.

A trial makes a handful of small writes (claim, one per param, result). Through a SQLAlchemy
``Connection`` each costs about 180 us, of which the engine's bookkeeping (pool checkout, events,
statement cache keys) is three quarters; on a kept DBAPI connection with a precompiled statement
the same transaction costs about 40 us on SQLite. The SQL itself still comes from SQLAlchemy, so
one schema definition serves SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

from pipetune.errors import StorageError, StorageUnavailableError


class Conflict(Exception):
    """A uniqueness constraint refused a write (the row exists already)."""


def storage_failure(url: str, error: BaseException,
                    unavailable: type[BaseException] | tuple[()]) -> StorageError:
    """The pipetune error for a driver ``error``: ``StorageUnavailableError`` when it is an
    ``unavailable`` one (the connection refused or lost: a restart, the network), else a
    plain ``StorageError`` (a locked SQLite file, a file that is not a database)."""
    cls = StorageUnavailableError if isinstance(error, unavailable) else StorageError
    return cls(f"The storage {url} failed: {error}")


class Statement:
    """A statement compiled once; ``params`` lays out its values the way the driver takes them.

    Values written into the statement itself (a LIMIT, a literal) are bound parameters too:
    they come from the compiled defaults unless the caller names them.
    """

    def __init__(self, statement: ClauseElement, engine: Engine) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self.sql = compiled.string
        self._defaults = {k: v for k, v in compiled.params.items() if v is not None}
        self._positions = compiled.positiontup if compiled.positional else None

    def params_many(self, names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Any:
        """``params`` of many rows given as tuples in the order of ``names``."""
        if self._positions is not None and tuple(self._positions) == names:
            return rows
        return [self.params(dict(zip(names, row))) for row in rows]

    def params(self, values: Mapping[str, Any]) -> Any:
        values = {**self._defaults, **values}
        if self._positions is None:
            return values
        return tuple(values[name] for name in self._positions)


class Cursor:
    """What a transaction body sees: run a compiled statement, read its rows."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def run(self, statement: Statement, **values: Any) -> "Cursor":
        self._cursor.execute(statement.sql, statement.params(values))
        return self

    def run_many(self, statement: Statement, names: tuple[str, ...],
                 rows: list[tuple[Any, ...]]) -> "Cursor":
        """Runs the statement once per row (values in the order of ``names``), in one driver
        call (executemany). Rows go to the driver as they are when its placeholders take them
        in that order, which saves a dict per row on batches of thousands."""
        self._cursor.executemany(statement.sql, statement.params_many(names, rows))
        return self

    def one_or_none(self) -> tuple | None:
        return self._cursor.fetchone()

    def all(self) -> list[tuple]:
        return list(self._cursor.fetchall())

    def scalar(self) -> Any:
        row = self._cursor.fetchone()
        return None if row is None else row[0]

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount


class RawConnections:
    """A small pool of DBAPI connections checked out of the engine and kept for reuse."""

    def __init__(self, engine: Engine, url: str, *, begin_sql: str | None,
                 relaxed_commit_sql: str | None = None,
                 serialize: threading.RLock | None,
                 unavailable: type[BaseException] | tuple[()] = ()) -> None:
        self._engine = engine
        self._url = url
        self._begin_sql = begin_sql  # SQLite: "BEGIN IMMEDIATE"; PostgreSQL begins implicitly
        self._relaxed_commit_sql = relaxed_commit_sql
        self._serialize = serialize
        self._idle: list[Any] = []
        self._relaxed_idle: list[Any] = []  # autocommit connections (PostgreSQL), run_single
        self._all: list[Any] = []
        self._lock = threading.Lock()
        dbapi = engine.dialect.loaded_dbapi
        self._integrity_error = dbapi.IntegrityError
        self._database_error = dbapi.DatabaseError
        self._unavailable = unavailable  # see storage_failure

    def _connect(self) -> Any:
        """A new DBAPI connection from the engine's pool. The pool raises the driver's own
        errors, not SQLAlchemy's wrappers, when it cannot connect (a database restarting)."""
        try:
            return self._engine.raw_connection()
        except DBAPIError as error:
            raise storage_failure(self._url, error.orig, self._unavailable) from error
        except self._database_error as error:
            raise storage_failure(self._url, error, self._unavailable) from error

    def _acquire(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        connection = self._connect()
        with self._lock:
            self._all.append(connection)
        return connection

    def _release(self, connection: Any) -> None:
        with self._lock:
            self._idle.append(connection)

    def _discard(self, connection: Any) -> None:
        with self._lock:
            if connection in self._all:
                self._all.remove(connection)
        try:
            connection.invalidate()
        except Exception:  # the connection is already broken; nothing more to release
            pass

    @contextmanager
    def write(self, durable: bool = True) -> Iterator[Cursor]:
        """One write transaction: committed when the body returns, rolled back if it raises.

        A uniqueness violation surfaces as ``Conflict``; a broken or locked database as
        ``StorageError``; either way nothing of the transaction remains. ``durable=False``
        lets the commit return before it reaches disk where the database allows it
        (PostgreSQL's synchronous_commit): a server crash may then lose this write, never
        corrupt anything. Used for what a running trial records on its way, not for results.
        """
        if self._serialize is not None:
            self._serialize.acquire()
        try:
            connection = self._acquire()
        except StorageError:  # the database is unreachable (e.g. restarting)
            if self._serialize is not None:
                self._serialize.release()
            raise
        try:
            cursor = connection.cursor()
            try:
                if self._begin_sql:
                    cursor.execute(self._begin_sql)
                if not durable and self._relaxed_commit_sql:
                    cursor.execute(self._relaxed_commit_sql)
                yield Cursor(cursor)
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
            finally:
                cursor.close()
        except self._integrity_error as error:
            self._release(connection)
            raise Conflict(str(error)) from error
        except self._database_error as error:  # locked, unreachable, not a database
            self._discard(connection)
            raise storage_failure(self._url, error, self._unavailable) from error
        except BaseException:
            self._release(connection)
            raise
        else:
            self._release(connection)
        finally:
            if self._serialize is not None:
                self._serialize.release()

    def run_single(self, statement: Statement, **values: Any) -> int:
        """Runs one statement as its own transaction and returns its row count.

        On PostgreSQL this is the cheap path for what a running trial records on its way:
        autocommit on a connection with ``synchronous_commit = off`` costs one round trip
        (about 150 us here) instead of four with BEGIN, SET LOCAL and COMMIT (about 350 us);
        a server crash may lose the write, never corrupt anything. Elsewhere it is ``write``.
        """
        if self._relaxed_commit_sql is None:
            with self.write(durable=False) as cursor:
                return cursor.run(statement, **values).rowcount
        connection = self._acquire_relaxed()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(statement.sql, statement.params(values))
                rowcount = cursor.rowcount
            finally:
                cursor.close()
        except self._integrity_error as error:
            self._release_relaxed(connection)
            raise Conflict(str(error)) from error
        except self._database_error as error:
            self._discard(connection)
            raise storage_failure(self._url, error, self._unavailable) from error
        except BaseException:
            self._release_relaxed(connection)
            raise
        self._release_relaxed(connection)
        return rowcount

    def _acquire_relaxed(self) -> Any:
        with self._lock:
            if self._relaxed_idle:
                return self._relaxed_idle.pop()
        connection = self._connect()
        try:
            connection.dbapi_connection.autocommit = True
            cursor = connection.cursor()
            cursor.execute("SET synchronous_commit TO OFF")
            cursor.close()
        except self._database_error as error:
            self._discard(connection)
            raise storage_failure(self._url, error, self._unavailable) from error
        with self._lock:
            self._all.append(connection)
        return connection

    def _release_relaxed(self, connection: Any) -> None:
        with self._lock:
            self._relaxed_idle.append(connection)

    def close(self) -> None:
        with self._lock:
            connections, self._all, self._idle = self._all, [], []
            self._relaxed_idle = []
        for connection in connections:
            connection.close()

"""The transaction helper of SQL storage: raw DBAPI connections running statements that
SQLAlchemy compiled once for the database's dialect.

A trial makes a handful of small writes (claim, params, result). Through a SQLAlchemy
``Connection`` each costs about 180 us, of which the engine's bookkeeping (pool checkout, events,
statement cache keys) is three quarters; on a kept DBAPI connection with a precompiled statement
the same transaction costs about 40 us on SQLite. The SQL itself still comes from SQLAlchemy, so
one schema definition serves SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from pipetune.errors import StorageError, StorageUnavailableError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How long a storage call goes on trying fresh connections while the database is unreachable
# (a restart, a failover) before it raises StorageUnavailableError: a trial rides out that
# long a blink of its storage. Longer outages are the callers' to retry (``retry_storage``).
RECONNECT_FOR = 30.0


class Conflict(Exception):
    """A uniqueness constraint refused a write (the row exists already)."""


class LostCommit(StorageUnavailableError):
    """The connection died while the database committed a transaction (or ran an autocommit
    statement): the write may have been applied or not. ``RawConnections.retry`` resolves it
    before it runs the operation again."""


def storage_failure(url: str, error: BaseException,
                    unavailable: type[BaseException] | tuple[()],
                    committing: bool = False) -> StorageError:
    """The pipetune error for a driver ``error``: ``StorageUnavailableError`` when it is an
    ``unavailable`` one (the connection refused or lost: a restart, the network), else a
    plain ``StorageError`` (a locked SQLite file, a file that is not a database). An
    unavailable error while ``committing`` is a ``LostCommit``."""
    if not isinstance(error, unavailable):
        return StorageError(f"The storage {url} failed: {error}")
    cls = LostCommit if committing else StorageUnavailableError
    return cls(f"The storage {url} failed: {error}")


def reconnecting(method: Callable[..., T]) -> Callable[..., T]:
    """Runs a storage method through ``RawConnections.retry`` (of ``self._connections``):
    for methods whose every transaction gives the same result when run twice (reads,
    replacing writes), so that running one again after a lost commit is safe."""
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> T:
        return self._connections.retry(lambda: method(self, *args, **kwargs))
    return call


class Statement:
    """A statement compiled once; ``params`` lays out its values the way the driver takes them.

    Values written into the statement itself (a LIMIT, a literal) are bound parameters too:
    they come from the compiled defaults unless the caller names them.
    """

    def __init__(self, statement: ClauseElement, engine: Engine) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        assert isinstance(compiled, SQLCompiler)  # a DML statement, not DDL
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


@dataclass(frozen=True)
class Outcome:
    """What a statement run on its own (``RawConnections.run_single``) gave."""

    rowcount: int
    rows: list[tuple]

    def one_or_none(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


class Cursor:
    """What a transaction body sees: run a compiled statement, read its rows."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def run(self, statement: Statement, **values: Any) -> Cursor:
        self._cursor.execute(statement.sql, statement.params(values))
        return self

    def run_many(self, statement: Statement, names: tuple[str, ...],
                 rows: list[tuple[Any, ...]]) -> Cursor:
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

    def outcome(self) -> Outcome:
        """The row count and every row of the last statement (none when it returns none)."""
        rows = self._cursor.fetchall() if self._cursor.description is not None else []
        return Outcome(self._cursor.rowcount, list(rows))


class RawConnections:
    """A small pool of DBAPI connections checked out of the engine and kept for reuse."""

    def __init__(self, engine: Engine, url: str, *, begin_sql: str | None,
                 autocommit_single: bool = False,
                 serialize: threading.RLock | None,
                 unavailable: type[BaseException] | tuple[()] = (),
                 read_only: str | None = None) -> None:
        self._engine = engine
        self._url = url
        self._read_only = read_only  # the StorageError message of every write, when set
        self._begin_sql = begin_sql  # SQLite: "BEGIN IMMEDIATE"; PostgreSQL begins implicitly
        self._autocommit_single = autocommit_single  # see run_single
        self._serialize = serialize
        self._idle: list[Any] = []
        self._autocommit_idle: list[Any] = []  # run_single's connections (PostgreSQL)
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
            raise storage_failure(self._url, error.orig or error, self._unavailable) from error
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
        except Exception:  # noqa: BLE001 - the connection is already broken; nothing to release
            pass

    def _failed(self, connection: Any, error: BaseException, committing: bool) -> StorageError:
        """Discards the connection a driver ``error`` broke and returns the error to raise.
        When the database was unreachable, the idle connections are discarded too: what
        killed this one (a restart, a failover) most likely killed them, and a retry must
        not meet them one by one."""
        self._discard(connection)
        failure = storage_failure(self._url, error, self._unavailable, committing)
        if isinstance(failure, StorageUnavailableError):
            with self._lock:
                idle = self._idle + self._autocommit_idle
                self._idle, self._autocommit_idle = [], []
            for each in idle:
                self._discard(each)
        return failure

    def retry(self, attempt: Callable[[], T],
              after_lost_commit: Callable[[], T] | None = None) -> T:
        """``attempt()``, run again while the database is unreachable (its connections killed
        by a restart, a failover or an idle-connection reaper), for up to ``RECONNECT_FOR``
        seconds; then its StorageUnavailableError is raised. The first retry is at once,
        on a new connection; later ones back off.

        A transaction whose connection died before its commit left nothing behind and simply
        runs again. One whose connection died *during* its commit (``LostCommit``) may have
        been applied: every later try then runs ``after_lost_commit``, which must complete
        the operation whether or not that commit went through (default: ``attempt``, for
        operations that give the same result run twice).
        """
        deadline = time.monotonic() + RECONNECT_FOR
        delay = 0.0
        run = attempt
        while True:
            try:
                return run()
            except StorageUnavailableError as error:
                if isinstance(error, LostCommit) and after_lost_commit is not None:
                    run = after_lost_commit
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning("%s; retrying in %.2fs on a new connection.", error, delay)
                time.sleep(delay)
                delay = min(max(2 * delay, 0.05), 2.0)

    @contextmanager
    def write(self) -> Iterator[Cursor]:
        """One write transaction: committed when the body returns, rolled back if it raises.

        A uniqueness violation surfaces as ``Conflict``; a broken or locked database as
        ``StorageError``; either way nothing of the transaction remains. Whether the commit
        waits for the disk is the storage's durability, set on each connection as it opens.
        """
        if self._read_only is not None:
            raise StorageError(self._read_only)
        if self._serialize is not None:
            self._serialize.acquire()
        try:
            connection = self._acquire()
        except StorageError:  # the database is unreachable (e.g. restarting)
            if self._serialize is not None:
                self._serialize.release()
            raise
        committing = False
        try:
            cursor = connection.cursor()
            try:
                if self._begin_sql:
                    cursor.execute(self._begin_sql)
                yield Cursor(cursor)
                committing = True
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
            raise self._failed(connection, error, committing) from error
        except BaseException:
            self._release(connection)
            raise
        else:
            self._release(connection)
        finally:
            if self._serialize is not None:
                self._serialize.release()

    def run_single(self, statement: Statement, **values: Any) -> Outcome:
        """Runs one statement as its own transaction: the hot path of a trial (its claim,
        params and result are one statement each).

        On PostgreSQL (``autocommit_single``) it runs on an autocommit connection: one round
        trip instead of three with BEGIN and COMMIT. On SQLite it is ``write``, whose
        ``BEGIN IMMEDIATE`` waits for the write lock where a lone statement could not.
        """
        if not self._autocommit_single:
            with self.write() as cursor:
                return cursor.run(statement, **values).outcome()
        connection = self._acquire_autocommit()
        try:
            cursor = connection.cursor()
            try:
                outcome = Cursor(cursor).run(statement, **values).outcome()
            finally:
                cursor.close()
        except self._integrity_error as error:
            self._release_autocommit(connection)
            raise Conflict(str(error)) from error
        except self._database_error as error:  # an autocommit statement is its own commit
            raise self._failed(connection, error, committing=True) from error
        except BaseException:
            self._release_autocommit(connection)
            raise
        self._release_autocommit(connection)
        return outcome

    def _acquire_autocommit(self) -> Any:
        with self._lock:
            if self._autocommit_idle:
                return self._autocommit_idle.pop()
        connection = self._connect()
        try:
            connection.dbapi_connection.autocommit = True
        except self._database_error as error:
            self._discard(connection)
            raise storage_failure(self._url, error, self._unavailable) from error
        with self._lock:
            self._all.append(connection)
        return connection

    def _release_autocommit(self, connection: Any) -> None:
        with self._lock:
            self._autocommit_idle.append(connection)

    def close(self) -> None:
        with self._lock:
            connections, self._all, self._idle = self._all, [], []
            self._autocommit_idle = []
        for connection in connections:
            connection.close()

"""SQL storage over SQLAlchemy 2 Core: SQLite (the embedded default) and PostgreSQL.

Every public method is one transaction opened by ``_write`` (raw DBAPI, precompiled statements:
see ``connections.py``) or ``_read`` (SQLAlchemy Core); a trial's claim, params and result are
one statement each (``RawConnections.run_single``: on PostgreSQL one autocommit round trip,
benchmarks/statements.py counts them). On SQLite, writes begin with ``BEGIN IMMEDIATE``: the
write lock is taken up front and waited for under the busy timeout. A deferred ``BEGIN`` that
reads and later writes can not wait: SQLite answers "database is locked" at once when another
process wrote in between (measured: thousands of such errors from two processes with a 5 s
timeout; none with IMMEDIATE). WAL mode lets reads run beside a writer.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, and_, create_engine, event, func, insert, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

import pipetune.storage.sql.schema as s
from pipetune._attrs import FAIL_REASON_ATTR, FIXED_PARAMS_ATTR
from pipetune.datatypes import FrozenTrial, StudyDirection, StudySummary, TrialState
from pipetune.distributions import Distribution, distribution_from_json
from pipetune.errors import (
    DuplicateStudyError,
    InvalidArgumentError,
    ParamConflictError,
    StorageError,
    StorageURLError,
    StudyNotFoundError,
    TrialNotFoundError,
    UpdateFinishedTrialError,
)
from pipetune.storage.base import BaseStorage, check_study_name, retry_attrs, stale_trial_reason
from pipetune.storage.sql.connections import (
    Conflict,
    Cursor,
    RawConnections,
    reconnecting,
    storage_failure,
)
from pipetune.storage.sql.loader import datetime_of as _datetime
from pipetune.storage.sql.migrations import migrate
from pipetune.storage.sql.statements import (
    PARAMS_PER_STATEMENT,
    FinishStatements,
    ParamInserts,
    WriteStatements,
)
from pipetune.storage.sql.tracking import SQLTracking
from pipetune.storage.sql.url_options import (
    durability_of,
    read_only_connect,
    read_only_reason,
    with_password_of_file,
)

_SQLITE_BUSY_TIMEOUT_MS = 60_000
# Bound to the guarded statements (statements.py) that only touch unfinished trials.
_UNFINISHED = {"running": int(TrialState.RUNNING), "waiting": int(TrialState.WAITING)}


def _to_json(key: str, value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"The attribute {key!r} must be JSON-serializable (str, number, bool, None, list, "
            f"dict). Got a {type(value).__name__}: convert it first, e.g. str(value)."
        ) from None


def _switch_to_wal(cursor: Any) -> None:
    """Puts the database in WAL mode. Switching needs an exclusive lock and SQLite answers
    "database is locked" at once, without the busy handler, when another connection holds the
    file at that moment (several processes or threads opening a new database together): retry
    until the busy timeout. Once the file is in WAL mode the switch is a no-op."""
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


class SQLStorage(SQLTracking, BaseStorage):
    """Storage in a relational database named by a SQLAlchemy URL.

    ``sqlite:///path/to/file.db`` (created on first use, unless ``create=False``: then a
    missing file is a StorageURLError naming it), ``sqlite://`` (a private in-memory
    database) or ``postgresql://user@host/db`` (needs the ``postgres`` extra). A SQLite file
    is opened read-only with ``?mode=ro`` or where it cannot be written: every read works,
    every write raises StorageError.
    ``artifact_root`` is the folder holding artifact files (see ``pipetune.storage.artifacts``).
    """

    def __init__(self, url: str, *, engine_kwargs: dict[str, Any] | None = None,
                 artifact_root: str | os.PathLike[str] | None = None,
                 create: bool = True) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StorageURLError(
                f"Cannot parse the storage URL {url!r}. Use e.g. 'sqlite:///pipetune.db' or "
                "'postgresql://user@host:5432/db'."
            ) from None
        self.url = parsed.render_as_string(hide_password=True)
        self.durability = durability_of(parsed)
        parsed = parsed.difference_update_query(["durability"])  # pipetune's, not the driver's
        self._password_file = parsed.query.get("password_file")
        if self._password_file is not None:
            parsed = with_password_of_file(parsed, self._password_file, self.url)
        self._is_sqlite = parsed.get_backend_name() == "sqlite"
        self._read_only: str | None = None  # why this storage takes no writes, if it does not
        connect_read_only = None
        if self._is_sqlite and parsed.database not in (None, "", ":memory:"):
            path = os.path.abspath(parsed.database)
            folder = os.path.dirname(path)
            if not os.path.isdir(folder):  # SQLite itself says only "unable to open database file"
                raise StorageURLError(
                    f"Cannot open the storage {self.url}: the directory {folder!r} does not "
                    "exist. Create it first, or fix the path ('sqlite:///relative/file.db', "
                    "'sqlite:////absolute/file.db')."
                )
            self._read_only = read_only_reason(path, parsed.query.get("mode") == "ro")
            parsed = parsed.difference_update_query(["mode"])  # pipetune's, as is durability
            if self._read_only is not None:
                if not os.path.exists(path):
                    raise StorageURLError(
                        f"Cannot open the storage {self.url} read-only ({self._read_only}): "
                        f"{path!r} does not exist. Fix the path, or drop mode=ro to create it.")
                connect_read_only = read_only_connect(path, _SQLITE_BUSY_TIMEOUT_MS / 1000)
            elif not create and not os.path.exists(path):
                raise StorageURLError(
                    f"Cannot open the storage {self.url}: the SQLite file {path!r} does not "
                    "exist, and reading never creates one. Fix the path (a relative one starts "
                    "from the working folder), or create a study there first "
                    "(pipetune.create_study, pipetune optimize or tune).")
        # One lock serializes every call on a private in-memory SQLite database, whose single
        # connection is shared by all threads.
        self._memory_lock: threading.RLock | None = None
        kwargs: dict[str, Any] = dict(engine_kwargs or {})
        if self._is_sqlite:
            kwargs.setdefault("connect_args", {}).update(check_same_thread=False,
                                                         timeout=_SQLITE_BUSY_TIMEOUT_MS / 1000)
            if connect_read_only is not None:
                kwargs["creator"] = connect_read_only
            if parsed.database in (None, "", ":memory:"):
                kwargs["poolclass"] = StaticPool
                self._memory_lock = threading.RLock()
        else:
            kwargs.setdefault("pool_pre_ping", True)
        if kwargs.get("poolclass") is None:
            # Writers keep their DBAPI connection (connections.py): the pool must grow to the
            # number of threads writing at once instead of making them wait.
            kwargs.setdefault("max_overflow", -1)
        try:
            self._engine = create_engine(parsed, **kwargs)
        except TypeError as error:  # an engine_kwargs argument the engine or its pool refuses
            raise InvalidArgumentError(
                f"Cannot open the storage {self.url} with engine_kwargs={engine_kwargs!r}: "
                f"{error} Leave out the argument it names (an in-memory SQLite database has "
                "one connection, shared by every thread, and takes no pool settings)."
            ) from None
        except (ArgumentError, ImportError, SQLAlchemyError) as error:
            raise StorageURLError(
                f"Cannot open the storage {self.url}: {error}. For PostgreSQL install the "
                "driver with pip install 'pipetune[postgres]'."
            ) from None
        if self._is_sqlite:
            self._install_sqlite_transactions()
        else:
            self._install_postgres_durability()
        # Connection refused or lost (PostgreSQL restarting, the network): worth retrying.
        # SQLite's errors (a locked or broken file) are not.
        self._unavailable: type[BaseException] | tuple[()] = (
            () if self._is_sqlite else self._engine.dialect.loaded_dbapi.OperationalError)
        self._distribution_cache: dict[str, Distribution] = {}
        self._init_schema()
        self._init_tracking(artifact_root)
        self._sql = WriteStatements.compile(self._engine)
        self._param_inserts = ParamInserts(self._engine)
        self._finish_statements = FinishStatements(self._engine)
        self._connections = RawConnections(
            self._engine, self.url, begin_sql="BEGIN IMMEDIATE" if self._is_sqlite else None,
            # SQLite in WAL mode with synchronous=NORMAL already commits without a sync.
            autocommit_single=not self._is_sqlite,
            serialize=self._memory_lock, unavailable=self._unavailable,
            read_only=None if self._read_only is None else (
                f"The storage {self.url} is open read-only ({self._read_only}): it can be "
                "read, not written. Write to a copy in a writable folder, or open it where "
                "it can be written."))

    # -- connections and transactions ----------------------------------------------------------

    def _install_sqlite_transactions(self) -> None:
        @event.listens_for(self._engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
            if self._read_only is None:  # a reader takes the file as its writers left it
                _switch_to_wal(cursor)
                # In WAL mode NORMAL syncs at checkpoints only; FULL also at every commit.
                cursor.execute(f"PRAGMA synchronous = "
                               f"{'FULL' if self.durability == 'full' else 'NORMAL'}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(self._engine, "begin")
        def _on_begin(connection: Connection) -> None:
            mode = connection.get_execution_options().get("pipetune_begin", "IMMEDIATE")
            connection.exec_driver_sql(f"BEGIN {mode}")

    def _install_postgres_durability(self) -> None:
        setting = "ON" if self.durability == "full" else "OFF"

        @event.listens_for(self._engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"SET synchronous_commit TO {setting}")
            cursor.close()
            dbapi_connection.commit()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine of the database, for queries of your own. Read pipetune's
        tables through it, do not write them: their layout is pipetune's and changes between
        versions."""
        return self._engine

    def connect_url(self) -> str:
        """The whole URL of this storage, password and options included: what opens it
        again in another process (a Ray task)."""
        url = self._engine.url.update_query_dict({"durability": self.durability})
        if self._password_file is not None:  # the other process reads the file, as this one did
            url = url._replace(password=None).update_query_dict(
                {"password_file": self._password_file})
        return url.render_as_string(hide_password=False)

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[Connection]:
        lock = self._memory_lock
        if lock is not None:
            lock.acquire()
        try:
            with self._engine.connect() as conn:
                conn.execution_options(pipetune_begin=begin)
                with conn.begin():
                    yield conn
        except DBAPIError as error:  # driver errors: locked, unreachable, not a database
            raise storage_failure(self.url, error.orig or error, self._unavailable) from error
        finally:
            if lock is not None:
                lock.release()

    def _read(self) -> Any:
        """One read transaction (deferred on SQLite: it never waits for writers in WAL mode)."""
        return self._transaction("DEFERRED")

    def _write(self) -> Any:
        """One atomic write transaction (see ``connections.RawConnections.write``)."""
        return self._connections.write()

    def _init_schema(self) -> None:
        if self._read_only is not None:
            self._check_schema_read_only()
            return
        with self._transaction("IMMEDIATE") as conn:
            if conn.dialect.name == "postgresql":  # serialize concurrent first uses
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7202604)")
            s.metadata.create_all(conn)
            version = conn.execute(select(s.schema_info.c.version)).scalar()
            if version is None:
                conn.execute(insert(s.schema_info).values(
                    id=1, version=s.SCHEMA_VERSION, created_at=time.time()))
            elif version > s.SCHEMA_VERSION:
                raise StorageError(
                    f"The storage {self.url} was written by a newer pipetune (schema version "
                    f"{version}, this one knows {s.SCHEMA_VERSION}): upgrade pipetune."
                )
            elif version < s.SCHEMA_VERSION:
                migrate(conn, version)

    def _check_schema_read_only(self) -> None:
        """``_init_schema`` for a storage that cannot write: the schema must be there as is."""
        with self._read() as conn:
            version = conn.execute(select(s.schema_info.c.version)).scalar() \
                if sa_inspect(conn).has_table(s.schema_info.name) else None
        if version != s.SCHEMA_VERSION:
            found = "holds no pipetune schema" if version is None else \
                f"has schema version {version}, not {s.SCHEMA_VERSION}"
            raise StorageError(
                f"The storage {self.url} is open read-only ({self._read_only}) and {found}, "
                "which needs a write to set up: open it once where it can be written, with "
                "this pipetune.")

    def close(self) -> None:
        self._connections.close()
        self._engine.dispose()

    # -- studies -------------------------------------------------------------------------------

    def _lock_study(self, cursor: Cursor, study_id: int) -> None:
        if cursor.run(self._sql.lock_study, study_id=study_id).one_or_none() is None:
            raise StudyNotFoundError(f"No study with id {study_id} in {self.url}.")

    def create_study(self, study_name: str, directions: Sequence[StudyDirection]) -> int:
        check_study_name(study_name)
        now = time.time()

        def create() -> int:
            with self._write() as cursor:
                study_id = cursor.run(self._sql.insert_study, name=study_name,
                                      now=now).scalar()
                for objective, direction in enumerate(directions):
                    cursor.run(self._sql.insert_direction, study_id=study_id,
                               objective=objective, direction=int(direction))
                return int(study_id)

        def create_unless_created() -> int:
            try:
                return create()
            except Conflict:  # the name is taken: by the lost commit, if it has our time
                with self._read() as conn:
                    ours = conn.execute(select(s.studies.c.study_id).where(
                        s.studies.c.study_name == study_name,
                        s.studies.c.created_at == now)).scalar()
                if ours is None:
                    raise
                return int(ours)

        try:
            return self._connections.retry(create, create_unless_created)
        except Conflict:
            raise DuplicateStudyError(
                f"A study named {study_name!r} already exists in {self.url}. Load it with "
                "load_if_exists=True, or choose another study_name."
            ) from None

    def delete_study(self, study_id: int) -> None:
        def delete() -> None:
            with self._write() as cursor:
                self._lock_study(cursor, study_id)
                for statement in self._sql.delete_study_rows:
                    cursor.run(statement, study_id=study_id)

        def delete_unless_deleted() -> None:
            try:
                delete()
            except StudyNotFoundError:  # the lost commit deleted it
                pass

        self._connections.retry(delete, delete_unless_deleted)

    @reconnecting
    def get_study_id(self, study_name: str) -> int:
        check_study_name(study_name)
        with self._read() as conn:
            study_id = conn.execute(select(s.studies.c.study_id).where(
                s.studies.c.study_name == study_name)).scalar()
        if study_id is None:
            raise StudyNotFoundError(
                f"No study named {study_name!r} in {self.url}. Create it with create_study, or "
                "check the name and the storage URL (pipetune studies --storage URL lists them)."
            )
        return int(study_id)

    @reconnecting
    def get_study_name(self, study_id: int) -> str:
        with self._read() as conn:
            name = conn.execute(select(s.studies.c.study_name).where(
                s.studies.c.study_id == study_id)).scalar()
        if name is None:
            raise StudyNotFoundError(f"No study with id {study_id} in {self.url}.")
        return name

    @reconnecting
    def get_study_directions(self, study_id: int) -> tuple[StudyDirection, ...]:
        with self._read() as conn:
            rows = conn.execute(select(s.study_directions.c.direction).where(
                s.study_directions.c.study_id == study_id).order_by(
                s.study_directions.c.objective)).scalars().all()
        if not rows:
            raise StudyNotFoundError(f"No study with id {study_id} in {self.url}.")
        return tuple(StudyDirection(d) for d in rows)

    @reconnecting
    def set_study_attr(self, study_id: int, key: str, value: Any, *, system: bool = False) -> None:
        text = _to_json(key, value)
        with self._write() as cursor:
            self._lock_study(cursor, study_id)
            cursor.run(self._sql.delete_study_attr, study_id=study_id, system=int(system), key=key)
            cursor.run(self._sql.insert_study_attr, study_id=study_id, system=int(system), key=key,
                       value_json=text)

    @reconnecting
    def get_study_attrs(self, study_id: int, *, system: bool = False) -> dict[str, Any]:
        table = s.study_attrs
        with self._read() as conn:
            rows = conn.execute(select(table.c.key, table.c.value_json).where(
                table.c.study_id == study_id, table.c.system == int(system))).all()
        return {key: json.loads(text) for key, text in rows}

    @reconnecting
    def list_studies(self) -> list[StudySummary]:
        with self._read() as conn:
            studies = conn.execute(select(s.studies).order_by(s.studies.c.study_id)).all()
            directions: dict[int, list[StudyDirection]] = {}
            for row in conn.execute(select(s.study_directions).order_by(
                    s.study_directions.c.study_id, s.study_directions.c.objective)):
                directions.setdefault(row.study_id, []).append(StudyDirection(row.direction))
            attrs: dict[tuple[int, int], dict[str, Any]] = {}
            for row in conn.execute(select(s.study_attrs)):
                key = (row.study_id, row.system)
                attrs.setdefault(key, {})[row.key] = json.loads(row.value_json)
            counts = dict(conn.execute(select(s.trials.c.study_id, func.count()).group_by(
                s.trials.c.study_id)).all())
            summaries = []
            for study in studies:
                study_directions = tuple(directions.get(study.study_id, ()))
                best = self._best_trial(conn, study.study_id, study_directions)
                summaries.append(StudySummary(
                    study_id=study.study_id, study_name=study.study_name,
                    directions=study_directions, n_trials=counts.get(study.study_id, 0),
                    best_trial=best, datetime_start=_datetime(study.created_at),
                    user_attrs=attrs.get((study.study_id, 0), {}),
                    system_attrs=attrs.get((study.study_id, 1), {})))
        return summaries

    def _best_trial(self, conn: Connection, study_id: int,
                    directions: Sequence[StudyDirection]) -> FrozenTrial | None:
        if len(directions) != 1:
            return None
        value = s.trial_values.c.value
        order = value.asc() if directions[0] == StudyDirection.MINIMIZE else value.desc()
        trial_id = conn.execute(
            select(s.trials.c.trial_id).join(s.trial_values,
                                             s.trial_values.c.trial_id == s.trials.c.trial_id)
            .where(s.trials.c.study_id == study_id,
                   s.trials.c.state == int(TrialState.COMPLETE), s.trial_values.c.objective == 0)
            .order_by(order, s.trials.c.number).limit(1)).scalar()
        if trial_id is None:
            return None
        return self._load_trials(conn, s.trials.c.trial_id == trial_id)[0]

    # -- trials: writes ------------------------------------------------------------------------

    def _insert_trial(self, cursor: Cursor, study_id: int, state: TrialState,
                      started: float | None, worker: str | None) -> tuple[int, int]:
        """Inserts a trial under the study lock. A claim takes no lock (``claim_trial``): on
        PostgreSQL it may take the number at the same moment, and the insert then inserts
        nothing; the next statement sees that claim's trial and takes the next number."""
        while True:
            row = cursor.run(self._sql.insert_trial, study_id=study_id, state=int(state),
                             now=started, worker=worker).one_or_none()
            if row is not None:
                return int(row[0]), int(row[1])

    def create_trial(self, study_id: int, *, state: TrialState = TrialState.WAITING,
                     system_attrs: dict[str, Any] | None = None) -> FrozenTrial:
        texts = {key: _to_json(key, value) for key, value in (system_attrs or {}).items()}
        started = time.time() if state == TrialState.RUNNING else None
        created: list[tuple[int, int]] = []  # what an attempt inserted, before its commit

        def create(lost_commit: bool) -> tuple[int, int]:
            with self._write() as cursor:
                self._lock_study(cursor, study_id)  # waits for a lost commit still in flight
                if lost_commit and cursor.run(self._sql.trial_state, trial_id=created[-1][0]
                                              ).one_or_none() is not None:
                    return created[-1]  # the lost commit created it
                trial_id, number = self._insert_trial(cursor, study_id, state, started, None)
                created.append((trial_id, number))
                for key, text in texts.items():
                    cursor.run(self._sql.insert_trial_attr, trial_id=trial_id, system=1,
                               key=key, value_json=text)
            return trial_id, number

        trial_id, number = self._connections.retry(lambda: create(False), lambda: create(True))
        return FrozenTrial(number=number, trial_id=trial_id, state=state,
                           system_attrs={k: json.loads(t) for k, t in texts.items()},
                           datetime_start=_datetime(started))

    def add_trial(self, study_id: int, trial: FrozenTrial) -> FrozenTrial:
        attrs = [(system, key, _to_json(key, value)) for system, attrs in
                 ((0, trial.user_attrs), (1, trial.system_attrs)) for key, value in attrs.items()]
        params = [(name, float(trial.distributions[name].to_internal(value)),
                   trial.distributions[name].to_json()) for name, value in trial.params.items()]
        started = None if trial.datetime_start is None else trial.datetime_start.timestamp()
        # Inserted unfinished (the guarded writes take only such a trial), finished at the end.
        first_state = TrialState.WAITING if trial.state == TrialState.WAITING \
            else TrialState.RUNNING
        created: list[int] = []  # what an attempt inserted, before its commit

        def add(lost_commit: bool) -> int:
            with self._write() as cursor:
                self._lock_study(cursor, study_id)  # waits for a lost commit still in flight
                if lost_commit and cursor.run(self._sql.trial_state, trial_id=created[-1]
                                              ).one_or_none() is not None:
                    return created[-1]  # the lost commit added it
                trial_id, _ = self._insert_trial(cursor, study_id, first_state, started,
                                                 trial.worker)
                created.append(trial_id)
                for first in range(0, len(params), PARAMS_PER_STATEMENT):
                    batch = params[first:first + PARAMS_PER_STATEMENT]
                    cursor.run(self._param_inserts(len(batch)), trial_id=trial_id,
                               **_UNFINISHED, **{
                                   f"{field}{i}": row[k] for i, row in enumerate(batch)
                                   for k, field in enumerate(("name", "value",
                                                              "distribution_json"))})
                for step, value in trial.intermediate_values.items():
                    for objective, each in enumerate(value if isinstance(value, tuple)
                                                     else (value,)):
                        cursor.run(self._sql.insert_intermediate, trial_id=trial_id, step=step,
                                   objective=objective,
                                   value=None if math.isnan(each) else float(each))
                for system, key, text in attrs:
                    cursor.run(self._sql.insert_trial_attr, trial_id=trial_id, system=system,
                               key=key, value_json=text)
                if trial.state == TrialState.RUNNING:  # alive from now, not from its start
                    cursor.run(self._sql.heartbeat, trial_id=trial_id,
                               running=int(TrialState.RUNNING), now=time.time())
                if trial.state.is_finished():
                    completed = time.time() if trial.datetime_complete is None \
                        else trial.datetime_complete.timestamp()
                    cursor.run(self._sql.finish, trial_id=trial_id, state=int(trial.state),
                               now=completed, **_UNFINISHED)
                    for objective, value in enumerate(trial.values or ()):
                        cursor.run(self._sql.insert_value, trial_id=trial_id,
                                   objective=objective, value=float(value))
            return trial_id

        return self.get_trial(self._connections.retry(lambda: add(False), lambda: add(True)))

    def claim_trial(self, study_id: int, worker: str | None = None,
                    max_trials: int | None = None,
                    max_parallel: int | None = None) -> FrozenTrial | None:
        if max_trials is None and max_parallel is None:
            # ``now`` marks the claim: the trial it starts gets it as its start time, which is
            # how a retry after a lost commit recognises a claim that landed.
            now = time.time()
            # The usual claim, a new trial, is one statement (one round trip on PostgreSQL) and
            # takes no study lock. It inserts nothing where a WAITING trial is to be taken
            # first or the study is gone: the transaction below settles those.
            def claim_new() -> tuple[int, int] | None:
                while True:
                    try:
                        return self._connections.run_single(
                            self._sql.insert_unless_waiting, study_id=study_id,
                            state=int(TrialState.RUNNING), now=now, worker=worker,
                            waiting=int(TrialState.WAITING)).one_or_none()
                    except Conflict:  # another claim took the number (PostgreSQL): the next
                        pass

            def claim_new_unless_claimed() -> tuple[int, int] | None:
                return self._connections.run_single(
                    self._sql.claimed_at, study_id=study_id, running=int(TrialState.RUNNING),
                    now=now).one_or_none() or claim_new()

            inserted = self._connections.retry(claim_new, claim_new_unless_claimed)
            if inserted is not None:
                return FrozenTrial(number=int(inserted[1]), trial_id=int(inserted[0]),
                                   state=TrialState.RUNNING, datetime_start=_datetime(now),
                                   worker=worker)
        # The trial an attempt claimed and its start time, before its commit.
        claimed: list[tuple[int, float]] = []

        def claim(lost_commit: bool) -> FrozenTrial | int | None:
            with self._write() as cursor:
                # The study lock (PostgreSQL) or the write lock (SQLite) serializes claims, so
                # the budget count below cannot go stale before this transaction commits (and
                # a lost commit still in flight is decided before it is looked at).
                self._lock_study(cursor, study_id)
                if lost_commit and claimed:
                    trial_id, started = claimed[-1]
                    row = cursor.run(self._sql.trial_state, trial_id=trial_id).one_or_none()
                    if row is not None and row[0] == int(TrialState.RUNNING) and row[2] == started:
                        return trial_id  # the lost commit claimed it
                if max_trials is not None and cursor.run(
                        self._sql.count_started, study_id=study_id,
                        running=int(TrialState.RUNNING), complete=int(TrialState.COMPLETE),
                        pruned=int(TrialState.PRUNED)).scalar() >= max_trials:
                    return None
                if max_parallel is not None and cursor.run(
                        self._sql.count_in_state, study_id=study_id,
                        state=int(TrialState.RUNNING)).scalar() >= max_parallel:
                    return None
                # Read after the counts: the trial whose finish freed the slot then finished
                # before this one starts, so stored spans never show more than max_parallel.
                started = time.time()
                waiting_id = cursor.run(self._sql.first_waiting, study_id=study_id,
                                        waiting=int(TrialState.WAITING)).scalar()
                if waiting_id is None:  # (or every WAITING trial is locked by another writer)
                    trial_id, number = self._insert_trial(cursor, study_id, TrialState.RUNNING,
                                                          started, worker)
                    claimed.append((trial_id, started))
                    return FrozenTrial(number=number, trial_id=trial_id,
                                       state=TrialState.RUNNING,
                                       datetime_start=_datetime(started), worker=worker)
                cursor.run(self._sql.start_waiting, trial_id=waiting_id,
                           running=int(TrialState.RUNNING), now=started, worker=worker)
                claimed.append((waiting_id, started))
            return waiting_id

        # Loading a claimed WAITING trial is outside the retried transaction: a failed read
        # must not claim a second trial.
        trial = self._connections.retry(lambda: claim(False), lambda: claim(True))
        return self.get_trial(trial) if isinstance(trial, int) else trial

    @reconnecting
    def heartbeat(self, trial_id: int) -> None:
        with self._write() as cursor:
            updated = cursor.run(self._sql.heartbeat, trial_id=trial_id,
                                 running=int(TrialState.RUNNING), now=time.time()).rowcount
            if not updated:
                try:
                    self._check_running(cursor, trial_id)  # raises for an unknown trial
                except UpdateFinishedTrialError:
                    pass  # finished meanwhile: nothing left to keep alive

    def fail_stale_trials(self, study_id: int, grace_period: float,
                          retry_failed: int = 0) -> list[FrozenTrial]:
        now = time.time()
        failed: set[int] = set()  # kept across a lost commit, which may have failed them

        def fail_stale(lost_commit: bool) -> None:
            if not lost_commit:
                failed.clear()
            with self._write() as cursor:
                self._lock_study(cursor, study_id)
                stale = cursor.run(self._sql.stale_trials, study_id=study_id,
                                   running=int(TrialState.RUNNING),
                                   cutoff=now - grace_period).all()
                for trial_id, number, worker, last in stale:
                    cursor.run(self._sql.finish, trial_id=trial_id, state=int(TrialState.FAIL),
                               now=now, **_UNFINISHED)
                    cursor.run(self._sql.delete_trial_attr, trial_id=trial_id, system=1,
                               key=FAIL_REASON_ATTR)
                    cursor.run(self._sql.insert_trial_attr, trial_id=trial_id, system=1,
                               key=FAIL_REASON_ATTR,
                               value_json=json.dumps(stale_trial_reason(now - last, worker)))
                    failed.add(trial_id)
                    if retry_failed:
                        self._enqueue_retry(cursor, study_id, trial_id, number, retry_failed)

        self._connections.retry(lambda: fail_stale(False), lambda: fail_stale(True))
        if not failed:
            return []
        # Those this call failed (possibly through a lost commit) end FAIL at ``now``.
        return self._select_trials(and_(s.trials.c.trial_id.in_(failed),
                                        s.trials.c.state == int(TrialState.FAIL),
                                        s.trials.c.completed_at == now))

    def _enqueue_retry(self, cursor: Cursor, study_id: int, trial_id: int, number: int,
                       retry_failed: int) -> None:
        """Inside ``fail_stale_trials``' transaction: the WAITING retry of a failed trial."""
        attrs = {key: json.loads(text) for key, text in
                 cursor.run(self._sql.trial_system_attrs, trial_id=trial_id).all()}
        params = {name: self._distribution(text).to_external(value) for name, value, text in
                  cursor.run(self._sql.trial_param_rows, trial_id=trial_id).all()}
        failed = FrozenTrial(number=number, trial_id=trial_id, state=TrialState.FAIL,
                             params=params, system_attrs=attrs)
        retry = retry_attrs(failed, attrs.get(FIXED_PARAMS_ATTR), retry_failed)
        if retry is None:
            return
        retry_id, _ = self._insert_trial(cursor, study_id, TrialState.WAITING, None, None)
        for key, value in retry.items():
            cursor.run(self._sql.insert_trial_attr, trial_id=retry_id, system=1, key=key,
                       value_json=_to_json(key, value))

    def _check_running(self, cursor: Cursor, trial_id: int) -> float | None:
        """Raises unless the trial exists and is unfinished; returns its start time."""
        row = cursor.run(self._sql.trial_state, trial_id=trial_id).one_or_none()
        if row is None:
            raise TrialNotFoundError(f"No trial with id {trial_id} in {self.url}.")
        state, number, started, _ = row
        if TrialState(state).is_finished():
            raise UpdateFinishedTrialError(
                f"Trial {number} is already {TrialState(state).name}; a finished trial "
                "cannot be changed."
            )
        return started

    def set_trial_params(self, trial_id: int,
                         params: Mapping[str, tuple[float, Distribution]]) -> None:
        if not params:
            return
        rows = [(name, float(internal), distribution.to_json())
                for name, (internal, distribution) in params.items()]
        batches = [rows[i:i + PARAMS_PER_STATEMENT]
                   for i in range(0, len(rows), PARAMS_PER_STATEMENT)]

        def values(batch: list[tuple[str, float, str]]) -> dict[str, Any]:
            bound: dict[str, Any] = {"trial_id": trial_id, **_UNFINISHED}
            for i, (name, value, distribution_json) in enumerate(batch):
                bound.update({f"name{i}": name, f"value{i}": value,
                              f"distribution_json{i}": distribution_json})
            return bound

        def insert() -> None:
            if len(batches) == 1:  # the usual case: one autocommit round trip
                inserted = self._connections.run_single(self._param_inserts(len(rows)),
                                                        **values(rows)).rowcount
            else:
                with self._write() as cursor:
                    inserted = sum(cursor.run(self._param_inserts(len(batch)),
                                              **values(batch)).rowcount for batch in batches)
            if inserted == 0:  # the trial is missing or finished: say which
                with self._write() as cursor:
                    self._check_running(cursor, trial_id)

        def insert_unless_stored() -> None:
            try:
                insert()
            except (Conflict, UpdateFinishedTrialError):
                # The names are taken: by the lost commit when they hold these very values.
                if not self._params_stored(trial_id, rows):
                    raise

        try:
            self._connections.retry(insert, insert_unless_stored)
        except Conflict:
            raise ParamConflictError(
                f"One of the params {sorted(params)} is already set on trial id {trial_id}; a "
                "param is suggested once per trial."
            ) from None

    def finish_trial(self, trial_id: int, state: TrialState,
                     values: Sequence[float] | None = None) -> bool:
        now = time.time()  # marks the finish: a lost commit that landed left it as completed_at

        def finish(lost_commit: bool) -> bool:
            # The guarded update waits for a lost commit still in flight on the row.
            if self._finish_writes(trial_id, state, now, tuple(values or ())):
                return True
            row = self._connections.run_single(self._sql.trial_state,
                                               trial_id=trial_id).one_or_none()
            if row is None:
                raise TrialNotFoundError(f"No trial with id {trial_id} in {self.url}.")
            # Finished already: by the lost commit of this call, or by someone else.
            return lost_commit and row[0] == int(state) and row[3] == now

        return self._connections.retry(lambda: finish(False), lambda: finish(True))

    def _finish_writes(self, trial_id: int, state: TrialState, now: float,
                       values: tuple[float, ...]) -> bool:
        """Finishes an unfinished trial and stores its values, atomically; False (and no
        write) for a trial that is missing or finished already."""
        bound = {"trial_id": trial_id, "state": int(state), "now": now, **_UNFINISHED}
        if not self._is_sqlite:  # one statement, one round trip (see FinishStatements)
            return self._connections.run_single(
                self._finish_statements(len(values)), **bound,
                **{f"value{i}": float(value) for i, value in enumerate(values)}).scalar() == 1
        with self._write() as cursor:
            if cursor.run(self._sql.finish, **bound).rowcount == 0:
                return False
            for objective, value in enumerate(values):
                cursor.run(self._sql.insert_value, trial_id=trial_id, objective=objective,
                           value=float(value))
        return True

    def set_trial_intermediate_value(self, trial_id: int, step: int,
                                     value: float | tuple[float, ...]) -> bool:
        def report(lost_commit: bool) -> bool:
            try:
                with self._write() as cursor:
                    self._check_running(cursor, trial_id)
                    if cursor.run(self._sql.intermediate_exists, trial_id=trial_id,
                                  step=step).one_or_none() is not None:
                        return lost_commit  # after a lost commit: the step is its write
                    for objective, each in enumerate(value if isinstance(value, tuple)
                                                     else (value,)):
                        cursor.run(self._sql.insert_intermediate, trial_id=trial_id, step=step,
                                   objective=objective,
                                   value=None if math.isnan(each) else float(each))
            except Conflict:  # another writer stored the step between the check and the insert
                return lost_commit
            return True

        return self._connections.retry(lambda: report(False), lambda: report(True))

    @reconnecting
    def set_trial_attr(self, trial_id: int, key: str, value: Any, *, system: bool = False) -> None:
        text = _to_json(key, value)
        with self._write() as cursor:
            self._check_running(cursor, trial_id)
            cursor.run(self._sql.delete_trial_attr, trial_id=trial_id, system=int(system), key=key)
            cursor.run(self._sql.insert_trial_attr, trial_id=trial_id, system=int(system), key=key,
                       value_json=text)

    def claim_key(self, study_id: int, key: str, trial_id: int) -> bool:
        def claim(lost_commit: bool) -> bool:
            try:
                with self._write() as cursor:
                    cursor.run(self._sql.insert_claimed_key, study_id=study_id, key=key,
                               trial_id=trial_id)
                return True
            except Conflict:
                if not lost_commit:
                    return False
                with self._write() as cursor:  # taken: by the lost commit if for this trial
                    return cursor.run(self._sql.claimed_key_owner, study_id=study_id,
                                      key=key).scalar() == trial_id

        return self._connections.retry(lambda: claim(False), lambda: claim(True))

    def _params_stored(self, trial_id: int, rows: list[tuple[str, float, str]]) -> bool:
        """Whether the trial holds these (name, internal value, distribution) params."""
        with self._write() as cursor:
            stored = {name: (value, text) for name, value, text in
                      cursor.run(self._sql.trial_param_rows, trial_id=trial_id).all()}
        return all(stored.get(name) == (value, text) for name, value, text in rows)

    # -- trials: reads -------------------------------------------------------------------------

    def _distribution(self, text: str) -> Distribution:
        distribution = self._distribution_cache.get(text)
        if distribution is None:
            distribution = self._distribution_cache[text] = distribution_from_json(text)
        return distribution

    def _load_trials(self, conn: Connection, where: Any) -> list[FrozenTrial]:
        """Trials matching ``where`` (a condition on the trials table), ordered by number: one
        query per table (``loader.py``)."""
        loader = self._loader
        return loader.load_rows(conn, conn.execute(
            select(*loader.COLUMNS).where(where).order_by(s.trials.c.number)).all())

    @reconnecting
    def _select_trials(self, where: Any) -> list[FrozenTrial]:
        """``_load_trials`` in a read transaction of its own."""
        with self._read() as conn:
            return self._load_trials(conn, where)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        trials = self._select_trials(s.trials.c.trial_id == trial_id)
        if not trials:
            raise TrialNotFoundError(f"No trial with id {trial_id} in {self.url}.")
        return trials[0]

    @reconnecting
    def get_trial_id(self, study_id: int, number: int) -> int:
        with self._read() as conn:
            trial_id = conn.execute(select(s.trials.c.trial_id).where(
                s.trials.c.study_id == study_id, s.trials.c.number == number)).scalar()
        if trial_id is None:
            raise TrialNotFoundError(f"No trial number {number} in this study.")
        return int(trial_id)

    def get_trials(self, study_id: int,
                   states: Collection[TrialState] | None = None) -> list[FrozenTrial]:
        where = s.trials.c.study_id == study_id
        if states is not None:
            where = and_(where, s.trials.c.state.in_([int(x) for x in states]))
        return self._select_trials(where)

    def get_trials_since(self, study_id: int, last_seen_id: int,
                         also_ids: Collection[int] = ()) -> list[FrozenTrial]:
        newer = s.trials.c.trial_id > last_seen_id
        if also_ids:
            newer = or_(newer, s.trials.c.trial_id.in_(list(also_ids)))
        return self._select_trials(and_(s.trials.c.study_id == study_id, newer))

    @reconnecting
    def count_trials(self, study_id: int, states: Collection[TrialState] | None = None) -> int:
        query = select(func.count()).select_from(s.trials).where(s.trials.c.study_id == study_id)
        if states is not None:
            query = query.where(s.trials.c.state.in_([int(x) for x in states]))
        with self._read() as conn:
            return int(conn.execute(query).scalar())

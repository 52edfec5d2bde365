"""The SQL schema's life: recorded on first use, reopened as is, refused when too new, and
storage URLs that cannot work rejected with a message that says what to fix."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

import pipetune
from pipetune.datatypes import StudyDirection, TrialState
from pipetune.distributions import FloatDistribution
from pipetune.errors import StorageError, StorageUnavailableError, StorageURLError
from pipetune.storage import get_storage
from pipetune.storage.sql import SQLStorage
from pipetune.storage.sql.schema import SCHEMA_VERSION


@contextmanager
def raw_engine(url: str) -> Iterator[Engine]:
    """A plain SQLAlchemy engine on the same database, to look behind the storage's back."""
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def schema_rows(url: str) -> list[tuple[int, float]]:
    with raw_engine(url) as engine, engine.connect() as conn:
        rows = conn.execute(text("SELECT version, created_at FROM schema_info"))
        return [tuple(row) for row in rows]


def set_schema_version(url: str, version: int) -> None:
    with raw_engine(url) as engine, engine.begin() as conn:
        conn.execute(text("UPDATE schema_info SET version = :v"), {"v": version})


def test_schema_version_is_recorded_on_first_use(storage_url: str) -> None:
    SQLStorage(storage_url).close()
    ((version, created_at),) = schema_rows(storage_url)
    assert version == SCHEMA_VERSION
    assert created_at > 0


def test_reopening_a_database_keeps_its_studies_and_schema(storage_url: str) -> None:
    first = SQLStorage(storage_url)
    study_id = first.create_study("kept", [StudyDirection.MAXIMIZE])
    trial = first.claim_trial(study_id)
    first.finish_trial(trial.trial_id, TrialState.COMPLETE, [0.5])
    before = schema_rows(storage_url)
    first.close()

    again = SQLStorage(storage_url)
    try:
        assert again.get_study_id("kept") == study_id
        assert again.get_study_directions(study_id) == (StudyDirection.MAXIMIZE,)
        (stored,) = again.get_trials(study_id)
        assert stored.values == (0.5,) and stored.state == TrialState.COMPLETE
        assert again.claim_trial(study_id).number == 1
    finally:
        again.close()
    assert schema_rows(storage_url) == before


def test_a_newer_schema_is_refused_with_a_clear_message(storage_url: str) -> None:
    SQLStorage(storage_url).close()
    set_schema_version(storage_url, SCHEMA_VERSION + 1)
    with pytest.raises(StorageError, match="newer pipetune") as raised:
        SQLStorage(storage_url)
    message = str(raised.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert "upgrade pipetune" in message
    with pytest.raises(StorageError, match="newer pipetune"):  # the user's path too
        pipetune.create_study(study_name="s", storage=storage_url)
    # refusing wrote nothing: the newer pipetune still finds its database as it left it
    assert [version for version, _ in schema_rows(storage_url)] == [SCHEMA_VERSION + 1]


def test_an_older_schema_without_migration_is_refused(sqlite_url: str) -> None:
    SQLStorage(sqlite_url).close()
    set_schema_version(sqlite_url, 0)
    with pytest.raises(StorageError, match="schema version 0"):
        SQLStorage(sqlite_url)
    assert [version for version, _ in schema_rows(sqlite_url)] == [0]


def test_first_use_from_many_threads_creates_the_schema_once(tmp_path) -> None:
    # Several threads opening one new database at once race to switch it to WAL mode; SQLite
    # refuses the losers at once ("database is locked") unless the switch is retried. One new
    # database loses that race about one time in ten: open twenty.
    def open_storage(url: str, barrier: threading.Barrier, storages: list[SQLStorage],
                     errors: list[BaseException]) -> None:
        try:
            barrier.wait()
            storages.append(SQLStorage(url))
        except BaseException as error:  # noqa: BLE001 - asserted below, in the test's thread
            errors.append(error)

    for attempt in range(20):
        url = f"sqlite:///{tmp_path / f'first-use-{attempt}.db'}"
        storages: list[SQLStorage] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)
        threads = [threading.Thread(target=open_storage, args=(url, barrier, storages, errors))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for storage in storages:
            storage.close()
        assert errors == []
        assert [version for version, _ in schema_rows(url)] == [SCHEMA_VERSION]


# -- storage URLs that cannot work -----------------------------------------------------------


def test_unknown_url_scheme_is_a_url_error() -> None:
    with pytest.raises(StorageURLError, match="foo://x") as raised:
        get_storage("foo://x")
    assert "sqlite:///" in str(raised.value)  # says what a valid URL looks like
    assert isinstance(raised.value, ValueError)
    with pytest.raises(StorageURLError, match="foo://x"):
        pipetune.create_study(storage="foo://x")


def test_storage_of_the_wrong_type_is_a_url_error() -> None:
    with pytest.raises(StorageURLError, match="int"):
        get_storage(42)  # type: ignore[arg-type]


def test_unparseable_url_is_a_url_error() -> None:
    with pytest.raises(StorageURLError, match="sqlite:///"):
        SQLStorage("not a url")


def test_unknown_driver_is_a_url_error() -> None:
    with pytest.raises(StorageURLError, match="nodriver"):
        SQLStorage("postgresql+nodriver://postgres@127.0.0.1/db")


def test_sqlite_file_in_a_missing_directory(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError, match="nonexistent-dir"):
        get_storage("sqlite:///nonexistent-dir/x.db")
    with pytest.raises(StorageError, match="nonexistent-dir"):
        pipetune.create_study(storage="sqlite:///nonexistent-dir/x.db")
    assert not (tmp_path / "nonexistent-dir").exists()


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StorageError, match="notes.db"):
        SQLStorage(f"sqlite:///{path}")
    assert path.read_text().startswith("these are my notes")


def test_unreachable_postgresql_is_a_storage_unavailable_error() -> None:
    # port 1 refuses at once on 127.0.0.1: no waiting for a timeout
    with pytest.raises(StorageUnavailableError, match="127.0.0.1"):
        SQLStorage("postgresql+psycopg://postgres@127.0.0.1:1/pipetune")


def test_calls_on_lost_postgresql_connections_go_through_on_new_ones(postgres_url: str) -> None:
    """What a failover, a restart or an idle-connection reaper does to a storage: its pooled
    connections die. Each call then runs again on a new connection, so the caller (a trial
    in the middle of its objective) never sees the blink."""
    import psycopg

    storage = SQLStorage(postgres_url)
    study_id = storage.create_study("s", [StudyDirection.MINIMIZE])
    trial = storage.claim_trial(study_id)
    storage.set_trial_params(trial.trial_id, {"x": (0.5, FloatDistribution(0, 1))})
    database = postgres_url.rsplit("/", 1)[1]

    def kill_connections() -> None:
        with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql"),
                             autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))

    kill_connections()
    storage.set_trial_params(trial.trial_id, {"y": (0.25, FloatDistribution(0, 1))})
    kill_connections()
    assert storage.set_trial_intermediate_value(trial.trial_id, 0, 3.0)
    kill_connections()
    assert storage.finish_trial(trial.trial_id, TrialState.COMPLETE, [1.0])
    kill_connections()
    stored = storage.get_trial(trial.trial_id)
    assert stored.params == {"x": 0.5, "y": 0.25} and stored.values == (1.0,)
    assert stored.intermediate_values == {0: 3.0} and stored.state == TrialState.COMPLETE
    storage.close()

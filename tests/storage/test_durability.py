"""The durability of SQL storage commits: ``?durability=relaxed`` (the default; a commit returns
before the disk has it) or ``?durability=full`` (every commit waits for the disk), read back
from the very connections the storage writes and reads with. docs/storage.md, "Durability"."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from sqlalchemy import text

import pipetune
from pipetune.errors import StorageURLError
from pipetune.storage import get_storage
from pipetune.storage.sql import SQLStorage
from pipetune.storage.sql.connections import Statement


def _on_every_connection(storage: SQLStorage, sql: str) -> set[str]:
    """What ``sql`` answers on the storage's read connections, its write transactions and
    (PostgreSQL) its autocommit writes."""
    statement = Statement(text(sql), storage._engine)
    with storage._read() as conn:
        answers = {str(conn.exec_driver_sql(sql).scalar()).lower()}
    with storage._connections.write() as cursor:
        answers.add(str(cursor.run(statement).scalar()).lower())
    answers.add(str(storage._connections.run_single(statement).scalar()).lower())
    return answers


@pytest.fixture
def open_storages() -> Iterator[list[SQLStorage]]:
    """Storages a test opens, closed after it."""
    opened: list[SQLStorage] = []
    yield opened
    for storage in opened:
        storage.close()


def _open(url: str, opened: list[SQLStorage]) -> SQLStorage:
    storage = SQLStorage(url)
    opened.append(storage)
    return storage


def test_sqlite_commits_skip_the_sync_by_default_in_wal_mode(sqlite_url, open_storages) -> None:
    storage = _open(sqlite_url, open_storages)
    assert storage.durability == "relaxed"
    assert _on_every_connection(storage, "PRAGMA synchronous") == {"1"}  # NORMAL
    assert _on_every_connection(storage, "PRAGMA journal_mode") == {"wal"}


def test_sqlite_full_durability_syncs_every_commit_and_keeps_wal(sqlite_url,
                                                                 open_storages) -> None:
    storage = _open(f"{sqlite_url}?durability=full", open_storages)
    assert storage.durability == "full"
    assert _on_every_connection(storage, "PRAGMA synchronous") == {"2"}  # FULL
    assert _on_every_connection(storage, "PRAGMA journal_mode") == {"wal"}


def test_postgres_commits_wait_for_the_disk_by_default(postgres_url, open_storages) -> None:
    storage = _open(postgres_url, open_storages)
    assert storage.durability == "full"
    assert _on_every_connection(storage, "SHOW synchronous_commit") == {"on"}
    assert _open(f"{postgres_url}?durability=full", open_storages).durability == "full"


def test_postgres_relaxed_durability_does_not_wait_for_the_disk(postgres_url,
                                                                open_storages) -> None:
    storage = _open(f"{postgres_url}?durability=relaxed", open_storages)
    assert _on_every_connection(storage, "SHOW synchronous_commit") == {"off"}


def test_the_option_stays_pipetunes_and_the_database_is_the_same(storage_url,
                                                                  open_storages) -> None:
    study = pipetune.create_study(storage=_open(f"{storage_url}?durability=full",
                                                open_storages), study_name="s")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    plain = pipetune.load_study(study_name="s", storage=_open(storage_url, open_storages))
    assert [t.state for t in plain.trials] == [pipetune.TrialState.COMPLETE] * 3


def test_another_process_reopens_the_storage_at_its_durability(storage_url,
                                                                open_storages) -> None:
    other = "relaxed" if storage_url.startswith("postgresql") else "full"
    storage = _open(f"{storage_url}?durability={other}", open_storages)
    assert _open(storage.connect_url(), open_storages).durability == other


@pytest.mark.parametrize("query", ["durability=fast", "durability=FULL",
                                   "durability=full&durability=relaxed"])
def test_an_unknown_durability_is_refused_naming_the_choices(tmp_path, query) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}?{query}"
    with pytest.raises(StorageURLError) as refused:
        get_storage(url)
    message = str(refused.value)
    assert "durability" in message and "?durability=full" in message \
        and "?durability=relaxed" in message
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened


def test_a_process_killed_right_after_tell_loses_no_trial(storage_url) -> None:
    """The default trades the disk sync, not the commit: what a process stored is in the
    database the moment the call returns, even if the process dies the next instant."""
    script = textwrap.dedent(f"""
        import os, signal
        import pipetune
        study = pipetune.create_study(storage={storage_url!r}, study_name="killed")
        study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=5)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -9, done.stderr
    study = pipetune.load_study(study_name="killed", storage=storage_url)
    assert [t.state for t in study.trials] == [pipetune.TrialState.COMPLETE] * 5

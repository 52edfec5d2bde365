"""A storage that fails under a running trial: the trial never stays RUNNING.

A full disk refuses the trial's result: the trial is failed as far as the storage still takes
writes, stops beating, and the error stops the run. A storage unreachable for longer than
it retries fails the trial it interrupted, and a study that retries failed trials runs its
params again.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

import pipetune
from pipetune.datatypes import TrialState
from pipetune.errors import StorageError, StorageUnavailableError
from pipetune.execution.heartbeat import process_heartbeat
from pipetune.samplers import RandomSampler
from pipetune.storage import InMemoryStorage
from pipetune.storage.sql import SQLStorage


def _fill_the_disk(storage: SQLStorage, path: Path) -> None:
    """From now on the database file cannot grow (SQLite's max_page_count, which answers
    SQLITE_FULL as a full disk does): every connection opened afresh gets the limit."""
    with sqlite3.connect(path) as connection:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]

    @event.listens_for(storage._engine, "connect")
    def limit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    storage._connections.close()  # the kept connections reopen, limited
    storage._engine.dispose()


@pytest.mark.parametrize("heartbeats", [False, True], ids=["plain", "heartbeats"])
def test_a_result_refused_by_a_full_disk_fails_the_trial(tmp_path: Path,
                                                        heartbeats: bool) -> None:
    path = tmp_path / "full.db"
    storage = SQLStorage(f"sqlite:///{path}")
    settings = {"heartbeat_interval": 60.0} if heartbeats else {}
    study = pipetune.create_study(storage=storage, sampler=RandomSampler(seed=0), **settings)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)

    def objective(trial: pipetune.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        # A large param, written with the result (suggestions are buffered until then).
        trial.suggest_categorical("notes", ["n" * 100_000])
        _fill_the_disk(storage, path)
        return x

    with pytest.raises(StorageError, match="full"):
        study.optimize(objective, n_trials=3)
    last = storage.get_trials(study.run_interface.study_id)[-1]
    assert last.state == TrialState.FAIL and "notes" not in last.params
    assert last.system_attrs["fail_reason"].startswith("storing the trial's outcome failed")
    assert last.system_attrs["fail_reason"].endswith("database or disk is full")
    assert process_heartbeat().running(storage) == []
    # The run stopped at the error.
    assert len(storage.get_trials(study.run_interface.study_id)) == 3
    storage.close()


class _StorageAway(InMemoryStorage):
    """Unreachable (past every retry) for the first intermediate value written."""

    def __init__(self) -> None:
        super().__init__()
        self.away = 1

    def set_trial_intermediate_value(self, trial_id: int, step: int, value: Any) -> bool:
        if self.away:
            self.away -= 1
            raise StorageUnavailableError("The storage memory failed: connection refused")
        return super().set_trial_intermediate_value(trial_id, step, value)


def test_a_trial_failed_by_an_unreachable_storage_is_retried_with_retry_failed() -> None:
    study = pipetune.create_study(storage=_StorageAway(), sampler=RandomSampler(seed=0),
                                  heartbeat_interval=60.0, retry_failed=1)

    def objective(trial: pipetune.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        trial.report(x, step=0)
        return x

    study.optimize(objective, n_trials=2, catch=(StorageUnavailableError,))
    failed, retry = study.trials
    assert failed.state == TrialState.FAIL
    assert failed.system_attrs["fail_reason"].startswith("StorageUnavailableError")
    assert retry.state == TrialState.COMPLETE and retry.params == failed.params
    assert retry.system_attrs["retry_of"] == failed.number


def test_without_retry_failed_such_a_trial_just_fails() -> None:
    study = pipetune.create_study(storage=_StorageAway(), sampler=RandomSampler(seed=0))
    study.optimize(lambda t: t.report(t.suggest_float("x", 0, 1), step=0) or 1.0,
                   n_trials=2, catch=(StorageUnavailableError,))
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert "retry_of" not in study.trials[1].system_attrs

"""A connection that dies while PostgreSQL commits leaves the caller not knowing whether the
write landed. SQL storage runs the write again on a new connection, and the run after such a
lost commit must complete the operation exactly once either way: a claim never takes a
second trial, a finish or a param is never refused as already there, nothing is stored twice.

Each test loses one commit on purpose: the connection's commit (or the autocommit statement
of a param write) raises the error a dropped connection raises, after the database applied
the write ("landed") or before ("not landed"); the outcome must be the same as without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pipetune.datatypes import MetricPoint, StudyDirection, TrialState
from pipetune.distributions import FloatDistribution
from pipetune.storage.sql import SQLStorage

pytestmark = pytest.mark.parametrize("landed", [True, False], ids=["landed", "not-landed"])


class _LosingCursor:
    def __init__(self, cursor: Any, lose: Callable[[Callable[[], Any]], Any]) -> None:
        self._cursor, self._lose = cursor, lose

    def execute(self, sql: str, params: Any = None) -> Any:
        return self._lose(lambda: self._cursor.execute(sql, params))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _LosingConnection:
    """A pooled connection whose next commit (autocommit: next statement) is lost."""

    def __init__(self, connection: Any, landed: bool, autocommit: bool) -> None:
        self._connection, self._landed, self._autocommit = connection, landed, autocommit
        self.lost = False

    def _lose(self, commit: Callable[[], Any], undo: Callable[[], Any]) -> Any:
        import psycopg

        if self.lost:
            return commit()
        self.lost = True
        if self._landed:
            commit()
        else:
            undo()
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    def commit(self) -> None:
        self._lose(self._connection.commit, self._connection.rollback)

    def cursor(self) -> Any:
        cursor = self._connection.cursor()
        if not self._autocommit:
            return cursor
        return _LosingCursor(cursor, lambda run: self._lose(run, lambda: None))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


@pytest.fixture
def storage(postgres_url: str) -> Iterator[SQLStorage]:
    backend = SQLStorage(postgres_url)
    yield backend
    backend.close()


def _lose_next_commit(storage: SQLStorage, monkeypatch: pytest.MonkeyPatch,
                      landed: bool) -> _LosingConnection:
    """Makes the next transaction of ``storage`` (a write, or an autocommit param write)
    lose its commit."""
    connections = storage._connections
    taken: list[_LosingConnection] = []

    def wrap(acquire: Callable[[], Any], autocommit: bool) -> Callable[[], Any]:
        def acquire_losing() -> Any:
            connection = acquire()
            if taken:
                return connection
            taken.append(_LosingConnection(connection, landed, autocommit))
            return taken[0]
        return acquire_losing

    monkeypatch.setattr(connections, "_acquire", wrap(connections._acquire, False))
    monkeypatch.setattr(connections, "_acquire_autocommit",
                        wrap(connections._acquire_autocommit, True))
    return taken


def _study(storage: SQLStorage) -> int:
    return storage.create_study("s", [StudyDirection.MINIMIZE])


def test_a_claim_whose_commit_was_lost_is_taken_once(storage, monkeypatch, landed) -> None:
    study_id = _study(storage)
    taken = _lose_next_commit(storage, monkeypatch, landed)
    trial = storage.claim_trial(study_id, worker="w")
    assert taken[0].lost
    (stored,) = storage.get_trials(study_id)
    assert (stored.trial_id, stored.state, stored.worker) == (trial.trial_id,
                                                              TrialState.RUNNING, "w")


def test_a_claim_of_a_waiting_trial_whose_commit_was_lost(storage, monkeypatch,
                                                          landed) -> None:
    study_id = _study(storage)
    waiting = storage.create_trial(study_id)
    taken = _lose_next_commit(storage, monkeypatch, landed)
    trial = storage.claim_trial(study_id, worker="w")
    assert taken[0].lost and trial.trial_id == waiting.trial_id
    assert [t.state for t in storage.get_trials(study_id)] == [TrialState.RUNNING]


def test_a_finish_whose_commit_was_lost_is_the_callers(storage, monkeypatch, landed) -> None:
    study_id = _study(storage)
    trial = storage.claim_trial(study_id)
    _lose_next_commit(storage, monkeypatch, landed)
    assert storage.finish_trial(trial.trial_id, TrialState.COMPLETE, [2.5]) is True
    stored = storage.get_trial(trial.trial_id)
    assert stored.state == TrialState.COMPLETE and stored.values == (2.5,)
    # Finished by someone else still reads as such.
    assert storage.finish_trial(trial.trial_id, TrialState.FAIL) is False


def test_params_whose_commit_was_lost_are_stored_once(storage, monkeypatch, landed) -> None:
    study_id = _study(storage)
    trial = storage.claim_trial(study_id)
    taken = _lose_next_commit(storage, monkeypatch, landed)
    storage.set_trial_params(trial.trial_id, {"x": (0.5, FloatDistribution(0, 1))})
    assert taken[0].lost
    assert storage.get_trial(trial.trial_id).params == {"x": 0.5}


def test_an_enqueued_trial_whose_commit_was_lost_is_created_once(storage, monkeypatch,
                                                                 landed) -> None:
    study_id = _study(storage)
    _lose_next_commit(storage, monkeypatch, landed)
    created = storage.create_trial(study_id, system_attrs={"fixed_params": {"x": 1}})
    (stored,) = storage.get_trials(study_id)
    assert stored.trial_id == created.trial_id and stored.state == TrialState.WAITING


def test_a_study_whose_commit_was_lost_is_created_once(storage, monkeypatch, landed) -> None:
    _lose_next_commit(storage, monkeypatch, landed)
    study_id = storage.create_study("mine", [StudyDirection.MAXIMIZE])
    assert storage.get_study_id("mine") == study_id
    assert [s.study_name for s in storage.list_studies()] == ["mine"]


def test_an_intermediate_value_whose_commit_was_lost_is_stored_once(storage, monkeypatch,
                                                                    landed) -> None:
    study_id = _study(storage)
    trial = storage.claim_trial(study_id)
    _lose_next_commit(storage, monkeypatch, landed)
    assert storage.set_trial_intermediate_value(trial.trial_id, 3, 0.25) is True
    assert storage.get_trial(trial.trial_id).intermediate_values == {3: 0.25}


def test_metric_points_whose_commit_was_lost_are_stored_once(storage, monkeypatch,
                                                             landed) -> None:
    study_id = _study(storage)
    trial = storage.claim_trial(study_id)
    _lose_next_commit(storage, monkeypatch, landed)
    points = [MetricPoint("loss", step, 1.0 / (step + 1), 1000.0 + step) for step in range(3)]
    storage.add_trial_metrics(trial.trial_id, points)
    assert storage.get_metric_history(trial.trial_id) == points


def test_a_key_whose_claim_commit_was_lost_stays_the_trials(storage, monkeypatch,
                                                            landed) -> None:
    study_id = _study(storage)
    trial = storage.claim_trial(study_id)
    _lose_next_commit(storage, monkeypatch, landed)
    assert storage.claim_key(study_id, "grid:0", trial.trial_id) is True
    assert storage.claim_key(study_id, "grid:0", trial.trial_id + 1) is False


def test_stale_trials_failed_by_a_lost_commit_are_reported_and_retried_once(
        storage, monkeypatch, landed) -> None:
    study_id = _study(storage)
    trial = storage.claim_trial(study_id, worker="dead")
    _lose_next_commit(storage, monkeypatch, landed)
    (failed,) = storage.fail_stale_trials(study_id, grace_period=0.0, retry_failed=1)
    assert failed.trial_id == trial.trial_id and failed.state == TrialState.FAIL
    assert [t.state for t in storage.get_trials(study_id)] == [TrialState.FAIL,
                                                               TrialState.WAITING]

"""``pipetune.storages``: Optuna's storage constructors, heartbeat settings and retry callbacks
as Optuna code writes them, onto pipetune's storages."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import pipetune
from pipetune import storages
from pipetune.datatypes import FrozenTrial, TrialState


def _dead_worker_trial(storage: pipetune.storage.BaseStorage, study_name: str) -> FrozenTrial:
    """A trial claimed by a worker that died at once: it never beats."""
    trial = storage.claim_trial(storage.get_study_id(study_name), worker="gone:1")
    assert trial is not None
    return trial


def test_rdb_storage_heartbeats_fail_dead_workers_trials_and_retry_them(sqlite_url: str) -> None:
    storage = storages.RDBStorage(
        sqlite_url, heartbeat_interval=1, grace_period=1.5,
        failed_trial_callback=storages.RetryFailedTrialCallback(max_retry=1))
    study = pipetune.create_study(study_name="s", storage=storage)
    dead = _dead_worker_trial(storage, "s")
    time.sleep(1.7)
    study.optimize(lambda trial: 1.0, n_trials=1)
    trials = study.trials
    assert trials[0].state == TrialState.FAIL and "presumed dead" in \
        trials[0].system_attrs["fail_reason"]
    (retry,) = [t for t in trials if t.number > dead.number and
                storages.RetryFailedTrialCallback.retried_trial_number(t) is not None]
    assert storages.RetryFailedTrialCallback.retried_trial_number(retry) == dead.number
    assert storages.RetryFailedTrialCallback.retry_history(retry) == [dead.number]
    assert storages.RetryFailedTrialCallback.retried_trial_number(trials[0]) is None
    # The settings travel with the study: a plain URL opens it with heartbeats on.
    reopened = pipetune.load_study(study_name="s", storage=sqlite_url)
    assert reopened.run_interface.liveness.settings.retry_failed == 1


def test_a_retry_chain_remembers_every_trial_back_to_the_original(sqlite_url: str) -> None:
    storage = storages.RDBStorage(
        sqlite_url, heartbeat_interval=1, grace_period=1.2,
        heartbeat_stale_trial_callback=storages.RetryHeartbeatStaleTrialCallback())
    study = pipetune.create_study(study_name="s", storage=storage)
    for _ in range(3):  # the original and two retries die
        _dead_worker_trial(storage, "s")
        time.sleep(1.4)
        storages.fail_stale_trials(study)
    (waiting,) = study.get_trials(states=(TrialState.WAITING,))
    assert storages.RetryHeartbeatStaleTrialCallback.retry_history(waiting) == [0, 1, 2]
    assert storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(waiting) == 0


def test_any_other_callback_is_called_with_the_study_and_the_failed_trial(
        sqlite_url: str) -> None:
    seen: list[tuple[str, int]] = []
    storage = storages.RDBStorage(
        sqlite_url, heartbeat_interval=1, grace_period=1.2,
        failed_trial_callback=lambda study, trial: seen.append((study.study_name, trial.number)))
    study = pipetune.create_study(study_name="s", storage=storage)
    _dead_worker_trial(storage, "s")
    storages.fail_stale_trials(study)
    assert seen == []  # not stale yet
    time.sleep(1.4)
    storages.fail_stale_trials(study)
    assert seen == [("s", 0)]
    assert study.trials[0].state == TrialState.FAIL


def test_fail_stale_trials_leaves_a_study_without_heartbeats_alone(sqlite_url: str) -> None:
    storage = storages.RDBStorage(sqlite_url)
    study = pipetune.create_study(study_name="s", storage=storage)
    _dead_worker_trial(storage, "s")
    storages.fail_stale_trials(study)
    assert study.trials[0].state == TrialState.RUNNING


@pytest.mark.parametrize("arguments", [
    {"heartbeat_interval": -1}, {"heartbeat_interval": 0}, {"grace_period": -1},
    {"heartbeat_interval": "60"}])
def test_bad_heartbeat_settings_are_value_errors_naming_the_argument(
        sqlite_url: str, arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(arguments))):
        storages.RDBStorage(sqlite_url, **arguments)


def test_retry_callbacks_refuse_what_pipetune_cannot_do() -> None:
    with pytest.raises(ValueError, match="inherit_intermediate_values"):
        storages.RetryFailedTrialCallback(inherit_intermediate_values=True)
    with pytest.raises(ValueError, match="max_retry"):
        storages.RetryFailedTrialCallback(max_retry=-1)


def test_rdb_storage_shows_its_engine_and_is_always_upgraded(sqlite_url: str) -> None:
    storage = storages.RDBStorage(sqlite_url)
    with storage.engine.connect() as connection:  # queries of one's own
        assert connection.exec_driver_sql("SELECT count(*) FROM studies").scalar() == 0
    storage.upgrade()  # opening did it already
    assert storage.get_current_version() == storage.get_head_version()
    with pytest.raises(ValueError, match="engine_kwargs=.*pool_size.*no pool settings"):
        storages.RDBStorage("sqlite:///:memory:", engine_kwargs={"pool_size": 5})


def test_rdb_storage_opens_postgresql_urls_with_pipetunes_driver(postgres_url: str) -> None:
    study = pipetune.create_study(storage=storages.RDBStorage(postgres_url))
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    assert len(study.trials) == 2


def test_optunas_journal_idiom_runs(tmp_path: Path) -> None:
    path = str(tmp_path / "journal.log")
    storage = storages.JournalStorage(storages.journal.JournalFileBackend(path))
    study = pipetune.create_study(study_name="j", storage=storage)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    lock = storages.journal.JournalFileOpenLock(path)
    again = storages.JournalStorage(storages.journal.JournalFileBackend(path, lock_obj=lock))
    assert len(pipetune.load_study(study_name="j", storage=again).trials) == 3
    assert storages.get_storage(None).list_studies() == []
    assert isinstance(storages.InMemoryStorage(), storages.BaseStorage)
